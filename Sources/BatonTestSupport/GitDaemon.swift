import Foundation

/// `git daemon` serving the repositories under `basePath` on 127.0.0.1 at a port the OS
/// handed out, with pushes enabled. `stop()` ends it (call it in a `defer`).
public final class GitDaemon: @unchecked Sendable {
    public let port: Int
    public let basePath: String
    private let process: Process

    public init(basePath: String) throws {
        self.basePath = basePath
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try FreePort.next()
            let process = Process()
            // git-daemon itself, not the `git` wrapper: the wrapper does not pass SIGTERM on.
            process.executableURL = URL(fileURLWithPath: Self.execPath + "/git-daemon")
            process.arguments = ["--reuseaddr", "--listen=127.0.0.1", "--port=\(port)", "--base-path=\(basePath)",
                                 "--export-all", "--enable=receive-pack", "--informative-errors", basePath]
            process.environment = ["HOME": basePath, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                                   "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if FreePort.waitUntilListening(port, timeout: 10) {
                self.port = port
                self.process = process
                return
            }
            kill(process.processIdentifier, SIGKILL)
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
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(5_000) }
    }

    /// Where git keeps its helper programs (`git --exec-path`).
    static let execPath: String = {
        (try? CommandRun.run("/usr/bin/git", ["--exec-path"]))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? "/usr/lib/git-core"
    }()

    deinit { stop() }
}
