internal import CGit2
import Foundation

extension GitStore {
    /// Every file under `path` (the whole tree when empty) at the commit `revision` names,
    /// read from the object database, with no checkout. Symlinks and submodules are listed
    /// as such and never followed. A `path` naming a file lists that file alone.
    public func files(at revision: String, under path: String = "") async throws -> [TreeEntry] {
        try await perform { repo in
            try Self.withSubtree(repo, revision, path) { tree, prefix, single in
                if let single { return [single] }
                var entries: [TreeEntry] = []
                try Self.walk(repo, tree, prefix: prefix) { entries.append($0) }
                return entries
            }
        }
    }

    /// The bytes of the file at `path` in the commit `revision` names.
    public func readFile(at revision: String, path: String) async throws -> [UInt8] {
        try await perform { repo in
            let (commit, tree) = try Self.commitTree(repo, revision)
            defer { git_tree_free(tree) }
            let entry = try Self.entry(tree, path, commit: commit)
            defer { git_tree_entry_free(entry) }
            guard git_tree_entry_type(entry) == GIT_OBJECT_BLOB else {
                throw GitStoreError(.invalidInput, "\(path) is a folder at \(commit.short()), not a file", function: "readFile")
            }
            return try Self.blobBytes(repo, git_tree_entry_id(entry))
        }
    }

    /// Every file under `path` whose entry `include` accepts, with its bytes, in one pass
    /// over the tree: how a renderer reads a commit's manifests.
    public func readFiles(at revision: String, under path: String = "",
                          where include: @escaping @Sendable (TreeEntry) -> Bool = { _ in true }) async throws
        -> [(entry: TreeEntry, bytes: [UInt8])] {
        try await perform { repo in
            try Self.withSubtree(repo, revision, path) { tree, prefix, single in
                var out: [(entry: TreeEntry, bytes: [UInt8])] = []
                func add(_ entry: TreeEntry) throws {
                    guard include(entry), entry.kind == .file || entry.kind == .executable else { return }
                    var oid = entry.id.oid
                    out.append((entry, try Self.blobBytes(repo, &oid)))
                }
                if let single { try add(single) } else { try Self.walk(repo, tree, prefix: prefix, add) }
                return out
            }
        }
    }

    /// The size in bytes of every file under `path` whose entry `include` accepts, read from
    /// the object headers (the contents are not read): how a renderer refuses a file too large
    /// before loading it.
    public func fileSizes(at revision: String, under path: String = "",
                          where include: @escaping @Sendable (TreeEntry) -> Bool = { _ in true }) async throws -> [(entry: TreeEntry, size: Int)] {
        try await perform { repo in
            var odb: OpaquePointer?
            try check(git_repository_odb(&odb, repo), "git_repository_odb")
            defer { git_odb_free(odb) }
            return try Self.withSubtree(repo, revision, path) { tree, prefix, single in
                var out: [(entry: TreeEntry, size: Int)] = []
                func add(_ entry: TreeEntry) throws {
                    guard include(entry), entry.kind == .file || entry.kind == .executable else { return }
                    var oid = entry.id.oid
                    var size = 0
                    var type = GIT_OBJECT_ANY
                    try check(git_odb_read_header(&size, &type, odb, &oid), "git_odb_read_header")
                    out.append((entry, size))
                }
                if let single { try add(single) } else { try Self.walk(repo, tree, prefix: prefix, add) }
                return out
            }
        }
    }

    // MARK: - Helpers that run inside `perform`

    /// Calls `body` with the tree at `path` (and the path prefix of its entries), or with
    /// the single entry when `path` names a file.
    static func withSubtree<T>(_ repo: OpaquePointer, _ revision: String, _ path: String,
                               _ body: (OpaquePointer, String, TreeEntry?) throws -> T) throws -> T {
        let (commit, root) = try commitTree(repo, revision)
        defer { git_tree_free(root) }
        let clean = path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        if clean.isEmpty { return try body(root, "", nil) }
        let entry = try entry(root, clean, commit: commit)
        defer { git_tree_entry_free(entry) }
        if git_tree_entry_type(entry) == GIT_OBJECT_TREE {
            var tree: OpaquePointer?
            try check(git_tree_lookup(&tree, repo, git_tree_entry_id(entry)), "git_tree_lookup")
            defer { git_tree_free(tree) }
            return try body(tree!, clean + "/", nil)
        }
        return try body(root, "", try treeEntry(repo, entry, path: clean))
    }

    static func entry(_ tree: OpaquePointer, _ path: String, commit: ObjectID) throws -> OpaquePointer {
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, tree, path)
        guard rc == 0, let entry else {
            var error = GitStoreError.last(rc, "git_tree_entry_bypath")
            if error.code == .notFound { error.message = "\(path) does not exist at \(commit.short())" }
            throw error
        }
        return entry
    }

    /// Depth-first, in git's (byte) order of names.
    static func walk(_ repo: OpaquePointer, _ tree: OpaquePointer, prefix: String,
                     _ visit: (TreeEntry) throws -> Void) throws {
        for index in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, index) else { continue }
            let path = prefix + String(cString: git_tree_entry_name(entry))
            if git_tree_entry_type(entry) == GIT_OBJECT_TREE {
                var subtree: OpaquePointer?
                try check(git_tree_lookup(&subtree, repo, git_tree_entry_id(entry)), "git_tree_lookup")
                defer { git_tree_free(subtree) }
                try walk(repo, subtree!, prefix: path + "/", visit)
            } else {
                try visit(try treeEntry(repo, entry, path: path))
            }
        }
    }

    static func treeEntry(_ repo: OpaquePointer, _ entry: OpaquePointer, path: String) throws -> TreeEntry {
        let mode = git_tree_entry_filemode(entry).rawValue
        let id = ObjectID(git_tree_entry_id(entry))
        switch mode {
        case GIT_FILEMODE_BLOB_EXECUTABLE.rawValue:
            return TreeEntry(path: path, kind: .executable, mode: mode, id: id)
        case GIT_FILEMODE_LINK.rawValue:
            let target = String(decoding: try blobBytes(repo, git_tree_entry_id(entry)), as: UTF8.self)
            return TreeEntry(path: path, kind: .symlink, mode: mode, id: id, symlinkTarget: target)
        case GIT_FILEMODE_COMMIT.rawValue:
            return TreeEntry(path: path, kind: .submodule, mode: mode, id: id)
        default:
            return TreeEntry(path: path, kind: .file, mode: mode, id: id)
        }
    }

    static func blobBytes(_ repo: OpaquePointer, _ oid: UnsafePointer<git_oid>) throws -> [UInt8] {
        var blob: OpaquePointer?
        try check(git_blob_lookup(&blob, repo, oid), "git_blob_lookup")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }
}
