internal import CGit2
import Foundation

extension GitStore {
    /// The full name for a ref written by Baton: `env/dev` is the branch `refs/heads/env/dev`;
    /// names starting with `refs/` are kept.
    public static func fullRefName(_ name: String) -> String {
        name.hasPrefix("refs/") || name == "HEAD" ? name : "refs/heads/" + name
    }

    /// The commit a ref points at (symbolic refs followed), or nil when there is no such ref.
    /// Short names are found as git finds them (`main`, `origin/main`, `v1.0`).
    public func reference(_ name: String) async throws -> ObjectID? {
        try await perform(readsObjects: false) { repo in try Self.lookup(repo, name) }
    }

    /// Several refs read at once (one trip to the store's queue): what each points at; a ref
    /// that does not exist is absent from the answer.
    public func references(_ names: [String]) async throws -> [String: ObjectID] {
        try await perform(readsObjects: false) { repo in
            var found: [String: ObjectID] = [:]
            for name in Set(names) { found[name] = try Self.lookup(repo, name) }
            return found
        }
    }

    private static func lookup(_ repo: OpaquePointer, _ name: String) throws -> ObjectID? {
        var ref: OpaquePointer?
        let rc = name.hasPrefix("refs/") || name == "HEAD"
            ? git_reference_lookup(&ref, repo, name) : git_reference_dwim(&ref, repo, name)
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EUNBORNBRANCH.rawValue { return nil }
        try check(rc, "git_reference_lookup")
        defer { git_reference_free(ref) }
        var resolved: OpaquePointer?
        let resolveRC = git_reference_resolve(&resolved, ref)
        if resolveRC == GIT_ENOTFOUND.rawValue { return nil } // symbolic ref to an unborn branch
        try check(resolveRC, "git_reference_resolve")
        defer { git_reference_free(resolved) }
        return git_reference_target(resolved).map(ObjectID.init)
    }

    /// Creates `name` at `target`; fails with `.exists` when the ref is already there.
    public func createReference(_ name: String, at target: ObjectID, reason: String) async throws {
        try await writeReference(name, to: target, reason: reason) { repo, full, oid in
            var ref: OpaquePointer?
            try check(git_reference_create(&ref, repo, full, &oid, 0, reason), "git_reference_create")
            git_reference_free(ref)
        }
    }

    /// Moves `name` from `expected` to `target` only if it still points at `expected`
    /// (compare-and-swap): if it moved meanwhile the update fails with `.refMoved` and the
    /// ref is left as it is. With `fastForwardOnly`, `target` must descend from `expected`.
    public func updateReference(_ name: String, to target: ObjectID, expecting expected: ObjectID,
                                fastForwardOnly: Bool = false, reason: String) async throws {
        try await writeReference(name, to: target, reason: reason) { repo, full, oid in
            if fastForwardOnly, expected != target, try !Self.descends(repo, target, from: expected) {
                throw GitStoreError(.notFastForward,
                                    "\(full): \(target.short()) does not descend from \(expected.short()); not a fast-forward",
                                    function: "updateReference")
            }
            var current = expected.oid
            var ref: OpaquePointer?
            let rc = git_reference_create_matching(&ref, repo, full, &oid, 1, &current, reason)
            if rc == GIT_EMODIFIED.rawValue || rc == GIT_ENOTFOUND.rawValue {
                let now = try Self.currentTarget(repo, full)
                throw GitStoreError(.refMoved,
                                    "\(full) moved: expected \(expected.short()), found \(now.map { $0.short() } ?? "no ref")",
                                    function: "git_reference_create_matching", returnCode: rc)
            }
            try check(rc, "git_reference_create_matching")
            git_reference_free(ref)
        }
    }

    /// Moves `name` to `target` whatever it pointed at (creating it if needed), writing
    /// `reason` to its reflog: a rollback.
    public func forceReference(_ name: String, to target: ObjectID, reason: String) async throws {
        try await writeReference(name, to: target, reason: reason) { repo, full, oid in
            var ref: OpaquePointer?
            try check(git_reference_create(&ref, repo, full, &oid, 1, reason), "git_reference_create")
            git_reference_free(ref)
        }
    }

    /// Whether `ancestor` is `descendant` itself or one of its ancestors: whether moving a
    /// ref from `ancestor` to `descendant` is a fast-forward.
    public func isAncestor(_ ancestor: String, of descendant: String) async throws -> Bool {
        try await perform { repo in
            let a = try Self.resolveCommit(repo, ancestor), d = try Self.resolveCommit(repo, descendant)
            return a == d ? true : try Self.descends(repo, d, from: a)
        }
    }

    /// The ref's reflog, newest entry first.
    public func reflog(_ name: String) async throws -> [ReflogEntry] {
        try await perform { repo in
            var log: OpaquePointer?
            try check(git_reflog_read(&log, repo, Self.fullRefName(name)), "git_reflog_read")
            defer { git_reflog_free(log) }
            return (0..<git_reflog_entrycount(log)).compactMap { index in
                guard let entry = git_reflog_entry_byindex(log, index) else { return nil }
                return ReflogEntry(old: ObjectID(git_reflog_entry_id_old(entry)), new: ObjectID(git_reflog_entry_id_new(entry)),
                                   committer: Self.signature(git_reflog_entry_committer(entry)),
                                   message: git_reflog_entry_message(entry).map { String(cString: $0) } ?? "")
            }
        }
    }

    // MARK: - Helpers

    /// Runs a ref write and makes sure its reflog records it with `reason`: libgit2 skips the
    /// reflog of bare repositories unless `core.logAllRefUpdates` says otherwise, and a
    /// promotion's history must be there either way.
    private func writeReference(_ name: String, to target: ObjectID, reason: String,
                                _ write: @escaping @Sendable (OpaquePointer, String, inout git_oid) throws -> Void) async throws {
        try await perform { repo in
            let full = Self.fullRefName(name)
            guard git_reference_is_valid_name(full) == 1 else {
                throw GitStoreError(.invalidInput, "\"\(name)\" is not a valid ref name", function: "git_reference_is_valid_name")
            }
            var object: OpaquePointer?
            var oid = target.oid
            let found = git_object_lookup(&object, repo, &oid, GIT_OBJECT_COMMIT)
            guard found == 0 else {
                throw GitStoreError(.notFound, "\(target.hex) is not a commit in this repository",
                                    function: "git_object_lookup", returnCode: found)
            }
            git_object_free(object)
            // A process killed while it held the ref's lock (SIGKILL, power loss) leaves the
            // lock file behind, and every later move would fail on it for ever. git holds a
            // ref lock for milliseconds: one older than `staleLockAge` is a dead holder's.
            for lock in [full + ".lock", "logs/" + full + ".lock"] {
                Self.removeIfStale((self.gitDirectory as NSString).appendingPathComponent(lock))
            }
            try write(repo, full, &oid)
            try Self.recordReflog(repo, full, new: target, reason: reason, identity: self.identity)
        }
    }

    /// How old a ref's lock file must be to be taken for one a killed process left behind.
    static let staleLockAge: TimeInterval = 10

    static func removeIfStale(_ path: String) {
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
              Date().timeIntervalSince(modified) > staleLockAge else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    static func currentTarget(_ repo: OpaquePointer, _ full: String) throws -> ObjectID? {
        var ref: OpaquePointer?
        let rc = git_reference_lookup(&ref, repo, full)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_reference_lookup")
        defer { git_reference_free(ref) }
        return git_reference_target(ref).map(ObjectID.init)
    }

    private static func recordReflog(_ repo: OpaquePointer, _ full: String, new: ObjectID, reason: String,
                                     identity: (name: String, email: String)) throws {
        var log: OpaquePointer?
        try check(git_reflog_read(&log, repo, full), "git_reflog_read")
        defer { git_reflog_free(log) }
        if git_reflog_entrycount(log) > 0, let top = git_reflog_entry_byindex(log, 0),
           ObjectID(git_reflog_entry_id_new(top)) == new,
           git_reflog_entry_message(top).map({ String(cString: $0) }) == reason {
            return // libgit2 wrote it
        }
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_now(&signature, identity.name, identity.email), "git_signature_now")
        defer { git_signature_free(signature) }
        var oid = new.oid
        try check(git_reflog_append(log, &oid, signature, reason), "git_reflog_append")
        try check(git_reflog_write(log), "git_reflog_write")
    }

    static func descends(_ repo: OpaquePointer, _ descendant: ObjectID, from ancestor: ObjectID) throws -> Bool {
        var d = descendant.oid, a = ancestor.oid
        let rc = git_graph_descendant_of(repo, &d, &a)
        try check(rc, "git_graph_descendant_of")
        return rc == 1
    }
}
