import BatonTestSupport
import Foundation
import Spawn
import Testing

/// Child processes started with posix_spawn (Spawn), as kustomize, git's credential helpers
/// and the tests' servers are.
@Suite("Spawn: child processes")
struct ChildProcessTests {
    @Test("exit codes and signals, the environment given, the folder given, output to a file, input from /dev/null")
    func basics() async throws {
        let dir = try TemporaryDirectory("spawn")
        defer { dir.remove() }
        let out = dir.path + "/out"
        let child = try ChildProcess("/bin/sh", ["-c", "pwd; echo \"$ONLY\" \"${HOME:-no home}\"; cat; exit 3"], environment: ["ONLY": "given"],
                                     directory: dir.path, standardInput: .null, standardOutput: .file(out, append: false), standardError: .null)
        #expect(await child.wait() == .exited(3))
        #expect(!child.isRunning)
        let printed = try String(contentsOfFile: out, encoding: .utf8)
        let real = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
        #expect(printed == "\(real)\ngiven no home\n")

        let again = try ChildProcess("/bin/sh", ["-c", "echo more"], standardOutput: .file(out, append: true))
        #expect(again.waitBlocking() == .exited(0))
        #expect(try String(contentsOfFile: out, encoding: .utf8).hasSuffix("given no home\nmore\n"))
    }

    @Test("a child starts with no signal blocked or ignored, even from a thread that blocks SIGTERM: SIGTERM ends it")
    func signals() async throws {
        // Started from a Dispatch worker that blocks SIGTERM: Foundation's Process passed such
        // a thread's blocked signals on (and this process's ignored ones, SIGPIPE among them
        // once NIO runs), so a server child never heard SIGTERM.
        let sleeper = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var blocked = sigset_t(), previous = sigset_t()
                sigemptyset(&blocked)
                sigaddset(&blocked, SIGTERM)
                pthread_sigmask(SIG_BLOCK, &blocked, &previous)
                continuation.resume(with: Result { try ChildProcess("/bin/sleep", ["30"], standardOutput: .null, standardError: .null) })
                pthread_sigmask(SIG_SETMASK, &previous, nil)
            }
        }
        // What the kernel says of the child: no signal blocked, none ignored. (This process's
        // own dispositions are left alone: changing SIGPIPE here once undid NIO's and a later
        // write to a closed socket killed the whole test run.)
        let status = try String(contentsOfFile: "/proc/\(sleeper.pid)/status", encoding: .utf8)
        func mask(_ field: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(field + ":") }.flatMap { UInt64($0.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces), radix: 16) }
        }
        let bit = { (signal: Int32) -> UInt64 in 1 << UInt64(signal - 1) }
        #expect(mask("SigBlk") == 0, "\(status)")
        #expect(mask("SigIgn").map { $0 & (bit(SIGPIPE) | bit(SIGTERM) | bit(SIGINT)) } == 0, "\(status)")
        let started = ContinuousClock.now
        sleeper.signal(SIGTERM)
        #expect(await sleeper.wait() == .signalled(SIGTERM))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test("the child gets its three standard streams and no other descriptor of this process")
    func noLeakedDescriptors() async throws {
        let dir = try TemporaryDirectory("spawn-fds")
        defer { dir.remove() }
        // Descriptors without close-on-exec, as a pipe made for another child's output has.
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]); close(fds[1]) }
        let child = try ChildProcess("/bin/ls", ["/proc/self/fd"], standardOutput: .file(dir.path + "/out", append: false))
        #expect(await child.wait() == .exited(0))
        let listed = Set(try String(contentsOfFile: dir.path + "/out", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) })
        // 0-2, and the one ls opened to read the folder.
        #expect(listed.isSubset(of: [0, 1, 2, 3]), "the child had \(listed.sorted())")
    }

    @Test("fifty children at once, each awaited; a program that does not exist is an error naming it")
    func many() async throws {
        let results = try await withThrowingTaskGroup(of: ChildProcess.Termination.self) { group in
            for index in 0..<50 {
                group.addTask { await (try ChildProcess("/bin/sh", ["-c", "exit \(index % 7)"])).wait() }
            }
            var all: [ChildProcess.Termination] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 50)
        #expect(results.filter { $0 == .exited(0) }.count == 8)
        #expect(Set(results) == Set((0..<7).map { ChildProcess.Termination.exited(Int32($0)) }))
        do {
            _ = try ChildProcess("/nonexistent/tool", [])
            Issue.record("a missing program started")
        } catch {
            #expect("\(error)".contains("/nonexistent/tool"))
        }
    }
}
