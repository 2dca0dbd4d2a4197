internal import CGit2

extension GitStore {
    /// The commit `revision` names: a branch (`main`), a remote-tracking branch
    /// (`origin/main`), a tag (peeled to its commit), a full or abbreviated id, or an
    /// expression such as `HEAD~2`.
    public func resolve(_ revision: String) async throws -> ObjectID {
        try await perform { repo in try Self.resolveCommit(repo, revision) }
    }

    /// `resolve` for use inside `perform`.
    static func resolveCommit(_ repo: OpaquePointer, _ revision: String) throws -> ObjectID {
        guard !revision.isEmpty else {
            throw GitStoreError(.invalidInput, "an empty revision names nothing", function: "resolve")
        }
        var object: OpaquePointer?
        let rc = git_revparse_single(&object, repo, revision)
        guard rc == 0, let object else {
            var error = GitStoreError.last(rc, "git_revparse_single")
            switch error.code {
            case .ambiguous:
                error.message = "revision \"\(revision)\" is ambiguous: several objects or refs match it"
            case .notFound, .invalidInput, .other:
                if git_repository_head_unborn(repo) == 1, revision.hasPrefix("HEAD") || revision.hasPrefix("@") {
                    error.code = .unbornBranch
                    error.message = "HEAD names a branch with no commit yet, so \"\(revision)\" names nothing"
                } else {
                    error.code = .notFound
                    error.message = "unknown revision \"\(revision)\""
                }
            default:
                break
            }
            throw error
        }
        defer { git_object_free(object) }
        var commit: OpaquePointer?
        let peel = git_object_peel(&commit, object, GIT_OBJECT_COMMIT)
        guard peel == 0, let commit else {
            throw GitStoreError(.invalidInput, "revision \"\(revision)\" does not name a commit",
                                function: "git_object_peel", returnCode: peel)
        }
        defer { git_object_free(commit) }
        return ObjectID(git_object_id(commit))
    }

    /// Looks up the commit `id` inside `perform`; the caller frees it.
    static func lookupCommit(_ repo: OpaquePointer, _ id: ObjectID) throws -> OpaquePointer {
        var oid = id.oid
        var commit: OpaquePointer?
        try check(git_commit_lookup(&commit, repo, &oid), "git_commit_lookup")
        return commit!
    }

    /// The root tree of the commit `revision` names, inside `perform`; the caller frees it.
    static func commitTree(_ repo: OpaquePointer, _ revision: String) throws -> (ObjectID, OpaquePointer) {
        let id = try resolveCommit(repo, revision)
        let commit = try lookupCommit(repo, id)
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), "git_commit_tree")
        return (id, tree!)
    }
}
