import Foundation
import Synchronization

/// A program started with `posix_spawn` and awaited by a thread of its own, instead of
/// Foundation's `Process`: on Linux, Swift 6.3.1's `Process.run()` reads `/proc/self/fd` with
/// a 256-byte copy of each directory entry and crashes now and then when an entry ends a page
/// (swift-corelibs-foundation PR 5472, merged after 6.3.1; seen here twice in full test runs,
/// `memcpy` inside `Process.run`).
///
/// The child gets the streams asked for and no other descriptor of this process (they are
/// closed, as `Process` does), an empty signal mask and the default action for the usual
/// signals (a parent that ignores SIGPIPE or SIGTERM, as servers do, does not pass that on),
/// and, unless told otherwise, a process group of its own (as `Process` gives it).
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// This process's own.
        case inherit
        /// A descriptor of this process (duplicated into place; the caller still owns and
        /// closes its own).
        case descriptor(Int32)
        /// A file: read for standard input; for output, created if missing, then truncated or
        /// appended to.
        case file(String, append: Bool)
    }

    /// How the child ended.
    public enum Termination: Sendable, Hashable {
        case exited(Int32)
        case signalled(Int32)

        /// What Foundation's `terminationStatus` says: the exit code, or the signal's number.
        public var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): signal
            }
        }
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public var executable: String
        public var code: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(code)))" }
    }

    public let pid: pid_t
    private let state = Mutex<State>(State())
    private let ended = NSCondition()

    private struct State: Sendable {
        var termination: Termination?
        var waiters: [CheckedContinuation<Termination, Never>] = []
    }

    /// Starts `executable` (a path) with `arguments`. `environment` nil: this process's.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                standardInput: Stream = .null, standardOutput: Stream = .inherit, standardError: Stream = .inherit,
                ownProcessGroup: Bool = true) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (stream, target) in [(standardInput, Int32(0)), (standardOutput, 1), (standardError, 2)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .inherit:
                break
            case .descriptor(let descriptor):
                posix_spawn_file_actions_adddup2(&actions, descriptor, target)
            case .file(let path, let append):
                let flags = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                posix_spawn_file_actions_addopen(&actions, target, path, flags, 0o644)
            }
        }
        if let directory {
            guard let addChdir = Self.addChdir else { throw SpawnError(executable: executable, code: ENOSYS) }
            let code = addChdir(&actions, directory)
            guard code == 0 else { throw SpawnError(executable: executable, code: code) }
        }
        // Every other descriptor of this process stays out of the child (a pipe's write end
        // leaked into another child would keep its reader from ever seeing the end).
        if let closeFrom = Self.addCloseFrom {
            _ = closeFrom(&actions, 3)
        } else {
            for descriptor in Self.openDescriptors() where descriptor > 2 { posix_spawn_file_actions_addclose(&actions, descriptor) }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        if ownProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }
        var pid: pid_t = 0
        let code = argv.withUnsafeBufferPointer { arguments in
            if let envp {
                return envp.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, &attributes, arguments.baseAddress!, $0.baseAddress!) }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, arguments.baseAddress!, environ)
        }
        guard code == 0 else { throw SpawnError(executable: executable, code: code) }
        self.pid = pid
        // The reaper: waits for this child alone (never for any child, which would take
        // another owner's) and hands the end to whoever waits.
        let thread = Thread { [self] in reap() }
        thread.name = "baton-child-\(pid)"
        thread.start()
    }

    private func reap() {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        // WIFEXITED/WEXITSTATUS/WTERMSIG are macros: spelled out.
        let termination: Termination = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        let waiters = state.withLock { state in
            state.termination = termination
            defer { state.waiters = [] }
            return state.waiters
        }
        ended.lock()
        ended.broadcast()
        ended.unlock()
        for waiter in waiters { waiter.resume(returning: termination) }
    }

    /// How it ended; nil while it runs.
    public var termination: Termination? { state.withLock { $0.termination } }

    public var isRunning: Bool { termination == nil }

    /// Its end, awaited without holding a thread.
    public func wait() async -> Termination {
        await withCheckedContinuation { continuation in
            let done: Termination? = state.withLock { state in
                if let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Its end, blocking this thread (for code that is not async).
    public func waitBlocking() -> Termination {
        ended.lock()
        defer { ended.unlock() }
        while true {
            if let termination { return termination }
            ended.wait()
        }
    }

    /// Sends `signal` while it runs (never to a pid that may since belong to another process).
    public func signal(_ signal: Int32) {
        state.withLock { state in
            if state.termination == nil { kill(pid, signal) }
        }
    }

    // MARK: glibc extensions, found by name (not in Swift's Glibc module)

    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    private static let addChdir: AddChdir? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }
    private static let addCloseFrom: AddCloseFrom? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// This process's open descriptors (for a glibc older than 2.34), each name read up to its
    /// end: never as a whole 256-byte `d_name`, the very over-read this type avoids.
    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return Array(3..<1024) }
        defer { closedir(directory) }
        var found: [Int32] = []
        while let entry = readdir(directory) {
            guard let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) else { continue }
            let name = String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
            if let descriptor = Int32(name) { found.append(descriptor) }
        }
        return found
    }
}
