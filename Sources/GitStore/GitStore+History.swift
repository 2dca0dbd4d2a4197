internal import CGit2
import Foundation

extension GitStore {
    /// The commits reachable from `tip` but not from `base` (all of `tip`'s history when
    /// `base` is nil), newest first: what a promotion from `base` to `tip` brings. With
    /// `firstParent`, merges are followed through their first parent only.
    public func log(from base: String?, to tip: String, firstParent: Bool = false) async throws -> [CommitInfo] {
        try await perform { repo in
            var walk: OpaquePointer?
            try check(git_revwalk_new(&walk, repo), "git_revwalk_new")
            defer { git_revwalk_free(walk) }
            try check(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue), "git_revwalk_sorting")
            var tipID = try Self.resolveCommit(repo, tip).oid
            try check(git_revwalk_push(walk, &tipID), "git_revwalk_push")
            if let base {
                var baseID = try Self.resolveCommit(repo, base).oid
                try check(git_revwalk_hide(walk, &baseID), "git_revwalk_hide")
            }
            if firstParent {
                try check(git_revwalk_simplify_first_parent(walk), "git_revwalk_simplify_first_parent")
            }
            var commits: [CommitInfo] = []
            var oid = git_oid()
            while true {
                let rc = git_revwalk_next(&oid, walk)
                if rc == GIT_ITEROVER.rawValue { break }
                try check(rc, "git_revwalk_next")
                let commit = try Self.lookupCommit(repo, ObjectID(oid))
                defer { git_commit_free(commit) }
                commits.append(Self.info(commit))
            }
            return commits
        }
    }

    /// The commit `revision` names, with its authors and message.
    public func commit(_ revision: String) async throws -> CommitInfo {
        try await perform { repo in
            let commit = try Self.lookupCommit(repo, try Self.resolveCommit(repo, revision))
            defer { git_commit_free(commit) }
            return Self.info(commit)
        }
    }

    /// What each of `paths` (a folder or a file) is at `revision`: its tree or blob id; a path
    /// the commit does not have is absent. Two commits with the same answer have the same
    /// content under those paths, read without diffing the whole tree.
    public func entryIDs(at revision: String, paths: [String]) async throws -> [String: ObjectID] {
        try await perform { repo in
            let tree = try Self.commitTree(repo, revision).1
            defer { git_tree_free(tree) }
            var found: [String: ObjectID] = [:]
            for path in Set(paths) {
                var entry: OpaquePointer?
                let rc = git_tree_entry_bypath(&entry, tree, path)
                if rc == GIT_ENOTFOUND.rawValue { continue }
                try check(rc, "git_tree_entry_bypath")
                defer { git_tree_entry_free(entry) }
                found[path] = git_tree_entry_id(entry).map(ObjectID.init)
            }
            return found
        }
    }

    /// The paths that differ between two commits (from the empty tree when `base` is nil),
    /// with renames detected as git does by default (50% similar).
    public func changedPaths(from base: String?, to tip: String) async throws -> [PathChange] {
        try await perform { repo in
            var oldTree: OpaquePointer?
            if let base { oldTree = try Self.commitTree(repo, base).1 }
            defer { git_tree_free(oldTree) }
            let newTree = try Self.commitTree(repo, tip).1
            defer { git_tree_free(newTree) }
            var diff: OpaquePointer?
            try check(git_diff_tree_to_tree(&diff, repo, oldTree, newTree, nil), "git_diff_tree_to_tree")
            defer { git_diff_free(diff) }
            var find = git_diff_find_options()
            try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "git_diff_find_options_init")
            find.flags = GIT_DIFF_FIND_RENAMES.rawValue
            try check(git_diff_find_similar(diff, &find), "git_diff_find_similar")
            var changes: [PathChange] = []
            for index in 0..<git_diff_num_deltas(diff) {
                guard let delta = git_diff_get_delta(diff, index)?.pointee else { continue }
                let newPath = delta.new_file.path.map { String(cString: $0) } ?? ""
                let oldPath = delta.old_file.path.map { String(cString: $0) } ?? ""
                switch delta.status {
                case GIT_DELTA_ADDED: changes.append(PathChange(kind: .added, path: newPath))
                case GIT_DELTA_DELETED: changes.append(PathChange(kind: .deleted, path: oldPath))
                case GIT_DELTA_RENAMED: changes.append(PathChange(kind: .renamed, path: newPath, oldPath: oldPath))
                case GIT_DELTA_TYPECHANGE: changes.append(PathChange(kind: .typeChanged, path: newPath))
                default: changes.append(PathChange(kind: .modified, path: newPath))
                }
            }
            return changes
        }
    }

    static func info(_ commit: OpaquePointer) -> CommitInfo {
        let parents = (0..<git_commit_parentcount(commit)).compactMap { git_commit_parent_id(commit, $0).map(ObjectID.init) }
        let message = git_commit_message(commit).map { String(cString: $0) } ?? ""
        let summary = message.components(separatedBy: "\n\n").first?
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ") ?? ""
        return CommitInfo(id: ObjectID(git_commit_id(commit)), parents: parents,
                          author: signature(git_commit_author(commit)), committer: signature(git_commit_committer(commit)),
                          summary: summary, message: message)
    }

    static func signature(_ pointer: UnsafePointer<git_signature>?) -> GitSignature {
        guard let signature = pointer?.pointee else { return GitSignature(name: "", email: "", time: Date(timeIntervalSince1970: 0)) }
        return GitSignature(name: signature.name.map { String(cString: $0) } ?? "",
                            email: signature.email.map { String(cString: $0) } ?? "",
                            time: Date(timeIntervalSince1970: TimeInterval(signature.when.time)))
    }
}

extension GitStore {
    /// A commit's signature as git writes it (`gpgsig` header: an SSH or OpenPGP armoured
    /// signature) and the bytes it signs (the commit object without that header); nil for an
    /// unsigned commit. Whose signature it is, and whether it holds, is the caller's to check.
    public func commitSignature(_ revision: String) async throws -> (signature: String, signed: Data)? {
        try await perform { repo in
            var oid = try Self.resolveCommit(repo, revision).oid
            var signature = git_buf()
            var signed = git_buf()
            defer {
                git_buf_dispose(&signature)
                git_buf_dispose(&signed)
            }
            let rc = git_commit_extract_signature(&signature, &signed, repo, &oid, nil)
            if rc == GIT_ENOTFOUND.rawValue { return nil }
            try check(rc, "git_commit_extract_signature")
            let text = signature.ptr.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: signature.size), as: UTF8.self) } ?? ""
            let bytes = signed.ptr.map { Data(bytes: $0, count: signed.size) } ?? Data()
            return (text, bytes)
        }
    }
}
