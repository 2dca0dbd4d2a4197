import Foundation
import Spawn

/// Runs a program to its end and keeps what it printed: for tests that drive the real
/// `baton` binary, `git` or `kubectl`.
public struct CommandRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Runs `executable` with `arguments` in `directory` and awaits its end without blocking a
    /// thread of Swift's cooperative pool: it has one thread per core (two on CI), and a test
    /// blocked on a child holds one, so every other test's timers and in-process servers wait
    /// (sampled with gdb: most of the time both threads sat in `git` run synchronously).
    /// `environment` is added to this process's environment, or with `replacingEnvironment`
    /// is the child's whole environment.
    public static func run(_ executable: String, _ arguments: [String], in directory: String? = nil,
                                environment: [String: String] = [:], replacingEnvironment: Bool = false) async throws -> CommandRun {
        let child = try Child(executable, arguments, in: directory, environment: environment, replacingEnvironment: replacingEnvironment)
        defer { child.removeFiles() }
        // posix_spawn through Spawn, not Foundation's Process: its run() crashes now and then
        // on Linux with Swift 6.3.1 (seen twice in full runs of this suite).
        let termination = await child.process.wait()
        return try child.result(termination.status)
    }

    /// Itself, when the program exited 0; else an error with its status and standard error.
    @discardableResult
    public func requireSuccess() throws -> CommandRun {
        guard status == 0 else { throw CommandFailed(status: status, stderr: stderr) }
        return self
    }

    /// The `baton` binary that `swift build` put beside the test bundle.
    public static var batonPath: String {
        let dir = Bundle.main.executableURL?.deletingLastPathComponent().path ?? "."
        for candidate in [dir + "/baton", dir + "/../baton"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return dir + "/baton"
    }

    /// Runs the built `baton` with `arguments`.
    public static func baton(_ arguments: [String], in directory: String? = nil,
                             environment: [String: String] = [:]) async throws -> CommandRun {
        try await run(batonPath, arguments, in: directory, environment: environment)
    }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var status: Int32
    public var stderr: String
    public var description: String { "exited \(status): \(stderr)" }
}

/// A process started with its output going to files.
private struct Child {
    let process: ChildProcess
    let out: OutputFile
    let err: OutputFile

    init(_ executable: String, _ arguments: [String], in directory: String?, environment: [String: String],
         replacingEnvironment: Bool) throws {
        var env = replacingEnvironment ? [:] : ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        // Files, not pipes: a child that writes a lot cannot block on a full pipe.
        out = try OutputFile()
        err = try OutputFile()
        do {
            process = try ChildProcess(executable, arguments, environment: env, directory: directory, standardInput: .null,
                                       standardOutput: .file(out.path, append: false), standardError: .file(err.path, append: false))
        } catch {
            out.remove()
            err.remove()
            throw error
        }
    }

    func result(_ status: Int32) throws -> CommandRun {
        CommandRun(status: status, stdout: try out.read(), stderr: try err.read())
    }

    func removeFiles() {
        out.remove()
        err.remove()
    }
}

private struct OutputFile {
    let path: String

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        path = base + "/baton-output-" + UUID().uuidString
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    func read() throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
