import BatonTestSupport
import Foundation
import GitStore
import Testing

@Suite("GitStore: opening repositories and resolving revisions")
struct OpenAndResolveTests {
    @Test("opens a repository with a work tree and a bare one")
    func opens() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let work = try await box.git("work")
        try await work.commit("first", files: ["a.yaml": "a: 1\n"])
        _ = try await box.git("bare.git", bare: true)
        let store = try await GitStore.open(box.path + "/work")
        #expect(!store.isBare)
        #expect(store.workTree == box.path + "/work/")
        let bare = try await GitStore.open(box.path + "/bare.git")
        #expect(bare.isBare)
        #expect(try await bare.reference("HEAD") == nil)
    }

    @Test("a missing path and a folder that is not a repository are clear errors")
    func badPaths() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        try FileManager.default.createDirectory(atPath: box.path + "/plain", withIntermediateDirectories: true)
        for path in [box.path + "/nope", box.path + "/plain"] {
            do {
                _ = try await GitStore.open(path)
                Issue.record("\(path) opened")
            } catch let error as GitStoreError {
                #expect(error.code == .notFound)
                #expect(error.message == "\(path) is not a git repository (or does not exist)")
                #expect(error.function == "git_repository_open_ext")
            }
        }
    }

    @Test("resolves branches, tags, full and abbreviated ids and HEAD~2 as git does")
    func resolves() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let c1 = try await git.commit("one", files: ["a": "1"])
        try await git("tag", "-a", "v1", "-m", "release one")
        try await git("tag", "light")
        let c2 = try await git.commit("two", files: ["a": "2"])
        let c3 = try await git.commit("three", files: ["a": "3"])
        try await git("branch", "feature", c2)
        let store = try await GitStore.open(git.directory)
        let cases: [(String, String)] = [("main", c3), ("HEAD", c3), ("HEAD~2", c1), ("main^", c2), ("v1", c1),
                                         ("light", c1), ("feature", c2), (c2, c2), (String(c2.prefix(7)), c2),
                                         ("refs/heads/main", c3)]
        for (revision, expected) in cases {
            let id = try await store.resolve(revision)
            #expect(id.hex == expected, "\(revision)")
            await #expect(try git.line("rev-parse", revision + "^{commit}") == id.hex)
        }
    }

    @Test("remote-tracking names resolve in a clone")
    func remoteTracking() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("origin")
        let c1 = try await git.commit("one", files: ["a": "1"])
        let clone = try await GitStore.clone(from: git.directory, to: box.path + "/clone.git")
        #expect(try await clone.resolve("origin/main").hex == c1)
        #expect(try await clone.resolve("main").hex == c1)
    }

    @Test("unknown, ambiguous and non-commit revisions are clear errors")
    func badRevisions() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        // Enough objects that two of them share their first four hex digits.
        var files: [String: String] = [:]
        for i in 0..<600 { files["f\(i).txt"] = "content \(i)\n" }
        try await git.commit("many", files: files)
        let store = try await GitStore.open(git.directory)

        let unknown = await expectGitError(.notFound) { _ = try await store.resolve("no-such-branch") }
        #expect(unknown?.message == "unknown revision \"no-such-branch\"")
        await expectGitError(.invalidInput) { _ = try await store.resolve("") }

        let objects = try await git.run(["rev-list", "--objects", "--all"]).split(separator: "\n").map { String($0.prefix(40)) }
        let prefixes = Dictionary(grouping: objects, by: { String($0.prefix(4)) }).filter { $0.value.count > 1 }
        let shared = try #require(prefixes.keys.sorted().first, "no two of \(objects.count) objects share 4 hex digits")
        do {
            _ = try await store.resolve(shared)
            Issue.record("\(shared) resolved though \(prefixes[shared]!) share it")
        } catch let error as GitStoreError {
            #expect(error.code == .ambiguous)
            #expect(error.message.contains("ambiguous"))
        }

        let blob = try await git.line("rev-parse", "HEAD:f1.txt")
        await expectGitError(.invalidInput) { _ = try await store.resolve(blob) }
    }

    @Test("an empty repository has an unborn HEAD")
    func unborn() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let store = try await GitStore.create(at: box.path + "/empty", bare: false)
        do {
            _ = try await store.resolve("HEAD")
            Issue.record("HEAD resolved in an empty repository")
        } catch let error as GitStoreError {
            #expect(error.code == .unbornBranch)
        }
        #expect(try await store.reference("HEAD") == nil)
        await expectGitError(.unbornBranch) { _ = try await store.files(at: "HEAD") }
        // git agrees that the repository is empty and HEAD names main.
        let git = GitCLI(directory: box.path + "/empty", home: box.path + "/home")
        await #expect(try git.line("symbolic-ref", "HEAD") == "refs/heads/main")
        // Cloning an empty repository works and gives an empty clone.
        let clone = try await GitStore.clone(from: box.path + "/empty", to: box.path + "/clone.git")
        #expect(try await clone.reference("HEAD") == nil)
    }
}

@Suite("GitStore: isolation from the machine's git configuration")
struct IsolationTests {
    @Test("libgit2 looks for no global, XDG, system or program-data configuration")
    func searchPathsEmpty() {
        #expect(LibGit2.configSearchPaths() == ["", "", "", ""])
    }

    @Test("a URL rewrite in the system configuration does not apply to GitStore")
    func systemRewriteIgnored() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let origin = try await box.git("origin")
        let c1 = try await origin.commit("one", files: ["a": "1"])
        // git itself, told to read a system config that rewrites a fake host to the origin, clones it.
        // The rewritten URL points at a loopback port where nothing listens.
        let url = "git://127.0.0.1:\(try FreePort.next())/config"
        let config = box.path + "/system-gitconfig"
        try Data("[url \"\(origin.directory)\"]\n\tinsteadOf = \(url)\n".utf8)
            .write(to: URL(fileURLWithPath: config))
        var env = origin.environment
        env["GIT_CONFIG_NOSYSTEM"] = nil
        env["GIT_CONFIG_SYSTEM"] = config
        let viaGit = try await CommandRun.run("/usr/bin/git", ["clone", "-q", url, box.path + "/by-git"],
                                        environment: env, replacingEnvironment: true)
        #expect(viaGit.status == 0, "\(viaGit.stderr)")
        // GitStore never reads it, so it tries the URL as written and finds nothing there.
        await expectGitError(.network) {
            _ = try await GitStore.clone(from: url, to: box.path + "/by-store")
        }
        #expect(try await GitStore.open(box.path + "/by-git").resolve("origin/main").hex == c1)
    }
}
