import BatonTestSupport
import Foundation
import GitStore
import Testing

@Suite("GitStore: reading trees without a checkout")
struct TreeTests {
    /// A repository like a config repo, plus the awkward cases: 1,000 YAML files in nested
    /// folders, a binary file, a symlink, names with spaces and non-ASCII letters, a submodule.
    static func makeRepository(_ box: Sandbox) async throws -> (GitCLI, String) {
        let git = try await box.git("repo")
        var files: [String: String] = [:]
        for i in 0..<1_000 {
            files["apps/app\(i % 10)/overlays/env\(i % 7)/object-\(i).yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-\(i)\ndata:\n  index: \"\(i)\"\n"
        }
        files["docs/read me.md"] = "spaces\n"
        files["docs/ünïcødé-名前.yaml"] = "name: unicode\n"
        for (path, text) in files {
            let url = URL(fileURLWithPath: git.directory + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        try FileManager.default.createDirectory(atPath: git.directory + "/bin", withIntermediateDirectories: true)
        try Data((0...255).map { UInt8($0) } + [0, 0, 255]).write(to: URL(fileURLWithPath: git.directory + "/bin/blob.dat"))
        try FileManager.default.createSymbolicLink(atPath: git.directory + "/docs/link.yaml", withDestinationPath: "../apps/app1/overlays/env1/object-1.yaml")
        try FileManager.default.createDirectory(atPath: git.directory + "/tools", withIntermediateDirectories: true)
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: git.directory + "/tools/run.sh"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: git.directory + "/tools/run.sh")
        try await git("add", "-A")
        // A submodule entry (a gitlink) pointing at some commit of another repository.
        try await git("update-index", "--add", "--cacheinfo", "160000,0123456789abcdef0123456789abcdef01234567,vendor/lib")
        try await git("commit", "-q", "-m", "everything")
        return await (git, try git.line("rev-parse", "HEAD"))
    }

    @Test("lists what git ls-tree lists, with modes, symlinks and submodules as such")
    func listsLikeGit() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (git, head) = try await Self.makeRepository(box)
        let store = try await GitStore.open(git.directory)
        let entries = try await store.files(at: head)
        // git ls-tree -r -z: "MODE TYPE ID\tPATH\0"
        let listing = try await git.run(["ls-tree", "-r", "-z", head]).split(separator: "\0").map { record -> (String, String, String) in
            let parts = record.split(separator: "\t", maxSplits: 1)
            let meta = parts[0].split(separator: " ")
            return (String(meta[0]), String(meta[2]), String(parts[1]))
        }
        #expect(entries.count == 1_006)
        #expect(entries.map(\.path) == listing.map(\.2))
        #expect(entries.map { String($0.mode, radix: 8) } == listing.map { String($0.0.drop { $0 == "0" }) })
        #expect(entries.map(\.id.hex) == listing.map(\.1))

        let link = try #require(entries.first { $0.path == "docs/link.yaml" })
        #expect(link.kind == .symlink)
        #expect(link.symlinkTarget == "../apps/app1/overlays/env1/object-1.yaml")
        #expect(entries.first { $0.path == "vendor/lib" }?.kind == .submodule)
        #expect(entries.first { $0.path == "tools/run.sh" }?.kind == .executable)
        #expect(entries.contains { $0.path == "docs/ünïcødé-名前.yaml" && $0.kind == .file })
        #expect(entries.contains { $0.path == "docs/read me.md" })

        let sub = try await store.files(at: head, under: "apps/app3/overlays/env2")
        #expect(sub.map(\.path) == entries.map(\.path).filter { $0.hasPrefix("apps/app3/overlays/env2/") })
        #expect(!sub.isEmpty)
        let one = try await store.files(at: head, under: "docs/read me.md")
        #expect(one.map(\.path) == ["docs/read me.md"])
    }

    @Test("reads a blob's exact bytes, binary included, as git cat-file does")
    func readsBytes() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (git, head) = try await Self.makeRepository(box)
        let store = try await GitStore.open(git.directory)
        for path in ["bin/blob.dat", "docs/ünïcødé-名前.yaml", "apps/app0/overlays/env0/object-0.yaml"] {
            let bytes = try await store.readFile(at: head, path: path)
            let viaGit = try await CommandRun.run("/bin/sh", ["-c", "git cat-file blob \(head):'\(path)' | od -An -tx1 -v"],
                                            in: git.directory, environment: git.environment)
            let ours = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            #expect(ours == viaGit.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init), "\(path)")
        }
        #expect(try await store.readFile(at: head, path: "bin/blob.dat").count == 259)

        let all = try await store.readFiles(at: head, under: "apps") { $0.path.hasSuffix(".yaml") }
        #expect(all.count == 1_000)
        let file287 = try #require(all.first { $0.entry.path == "apps/app7/overlays/env0/object-287.yaml" })
        #expect(String(decoding: file287.bytes, as: UTF8.self).contains("name: cm-287\n"))

        let missing = await expectGitError(.notFound) { _ = try await store.readFile(at: head, path: "nope.yaml") }
        #expect(missing?.message == "nope.yaml does not exist at \(head.prefix(8))")
        await expectGitError(.invalidInput) { _ = try await store.readFile(at: head, path: "apps") }
        await expectGitError(.notFound) { _ = try await store.files(at: head, under: "no/such/folder") }
    }

    @Test("materialised trees are evicted: the eight used most lately stay, older ones and stale staging folders go after ten minutes unused")
    func evictsOldTrees() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("small")
        let store = try await GitStore.open(git.directory)
        let cache = box.path + "/cache"
        let fm = FileManager.default
        var trees: [String] = []
        for index in 0..<12 {
            let commit = try await git.commit("c\(index)", files: ["app/cm.yaml": "index: \(index)\n"])
            trees.append(try await store.materialize(commit, into: cache))
        }
        try fm.createDirectory(atPath: cache + "/.tmp-crashed", withIntermediateDirectories: true)
        // All but the last two unused for 20 minutes, the first of them used 15 minutes ago.
        let old = Date().addingTimeInterval(-1200)
        for (index, tree) in trees.enumerated() where index < 10 {
            try fm.setAttributes([.modificationDate: old.addingTimeInterval(Double(index))], ofItemAtPath: tree)
        }
        try fm.setAttributes([.modificationDate: old], ofItemAtPath: cache + "/.tmp-crashed")
        try fm.setAttributes([.modificationDate: Date().addingTimeInterval(-900)], ofItemAtPath: trees[0])
        let newest = try await store.materialize(try git.commit("c12", files: ["app/cm.yaml": "index: 12\n"]), into: cache)
        let left = Set(try fm.contentsOfDirectory(atPath: cache).map { cache + "/" + $0 })
        // The new tree, the two recent ones, then the most lately used of the rest up to eight.
        #expect(left == Set([newest, trees[11], trees[10], trees[0], trees[9], trees[8], trees[7], trees[6]]), "\(left.sorted())")
        // A tree used again is marked, and it is still whole.
        #expect(try await store.materialize(try git.run(["rev-parse", "HEAD~6"]).trimmingCharacters(in: .whitespacesAndNewlines), into: cache)
            == trees[6])
        #expect(fm.fileExists(atPath: trees[6] + "/app/cm.yaml"))
    }

    @Test("materialises a subtree once per commit, keeping in-tree symlinks")
    func materialises() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let (git, head) = try await Self.makeRepository(box)
        let store = try await GitStore.open(git.directory)
        let cache = box.path + "/cache"
        let whole = try await store.materialize(head, into: cache)
        #expect(whole == cache + "/" + head)
        let fm = FileManager.default
        #expect(try fm.destinationOfSymbolicLink(atPath: whole + "/docs/link.yaml") == "../apps/app1/overlays/env1/object-1.yaml")
        #expect(try String(contentsOfFile: whole + "/docs/link.yaml", encoding: .utf8).contains("name: cm-1\n"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: whole + "/bin/blob.dat")).count == 259)
        #expect(fm.isExecutableFile(atPath: whole + "/tools/run.sh"))
        var isFolder: ObjCBool = false
        #expect(fm.fileExists(atPath: whole + "/vendor/lib", isDirectory: &isFolder) && isFolder.boolValue)
        // Same content as git archive extracts.
        let archive = box.path + "/archive"
        try fm.createDirectory(atPath: archive, withIntermediateDirectories: true)
        let extracted = try await CommandRun.run("/bin/sh", ["-c", "git archive \(head) | tar -x -C '\(archive)' && diff -r --no-dereference '\(archive)' '\(whole)'"],
                                           in: git.directory, environment: git.environment)
        #expect(extracted.status == 0, "\(extracted.stdout)\(extracted.stderr)")

        // A second request reuses the folder: nothing is written again.
        let marker = whole + "/apps/app0/overlays/env0/object-0.yaml"
        let before = try fm.attributesOfItem(atPath: marker)[.modificationDate] as? Date
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await store.materialize(head, into: cache) == whole)
        #expect(try fm.attributesOfItem(atPath: marker)[.modificationDate] as? Date == before)

        let sub = try await store.materialize(head, path: "apps/app2", into: cache)
        #expect(sub != whole)
        #expect(fm.fileExists(atPath: sub + "/overlays/env2/object-2.yaml"))
        #expect(!fm.fileExists(atPath: sub + "/apps"))
        #expect(try fm.contentsOfDirectory(atPath: cache).filter { $0.hasPrefix(".tmp") }.isEmpty)
    }

    @Test("a symlink that leaves the tree is refused when materialising")
    func escapingSymlink() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        try FileManager.default.createSymbolicLink(atPath: git.directory + "/secret", withDestinationPath: "../../etc/passwd")
        try await git.commit("escape", files: ["ok.yaml": "a: 1\n"])
        let store = try await GitStore.open(git.directory)
        let error = await expectGitError(.invalidInput) { _ = try await store.materialize("HEAD", into: box.path + "/cache") }
        #expect(error?.message == "symlink secret points outside the tree (../../etc/passwd)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: box.path + "/cache").isEmpty)
    }

    @Test("a chain of symlinks that each look harmless but together leave the tree is refused; so is a loop; a chain that stays inside is kept")
    func symlinkChains() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let fm = FileManager.default
        try fm.createDirectory(atPath: git.directory + "/sub", withIntermediateDirectories: true)
        // sub/up goes to the root; through it, sub/ok reaches ok.yaml and sub/out climbs above.
        try fm.createSymbolicLink(atPath: git.directory + "/sub/up", withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: git.directory + "/sub/ok", withDestinationPath: "up/ok.yaml")
        let fine = try await git.commit("chain", files: ["ok.yaml": "a: 1\n"])
        let store = try await GitStore.open(git.directory)
        let folder = try await store.materialize(fine, into: box.path + "/cache")
        #expect(try String(contentsOfFile: folder + "/sub/ok", encoding: .utf8) == "a: 1\n")

        try fm.createSymbolicLink(atPath: git.directory + "/sub/out", withDestinationPath: "up/../etc/passwd")
        let escaping = try await git.commit("escape through a chain")
        let error = await expectGitError(.invalidInput) { _ = try await store.materialize(escaping, into: box.path + "/cache") }
        #expect(error?.message == "symlink sub/out points outside the tree (up/../etc/passwd)")

        try fm.removeItem(atPath: git.directory + "/sub/out")
        try fm.createSymbolicLink(atPath: git.directory + "/sub/a", withDestinationPath: "b")
        try fm.createSymbolicLink(atPath: git.directory + "/sub/b", withDestinationPath: "a")
        let looping = try await git.commit("a loop")
        let loop = await expectGitError(.invalidInput) { _ = try await store.materialize(looping, into: box.path + "/cache") }
        #expect(loop?.message.hasPrefix("symlink sub/a points outside the tree") == true, "\(loop?.message ?? "")")
        // Nothing of the refused trees was left behind.
        #expect(try fm.contentsOfDirectory(atPath: box.path + "/cache") == [fine])
    }

    @Test("a corrupted loose object is an error, not a crash")
    func corruptObject() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        let head = try await git.commit("one", files: ["a.yaml": "a: 1\n", "b.yaml": String(repeating: "b: 2\n", count: 200)])
        let blob = try await git.line("rev-parse", "HEAD:b.yaml")
        let object = git.directory + "/.git/objects/" + blob.prefix(2) + "/" + blob.dropFirst(2)
        let data = try Data(contentsOf: URL(fileURLWithPath: object))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object)
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: object))
        let store = try await GitStore.open(git.directory)
        let error = await expectGitError(.corrupt) { _ = try await store.readFile(at: head, path: "b.yaml") }
        #expect(error?.message.hasPrefix("object \(blob) is damaged") == true)
        // Nothing is read from a damaged repository, not even intact files: it fails closed.
        await expectGitError(.corrupt) { _ = try await store.readFile(at: head, path: "a.yaml") }
        await expectGitError(.corrupt) { _ = try await store.log(from: nil, to: "HEAD") }
        // git itself agrees that the object is damaged.
        let fsck = try await CommandRun.run("/usr/bin/git", ["-C", git.directory, "fsck"], environment: git.environment)
        #expect(fsck.status != 0)
    }
}

extension TreeTests {
    @Test("stores open on one repository share one loose-object check: a damaged object stops both, its repair frees both")
    func sharedLooseObjectCheck() async throws {
        let box = try Sandbox()
        defer { box.remove() }
        let git = try await box.git("repo")
        _ = try await git.commit("one", files: ["a.yaml": "a: 1\n"])
        let first = try await GitStore.open(git.directory), second = try await GitStore.open(git.directory)
        #expect(try await first.readFile(at: "HEAD", path: "a.yaml") == Array("a: 1\n".utf8))
        #expect(try await second.readFile(at: "HEAD", path: "a.yaml") == Array("a: 1\n".utf8))
        // A new commit brings an object that is then cut short in place.
        let head = try await git.commit("two", files: ["b.yaml": String(repeating: "b: 2\n", count: 200)])
        let blob = try await git.line("rev-parse", "HEAD:b.yaml")
        let object = git.directory + "/.git/objects/" + blob.prefix(2) + "/" + blob.dropFirst(2)
        let intact = try Data(contentsOf: URL(fileURLWithPath: object))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object)
        try intact.prefix(intact.count / 2).write(to: URL(fileURLWithPath: object))
        let error = await expectGitError(.corrupt) { _ = try await first.readFile(at: head, path: "a.yaml") }
        #expect(error?.message.hasPrefix("object \(blob) is damaged") == true, "\(error?.message ?? "")")
        // The other store refuses too, from the same check.
        await expectGitError(.corrupt) { _ = try await second.readFile(at: head, path: "a.yaml") }
        // Written anew in one piece, both read again.
        try intact.write(to: URL(fileURLWithPath: object), options: .atomic)
        #expect(try await second.readFile(at: head, path: "b.yaml") == Array(String(repeating: "b: 2\n", count: 200).utf8))
        #expect(try await first.readFile(at: head, path: "a.yaml") == Array("a: 1\n".utf8))
    }
}
