import BatonTestSupport
import Foundation
import GitStore
import Testing

/// Clone, fetch and push against a real `git daemon` on 127.0.0.1.
@Suite("GitStore: remotes over git daemon")
struct RemoteTests {
    /// A served bare repository `config.git` with one commit on main.
    static func serve(_ box: Sandbox) async throws -> (GitDaemon, GitCLI, String) {
        let work = try await box.git("work")
        let c1 = try await work.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        try FileManager.default.createDirectory(atPath: box.path + "/served", withIntermediateDirectories: true)
        try await CommandRun.run("/usr/bin/git", ["clone", "-q", "--bare", work.directory, box.path + "/served/config.git"],
                           environment: work.environment).requireSuccess()
        try await work("remote", "add", "served", box.path + "/served/config.git")
        return await (try GitDaemon(basePath: box.path + "/served"), work, c1)
    }

    @Test("clones over git://, from a path and from file://; fetches new commits and prunes deleted branches")
    func cloneAndFetch() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (daemon, work, c1) = try await Self.serve(box)
        defer { daemon.stop() }
        let clone = try await GitStore.clone(from: daemon.url("config.git"), to: box.path + "/cache.git")
        #expect(clone.isBare)
        #expect(try await clone.resolve("origin/main").hex == c1)
        #expect(try await clone.readFile(at: "origin/main", path: "app/cm.yaml") == Array("kind: ConfigMap\n".utf8))

        let local = try await GitStore.clone(from: box.path + "/served/config.git", to: box.path + "/local.git")
        #expect(try await local.resolve("main").hex == c1)
        let viaFile = try await GitStore.clone(from: "file://" + box.path + "/served/config.git", to: box.path + "/file", bare: false)
        #expect(!viaFile.isBare)
        #expect(FileManager.default.fileExists(atPath: box.path + "/file/app/cm.yaml"))

        let c2 = try await work.commit("two", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {}\n"])
        try await work("push", "-q", "served", "main", "main:refs/heads/feature")
        try await clone.fetch()
        #expect(try await clone.resolve("origin/main").hex == c2)
        #expect(try await clone.reference("refs/remotes/origin/feature")?.hex == c2)

        try await work("push", "-q", "served", ":refs/heads/feature")
        try await clone.fetch(prune: true)
        #expect(try await clone.reference("refs/remotes/origin/feature") == nil)

        // An explicit refspec, as a cache that mirrors the remote's branches would use.
        try await clone.fetch(refspecs: ["+refs/heads/*:refs/mirror/*"])
        #expect(try await clone.reference("refs/mirror/main")?.hex == c2)
    }

    @Test("pushes a ref; a non-fast-forward push is rejected as such")
    func push() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (daemon, work, c1) = try await Self.serve(box)
        defer { daemon.stop() }
        let clone = try await GitStore.clone(from: daemon.url("config.git"), to: box.path + "/cache.git")
        let id1 = try #require(ObjectID(hex: c1))
        try await clone.createReference("env/dev", at: id1, reason: "promote")
        try await clone.push(refspecs: ["refs/heads/env/dev:refs/heads/env/dev"])
        let served = GitCLI(directory: box.path + "/served/config.git", home: box.path + "/home")
        await #expect(try served.line("rev-parse", "env/dev") == c1)

        // Someone else moves env/dev on the remote to a commit this clone lacks.
        let other = try await work.commit("other", files: ["x": "1"])
        try await work("push", "-q", "served", "\(other):refs/heads/env/dev")
        let c2 = try await work.commit("two", files: ["y": "1"])
        try await work("push", "-q", "served", "main")
        _ = c2
        let rejected = await expectGitError(.pushRejected) {
            try await clone.push(refspecs: ["refs/heads/env/dev:refs/heads/env/dev"])
        }
        #expect(rejected != nil)
        await #expect(try served.line("rev-parse", "env/dev") == other)
    }

    @Test("a push race on one ref: exactly one wins, the other is rejected")
    func pushRace() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (daemon, work, c1) = try await Self.serve(box)
        defer { daemon.stop() }
        try await work("push", "-q", "served", "\(c1):refs/heads/env/prod")
        // Two clones, each with its own new commit on top of c1.
        var stores: [GitStore] = []
        var tips: [ObjectID] = []
        for name in ["a", "b"] {
            let git = try await box.git(name, initialise: false)
            try await CommandRun.run("/usr/bin/git", ["clone", "-q", daemon.url("config.git"), git.directory], environment: git.environment)
                .requireSuccess()
            let tip = try await git.commit("release from \(name)", files: ["\(name).yaml": "n: 1\n"])
            try await git("branch", "-f", "env/prod", tip)
            stores.append(try await GitStore.open(git.directory))
            tips.append(try #require(ObjectID(hex: tip)))
        }
        let expected = try #require(ObjectID(hex: c1))
        let (a, b) = (stores[0], stores[1])
        async let first: Result<Void, GitStoreError> = Self.attempt { try await a.pushReference("env/prod", expecting: expected) }
        async let second: Result<Void, GitStoreError> = Self.attempt { try await b.pushReference("env/prod", expecting: expected) }
        let results = await [first, second]
        let winners = results.indices.filter { if case .success = results[$0] { true } else { false } }
        #expect(winners.count == 1, "\(results)")
        for case .failure(let error) in results {
            #expect(error.code == .pushRejected, "\(error)")
        }
        let served = GitCLI(directory: box.path + "/served/config.git", home: box.path + "/home")
        let winner = try #require(winners.first)
        await #expect(try served.line("rev-parse", "env/prod") == tips[winner].hex)

        // The loser's compare-and-swap now fails up front: the remote is not at c1 any more.
        let loser = stores[1 - winner]
        let error = await expectGitError(.pushRejected) { try await loser.pushReference("env/prod", expecting: expected) }
        #expect(error?.message == "refs/heads/env/prod on the remote is at \(tips[winner].short()), not \(expected.short()) as expected")
        // With the right expectation it goes through, non-fast-forward included (a rollback).
        try await loser.pushReference("env/prod", expecting: tips[winner])
        await #expect(try served.line("rev-parse", "env/prod") == tips[1 - winner].hex)
    }

    @Test("an unreachable remote is a network error, and credentials never reach the message")
    func network() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let port = try FreePort.next()
        let token = "s3cr3t-token-value"
        let error = await expectGitError(.network) {
            _ = try await GitStore.clone(from: "git://127.0.0.1:\(port)/config.git", to: box.path + "/x",
                                         credentials: .token(token))
        }
        #expect(error?.function == "git_clone")
        #expect(error.map { !$0.description.contains(token) } == true)
        let leaked = await expectGitError(.network) {
            _ = try await GitStore.clone(from: "http://user:\(token)@127.0.0.1:\(port)/config.git", to: box.path + "/y")
        }
        #expect(leaked.map { !$0.description.contains(token) } == true, "\(String(describing: leaked))")
    }

    static func attempt(_ body: () async throws -> Void) async -> Result<Void, GitStoreError> {
        do {
            try await body()
            return .success(())
        } catch let error as GitStoreError {
            return .failure(error)
        } catch {
            return .failure(GitStoreError(.other, "\(error)", function: "test"))
        }
    }
}
