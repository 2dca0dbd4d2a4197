import BatonTestSupport
import Foundation
import GitStore
import Testing

@Suite("GitStore: history and refs")
struct HistoryAndRefTests {
    @Test("lists the commits between two revisions as git rev-list does, first-parent optional")
    func log() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        var git = try await box.git("repo")
        let c1 = try await git.commit("one", files: ["a.yaml": "a: 1\n"])
        git.author = (name: "Alice", email: "alice@example.com")
        try await git("checkout", "-q", "-b", "feature")
        let f1 = try await git.commit("feature work\n\nwith a body", files: ["f.yaml": "f: 1\n"])
        try await git("checkout", "-q", "main")
        git.author = (name: "Bob", email: "bob@example.com")
        let c2 = try await git.commit("two", files: ["b.yaml": "b: 1\n"])
        try await git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
        let merge = try await git.line("rev-parse", "HEAD")
        let store = try await GitStore.open(git.directory)

        let all = try await store.log(from: c1, to: "main")
        #expect(Set(all.map(\.id.hex)) == Set(try await git.run(["rev-list", "\(c1)..main"]).split(separator: "\n").map(String.init)))
        #expect(all.first?.id.hex == merge)
        #expect(all.count == 3)
        let firstParent = try await store.log(from: c1, to: "main", firstParent: true)
        #expect(firstParent.map(\.id.hex) == [merge, c2])
        await #expect(try git.run(["rev-list", "--first-parent", "\(c1)..main"]).split(separator: "\n").map(String.init) == [merge, c2])

        let feature = try #require(all.first { $0.id.hex == f1 })
        #expect(feature.author.name == "Alice")
        #expect(feature.author.email == "alice@example.com")
        #expect(feature.committer.email == "committer@example.com")
        #expect(feature.summary == "feature work")
        #expect(feature.parents.map(\.hex) == [c1])
        #expect(abs(feature.author.time.timeIntervalSinceNow) < 600)
        #expect(all.first?.parents.count == 2)
        #expect(try await store.log(from: nil, to: c1).map(\.id.hex) == [c1])
        #expect(try await store.log(from: "main", to: "main").isEmpty)
    }

    @Test("lists changed paths as git diff --name-status -M does")
    func changedPaths() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let long = (0..<40).map { "line \($0) of a file that will move\n" }.joined()
        let c1 = try await git.commit("one", files: ["keep.yaml": "k: 1\n", "edit.yaml": "e: 1\n", "gone.yaml": "g: 1\n", "old/name.yaml": long])
        try await git("rm", "-q", "gone.yaml")
        try FileManager.default.createDirectory(atPath: git.directory + "/new", withIntermediateDirectories: true)
        try await git("mv", "old/name.yaml", "new/name.yaml")
        let c2 = try await git.commit("two", files: ["edit.yaml": "e: 2\n", "added.yaml": "a: 1\n"])
        let store = try await GitStore.open(git.directory)
        let changes = try await store.changedPaths(from: c1, to: c2)
        #expect(Set(changes) == [
            PathChange(kind: .added, path: "added.yaml"),
            PathChange(kind: .modified, path: "edit.yaml"),
            PathChange(kind: .deleted, path: "gone.yaml"),
            PathChange(kind: .renamed, path: "new/name.yaml", oldPath: "old/name.yaml"),
        ])
        let viaGit = try await git.run(["diff", "--name-status", "-M", c1, c2]).split(separator: "\n").map { $0.split(separator: "\t").last.map(String.init) ?? "" }
        #expect(Set(viaGit) == Set(changes.map(\.path)))
        let root = try await store.changedPaths(from: nil, to: c1)
        #expect(Set(root.map(\.path)) == ["keep.yaml", "edit.yaml", "gone.yaml", "old/name.yaml"])
        #expect(root.allSatisfy { $0.kind == .added })
    }

    @Test("creates, compare-and-swaps and force-moves refs; git sees each move and its reason")
    func refs() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let work = try await box.git("work")
        let c1 = try await work.commit("one", files: ["a": "1"])
        let c2 = try await work.commit("two", files: ["a": "2"])
        try await work("checkout", "-q", "-b", "side", c1)
        let side = try await work.commit("side", files: ["s": "1"])
        // A bare repository, as a served config repository is.
        try await CommandRun.run("/usr/bin/git", ["clone", "-q", "--bare", work.directory, box.path + "/config.git"], environment: work.environment)
            .requireSuccess()
        let bareGit = GitCLI(directory: box.path + "/config.git", home: box.path + "/home")
        let store = try await GitStore.open(box.path + "/config.git")
        try await store.setIdentity(name: "Baton Bot", email: "bot@example.com")
        let id1 = try #require(ObjectID(hex: c1)), id2 = try #require(ObjectID(hex: c2)), sideID = try #require(ObjectID(hex: side))

        try await store.createReference("env/dev", at: id1, reason: "promote \(c1.prefix(8)) to dev")
        await #expect(try bareGit.line("rev-parse", "env/dev") == c1)
        await expectGitError(.exists) { try await store.createReference("env/dev", at: id2, reason: "again") }

        try await store.updateReference("env/dev", to: id2, expecting: id1, fastForwardOnly: true, reason: "promote two")
        #expect(try await store.reference("env/dev") == id2)
        await #expect(try bareGit.line("rev-parse", "refs/heads/env/dev") == c2)

        // The ref moved since the caller looked: nothing changes.
        let moved = await expectGitError(.refMoved) {
            try await store.updateReference("env/dev", to: sideID, expecting: id1, reason: "stale")
        }
        #expect(moved?.message == "refs/heads/env/dev moved: expected \(c1.prefix(8)), found \(c2.prefix(8))")
        #expect(try await store.reference("env/dev") == id2)
        // A non-fast-forward is refused when asked for fast-forward only.
        await expectGitError(.notFastForward) {
            try await store.updateReference("env/dev", to: sideID, expecting: id2, fastForwardOnly: true, reason: "sideways")
        }
        #expect(try await store.reference("env/dev") == id2)
        await expectGitError(.refMoved) {
            try await store.updateReference("env/none", to: id2, expecting: id1, reason: "never created")
        }

        try await store.forceReference("env/dev", to: id1, reason: "rollback to one: bad release")
        await #expect(try bareGit.line("rev-parse", "env/dev") == c1)
        let reflog = try await store.reflog("env/dev")
        #expect(reflog.map(\.message) == ["rollback to one: bad release", "promote two", "promote \(c1.prefix(8)) to dev"])
        #expect(reflog.first?.committer.email == "bot@example.com")
        #expect(reflog.first?.old == id2)
        let viaGit = try await bareGit.run(["reflog", "show", "--format=%gs", "refs/heads/env/dev"])
        #expect(viaGit.split(separator: "\n").map(String.init) == reflog.map(\.message))

        await expectGitError(.invalidInput) { try await store.createReference("bad..name", at: id1, reason: "x") }
        await expectGitError(.notFound) {
            try await store.createReference("env/x", at: ObjectID(hex: String(repeating: "ab", count: 20))!, reason: "x")
        }
    }

    @Test("a ref lock left by a killed process is cleared once stale; a fresh one (a live writer's) is respected")
    func staleRefLock() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let c1 = try await git.commit("one", files: ["a": "1"])
        let c2 = try await git.commit("two", files: ["a": "2"])
        let store = try await GitStore.open(git.directory)
        let id1 = try #require(ObjectID(hex: c1)), id2 = try #require(ObjectID(hex: c2))
        try await store.createReference("env/staging", at: id1, reason: "first")
        let lock = git.directory + "/.git/refs/heads/env/staging.lock"
        // A writer holding the lock now: the move fails and the lock stays.
        try Data("\(c1)\n".utf8).write(to: URL(fileURLWithPath: lock))
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: lock)  // however slow the run
        do {
            try await store.updateReference("env/staging", to: id2, expecting: id1, reason: "blocked")
            Issue.record("a move went through a live lock")
        } catch {}
        #expect(FileManager.default.fileExists(atPath: lock))
        // The same lock a minute old: its holder is gone; the move clears it and goes through.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: lock)
        try await store.updateReference("env/staging", to: id2, expecting: id1, reason: "after a crash")
        await #expect(try git.line("rev-parse", "env/staging") == c2)
        #expect(!FileManager.default.fileExists(atPath: lock))
    }

    @Test("tells ancestors for fast-forward checks as git merge-base --is-ancestor does")
    func ancestry() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let c1 = try await git.commit("one")
        let c2 = try await git.commit("two")
        try await git("checkout", "-q", "-b", "side", c1)
        let side = try await git.commit("side")
        let store = try await GitStore.open(git.directory)
        for (a, b) in [(c1, c2), (c2, c1), (c1, c1), (side, c2), (c1, side)] {
            let ours = try await store.isAncestor(a, of: b)
            let theirs = try await CommandRun.run("/usr/bin/git", ["-C", git.directory, "merge-base", "--is-ancestor", a, b],
                                            environment: git.environment).status == 0
            #expect(ours == theirs, "\(a.prefix(6)) → \(b.prefix(6))")
        }
    }

    @Test("one store serves many concurrent tasks")
    func concurrency() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        var files: [String: String] = [:]
        for i in 0..<50 { files["f\(i).yaml"] = "i: \(i)\n" }
        let head = try await git.commit("files", files: files)
        let store = try await GitStore.open(git.directory)
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<200 {
                group.addTask { (i, String(decoding: try await store.readFile(at: head, path: "f\(i % 50).yaml"), as: UTF8.self)) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.value == "i: \($0.key % 50)\n" })
    }
}
