import Foundation

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
        // The end is awaited only once run() has returned: a child that ends at once may run
        // its termination handler while run() is still at work, and resuming the caller from
        // there let it close the output files under run() (a crash in Process.run, seen once
        // in a full run).
        let (ended, ending) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))
        child.process.terminationHandler = { process in
            ending.yield(process.terminationStatus)
            ending.finish()
        }
        do {
            try child.process.run()
        } catch {
            child.process.terminationHandler = nil
            throw error
        }
        var status: Int32 = -1
        for await value in ended { status = value }
        return try child.result(status)
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

/// A process set up to run with its output going to files.
private struct Child {
    let process = Process()
    let out: OutputFile
    let err: OutputFile

    init(_ executable: String, _ arguments: [String], in directory: String?, environment: [String: String],
         replacingEnvironment: Bool) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = replacingEnvironment ? [:] : ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        // Files, not pipes: a child that writes a lot cannot block on a full pipe.
        out = try OutputFile()
        err = try OutputFile()
        process.standardOutput = out.handle
        process.standardError = err.handle
        process.standardInput = FileHandle.nullDevice
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
    let handle: FileHandle

    init() throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        path = base + "/baton-output-" + UUID().uuidString
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    func read() throws -> String {
        try handle.close()
        return String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
