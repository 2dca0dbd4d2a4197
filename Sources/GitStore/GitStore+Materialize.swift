internal import CGit2
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension GitStore {
    /// Writes the tree under `path` at the commit `revision` names into a folder below
    /// `cacheRoot` and returns that folder. The folder is keyed by commit (and path), so a
    /// second request for the same commit returns the same folder without writing anything.
    /// Files are written to a temporary folder first and renamed into place, so a reader
    /// never sees a half-written tree. Symlinks are kept only when they point inside the
    /// tree; submodules become empty folders, as a checkout leaves them.
    public func materialize(_ revision: String, path: String = "", into cacheRoot: String) async throws -> String {
        try await perform { repo in
            let commit = try Self.resolveCommit(repo, revision)
            let clean = path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            let key = clean.isEmpty ? commit.hex : commit.hex + "-" + Self.pathKey(clean)
            let final = cacheRoot + "/" + key
            let fm = FileManager.default
            if fm.fileExists(atPath: final) {
                // Marked as used: eviction keeps what was used lately.
                try? fm.setAttributes([.modificationDate: Date()], ofItemAtPath: final)
                return final
            }
            defer { Self.evict(cacheRoot, keeping: final) }
            let staging = cacheRoot + "/.tmp-" + key + "-" + UUID().uuidString.prefix(8)
            do {
                try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
                var folders: Set<String> = [staging]
                try Self.withSubtree(repo, commit.hex, clean) { tree, prefix, single in
                    // Every entry first: a link is judged with every other link of the tree known
                    // (one that looks harmless may go out through another).
                    var entries: [(entry: TreeEntry, relative: String)] = []
                    func collect(_ entry: TreeEntry) {
                        entries.append((entry, single == nil ? String(entry.path.dropFirst(prefix.count)) : (entry.path as NSString).lastPathComponent))
                    }
                    if let single { collect(single) } else { try Self.walk(repo, tree, prefix: prefix, collect) }
                    var links: [String: String] = [:]
                    for (entry, relative) in entries where entry.kind == .symlink { links[relative] = entry.symlinkTarget ?? "" }
                    for (entry, relative) in entries where entry.kind == .symlink && !Self.resolvesInside(relative, links: links) {
                        throw GitStoreError(.invalidInput, "symlink \(entry.path) points outside the tree (\(entry.symlinkTarget ?? ""))",
                                            function: "materialize")
                    }
                    for (entry, relative) in entries { try Self.write(repo, entry, relative: relative, under: staging, folders: &folders) }
                }
                do {
                    try fm.moveItem(atPath: staging, toPath: final)
                } catch where fm.fileExists(atPath: final) {
                    try? fm.removeItem(atPath: staging) // another request finished first
                }
                return final
            } catch {
                try? fm.removeItem(atPath: staging)
                throw error
            }
        }
    }

    /// How many materialised trees a cache folder keeps at least, and how long any tree is
    /// kept after its last use (a Kustomize run may still be reading it).
    public static let treesKept = 8
    public static let treeGrace: TimeInterval = 600

    /// Removes the trees of `cacheRoot` beyond the `treesKept` used most lately that have not
    /// been used for `treeGrace`, and staging folders a crash left behind as long: the cache
    /// does not grow with every commit for ever.
    static func evict(_ cacheRoot: String, keeping current: String, now: Date = Date()) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: cacheRoot) else { return }
        let used: [(path: String, date: Date)] = names.compactMap { name in
            let path = cacheRoot + "/" + name
            guard path != current, let date = (try? fm.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
            return (path, date)
        }.sorted { $0.date > $1.date }
        for (index, tree) in used.enumerated() where now.timeIntervalSince(tree.date) > treeGrace {
            let staging = (tree.path as NSString).lastPathComponent.hasPrefix(".tmp-")
            if staging || index >= treesKept - 1 { try? fm.removeItem(atPath: tree.path) }
        }
    }

    /// Writes one entry; `folders` remembers the folders already created.
    private static func write(_ repo: OpaquePointer, _ entry: TreeEntry, relative: String, under root: String,
                              folders: inout Set<String>) throws {
        let fm = FileManager.default
        let target = root + "/" + relative
        let folder = (target as NSString).deletingLastPathComponent
        if !folders.contains(folder) {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
            folders.insert(folder)
        }
        switch entry.kind {
        case .file, .executable:
            var oid = entry.id.oid
            try writeFile(target, try blobBytes(repo, &oid), mode: entry.kind == .executable ? 0o755 : 0o644)
        case .symlink:
            // Checked with the whole tree's links before anything is written (`resolvesInside`).
            try fm.createSymbolicLink(atPath: target, withDestinationPath: entry.symlinkTarget ?? "")
        case .submodule:
            try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        }
    }

    /// Writes `bytes` to a new file with plain POSIX calls (no temp file per file: the whole
    /// tree is staged and renamed into place at once).
    private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw GitStoreError(.other, "cannot create \(path): \(String(cString: strerror(errno)))", function: "open")
        }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else {
                throw GitStoreError(.other, "cannot write \(path): \(String(cString: strerror(errno)))", function: "write")
            }
            written += n
        }
    }

    /// Whether the link at `linkPath` (relative to the tree's root) resolves to a place inside
    /// the tree, following the tree's other `links` (path → target) met on the way, as the
    /// kernel would once they are written: a chain of links that each look relative and
    /// harmless may still leave. An absolute target, one that climbs above the root, or more
    /// than 40 links in a row (a loop: the kernel's ELOOP) is outside.
    static func resolvesInside(_ linkPath: String, links: [String: String]) -> Bool {
        guard let first = links[linkPath], !first.isEmpty, !first.hasPrefix("/") else { return false }
        var resolved = linkPath.split(separator: "/").dropLast().map(String.init)
        var pending = first.split(separator: "/").map(String.init)
        var hops = 1
        while !pending.isEmpty {
            let part = pending.removeFirst()
            switch part {
            case ".", "": continue
            case "..":
                guard !resolved.isEmpty else { return false }
                resolved.removeLast()
            default:
                let candidate = (resolved + [part]).joined(separator: "/")
                if let target = links[candidate] {
                    hops += 1
                    guard hops <= 40, !target.isEmpty, !target.hasPrefix("/") else { return false }
                    pending = target.split(separator: "/").map(String.init) + pending  // from the link's folder
                } else {
                    resolved.append(part)
                }
            }
        }
        return true
    }

    /// A short, file-name-safe key for a path inside the repository (git's SHA-1 of it).
    private static func pathKey(_ path: String) -> String {
        var oid = git_oid()
        _ = path.withCString { git_odb_hash(&oid, $0, strlen($0), GIT_OBJECT_BLOB) }
        return ObjectID(oid).short(12)
    }
}
