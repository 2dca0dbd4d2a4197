import Foundation
import Spawn

/// `git daemon` serving the repositories under `basePath` on 127.0.0.1 at a port the OS
/// handed out, with pushes enabled. `stop()` ends it (call it in a `defer`).
public final class GitDaemon: @unchecked Sendable {
    public let port: Int
    public let basePath: String
    private let process: ChildProcess

    public init(basePath: String) async throws {
        self.basePath = basePath
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try FreePort.next()
            // git-daemon itself, not the `git` wrapper: the wrapper does not pass SIGTERM on.
            let process = try ChildProcess(Self.execPath + "/git-daemon",
                                           ["--reuseaddr", "--listen=127.0.0.1", "--port=\(port)", "--base-path=\(basePath)",
                                            "--export-all", "--enable=receive-pack", "--informative-errors", basePath],
                                           environment: ["HOME": basePath, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                                                         "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                                           standardOutput: .null, standardError: .null)
            if await FreePort.waitUntilListening(port, timeout: .seconds(10)) {
                self.port = port
                self.process = process
                return
            }
            process.signal(SIGKILL)
            lastError = GitCLIError(arguments: ["daemon"], status: -1, stderr: "git daemon did not listen on \(port)")
        }
        throw lastError!
    }

    /// `git://127.0.0.1:PORT/NAME`.
    public func url(_ name: String) -> String { "git://127.0.0.1:\(port)/\(name)" }

    public func stop() {
        guard process.isRunning else { return }
        // git-daemon does not stop on SIGTERM while it has served connections; it keeps no
        // state worth a clean shutdown.
        process.signal(SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(5_000) }
    }

    /// Where git keeps its helper programs (`git --exec-path`).
    static let execPath: String = {
        // Once per process and quick: run here, synchronously.
        let output = Pipe()
        guard let process = try? ChildProcess("/usr/bin/git", ["--exec-path"], standardOutput: .descriptor(output.fileHandleForWriting.fileDescriptor),
                                              standardError: .null) else { return "/usr/lib/git-core" }
        try? output.fileHandleForWriting.close()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return process.waitBlocking() == .exited(0) && !path.isEmpty ? path : "/usr/lib/git-core"
    }()

    deinit { stop() }
}
