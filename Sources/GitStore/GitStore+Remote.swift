internal import CGit2
import Foundation

extension GitStore {
    /// Clones `url` (a local path, `file://`, `git://`, `https://` or `ssh://`) into `path`.
    /// A bare clone (the default) is what Baton keeps as its cache: no work tree at all.
    public static func clone(from url: String, to path: String, bare: Bool = true, branch: String? = nil,
                             credentials: GitCredentials? = nil) async throws -> GitStore {
        let store: GitStore = try await Blocking.run {
            LibGit2.ensureInitialised()
            let session = RemoteSession(credentials: credentials)
            var options = git_clone_options()
            try check(git_clone_options_init(&options, UInt32(GIT_CLONE_OPTIONS_VERSION)), "git_clone_options_init")
            options.bare = bare ? 1 : 0
            var repo: OpaquePointer?
            try session.withCallbacks { callbacks in
                options.fetch_opts.callbacks = callbacks
                let rc: Int32 = withOptionalCString(branch) { branchName in
                    options.checkout_branch = branchName
                    return git_clone(&repo, url, path, &options)
                }
                try checkRemote(rc, "git_clone", secrets: session.secrets)
            }
            guard let repo else { throw GitStoreError(.other, "no repository returned", function: "git_clone") }
            return GitStore(handle: repo, label: path)
        }
        return store
    }

    /// Fetches from `remote` (a remote's name or a URL) with `refspecs` (the remote's own
    /// when empty), deleting remote-tracking refs that are gone on the remote when `prune`.
    public func fetch(from remote: String = "origin", refspecs: [String] = [], prune: Bool = true,
                      credentials: GitCredentials? = nil) async throws {
        try await perform { repo in
            let handle = try Self.remote(repo, remote)
            defer { git_remote_free(handle) }
            let session = RemoteSession(credentials: credentials)
            var options = git_fetch_options()
            try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
            options.prune = prune ? GIT_FETCH_PRUNE : GIT_FETCH_NO_PRUNE
            try session.withCallbacks { callbacks in
                options.callbacks = callbacks
                let rc = withStrArray(refspecs) { array in
                    withUnsafeMutablePointer(to: &array) { git_remote_fetch(handle, refspecs.isEmpty ? nil : $0, &options, "fetch") }
                }
                try checkRemote(rc, "git_remote_fetch", secrets: session.secrets)
            }
        }
    }

    /// Pushes `refspecs` (`refs/heads/env/dev:refs/heads/env/dev`, `+` in front to allow a
    /// non-fast-forward) to `remote`. A ref the remote refuses, or a non-fast-forward that
    /// libgit2 refuses before sending, fails with `.pushRejected`; an unreachable remote with
    /// `.network`.
    public func push(to remote: String = "origin", refspecs: [String], credentials: GitCredentials? = nil) async throws {
        try await perform { repo in
            let handle = try Self.remote(repo, remote)
            defer { git_remote_free(handle) }
            try Self.push(handle, refspecs, credentials: credentials, expecting: nil)
        }
    }

    /// Moves `remoteRef` on `remote` to what the local ref `localRef` points at, only if the
    /// remote ref is still at `expected` (nil: it must not exist). The check and the update
    /// happen on one connection, and the remote applies the update only if the ref still
    /// has the value it advertised, so a concurrent writer makes this fail with
    /// `.pushRejected` rather than be overwritten.
    public func pushReference(_ localRef: String, to remoteRef: String? = nil, expecting expected: ObjectID?,
                              remote: String = "origin", credentials: GitCredentials? = nil) async throws {
        try await perform { repo in
            let handle = try Self.remote(repo, remote)
            defer { git_remote_free(handle) }
            let local = Self.fullRefName(localRef), target = Self.fullRefName(remoteRef ?? localRef)
            try Self.push(handle, ["+" + local + ":" + target], credentials: credentials, expecting: (target, expected))
        }
    }

    // MARK: - Helpers

    /// A named remote, or an anonymous one for a URL or path.
    static func remote(_ repo: OpaquePointer, _ nameOrURL: String) throws -> OpaquePointer {
        var remote: OpaquePointer?
        if git_remote_lookup(&remote, repo, nameOrURL) == 0, let remote { return remote }
        try check(git_remote_create_anonymous(&remote, repo, nameOrURL), "git_remote_create_anonymous")
        return remote!
    }

    private static func push(_ remote: OpaquePointer, _ refspecs: [String], credentials: GitCredentials?,
                             expecting: (ref: String, id: ObjectID?)?) throws {
        let session = RemoteSession(credentials: credentials)
        try session.withCallbacks { callbacks in
            var options = git_push_options()
            try check(git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION)), "git_push_options_init")
            options.callbacks = callbacks
            if let expecting {
                try checkRemote(git_remote_connect(remote, GIT_DIRECTION_PUSH, &options.callbacks, nil, nil),
                                "git_remote_connect", secrets: session.secrets)
                defer { git_remote_disconnect(remote) }
                let current = try advertised(remote, expecting.ref)
                guard current == expecting.id else {
                    throw GitStoreError(.pushRejected,
                                        "\(expecting.ref) on the remote is at \(current.map { $0.short() } ?? "no commit"), not \(expecting.id.map { $0.short() } ?? "absent") as expected",
                                        function: "git_remote_ls")
                }
                let rc = withStrArray(refspecs) { git_remote_upload(remote, &$0, &options) }
                try finish(rc, "git_remote_upload", session)
            } else {
                let rc = withStrArray(refspecs) { git_remote_push(remote, &$0, &options) }
                try finish(rc, "git_remote_push", session)
            }
        }
    }

    private static func finish(_ rc: Int32, _ function: String, _ session: RemoteSession) throws {
        if rc == GIT_ENONFASTFORWARD.rawValue {
            var error = GitStoreError.last(rc, function, secrets: session.secrets)
            error.code = .pushRejected
            throw error
        }
        try checkRemote(rc, function, secrets: session.secrets)
        if !session.rejections.isEmpty {
            let reasons = session.rejections.map { "\($0.ref): \($0.reason)" }.joined(separator: "; ")
            throw GitStoreError(.pushRejected, "the remote refused the update: \(reasons)", function: function)
        }
    }

    /// What the connected remote advertises for `ref`, or nil when it has no such ref.
    private static func advertised(_ remote: OpaquePointer, _ ref: String) throws -> ObjectID? {
        var heads: UnsafeMutablePointer<UnsafePointer<git_remote_head>?>?
        var count = 0
        try check(git_remote_ls(&heads, &count, remote), "git_remote_ls")
        for index in 0..<count {
            guard let head = heads?[index]?.pointee, let name = head.name, String(cString: name) == ref else { continue }
            return ObjectID(head.oid)
        }
        return nil
    }
}

/// Calls `body` with a C string for `text`, or nil.
func withOptionalCString<T>(_ text: String?, _ body: (UnsafePointer<CChar>?) throws -> T) rethrows -> T {
    guard let text else { return try body(nil) }
    return try text.withCString { try body($0) }
}
