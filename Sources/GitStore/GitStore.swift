internal import CGit2
import Foundation

/// One git repository, read and written through libgit2.
///
/// Ownership: a `GitStore` owns one `git_repository` handle and one serial dispatch queue.
/// Every libgit2 call on the handle runs on that queue, so a store can be shared by many
/// tasks (libgit2 objects must not be used by two threads at once) and blocking calls never
/// run on Swift's cooperative pool. The handle is freed when the store is released; no
/// libgit2 object outlives the queue block that created it.
public final class GitStore: @unchecked Sendable {
    /// The `git_repository`; touched only inside `perform`.
    private let handle: OpaquePointer
    private let queue: DispatchQueue
    /// The repository's git folder (`.git` for one with a work tree, the folder itself when bare).
    public let gitDirectory: String
    /// The work tree, or nil for a bare repository.
    public let workTree: String?

    public var isBare: Bool { workTree == nil }
    /// Name and email for reflog entries; read and written only on `queue`.
    var identity = (name: "baton", email: "baton@localhost")
    /// Checks loose objects before libgit2 reads them; shared by the stores on this repository.
    private let looseObjects: LooseObjectCheck

    init(handle: OpaquePointer, label: String) {
        self.handle = handle
        // Serial per repository, on the global pool's few threads: a queue of its own without a
        // target gets a thread of its own whenever it has work, and 500 pipelines' stores made
        // ~240 threads, each with its stack and malloc arena.
        self.queue = DispatchQueue(label: "baton.gitstore." + label, target: .global())
        gitDirectory = String(cString: git_repository_path(handle))
        workTree = git_repository_workdir(handle).map { String(cString: $0) }
        looseObjects = LooseObjectCheck.shared(gitDirectory: gitDirectory)
        _ = git_repository_set_ident(handle, "baton", "baton@localhost")
    }

    deinit {
        git_repository_free(handle)
    }

    /// Opens the repository at `path` (its work tree or its git folder). Does not search
    /// parent folders: a folder that is not a repository is an error.
    public static func open(_ path: String) async throws -> GitStore {
        try await Blocking.run {
            LibGit2.ensureInitialised()
            var repo: OpaquePointer?
            let rc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil)
            guard rc == 0, let repo else {
                var error = GitStoreError.last(rc, "git_repository_open_ext")
                if error.code == .notFound { error.message = "\(path) is not a git repository (or does not exist)" }
                throw error
            }
            return GitStore(handle: repo, label: path)
        }
    }

    /// Creates an empty repository at `path` whose unborn HEAD names `initialBranch`.
    public static func create(at path: String, bare: Bool = false, initialBranch: String = "main") async throws -> GitStore {
        try await Blocking.run {
            LibGit2.ensureInitialised()
            var options = git_repository_init_options()
            try check(git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)),
                      "git_repository_init_options_init")
            options.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | (bare ? GIT_REPOSITORY_INIT_BARE.rawValue : 0)
            var repo: OpaquePointer?
            try initialBranch.withCString { branch in
                options.initial_head = branch
                try check(git_repository_init_ext(&repo, path, &options), "git_repository_init_ext")
            }
            guard let repo else { throw GitStoreError(.other, "no repository returned", function: "git_repository_init_ext") }
            return GitStore(handle: repo, label: path)
        }
    }

    /// Sets the name and email written to reflogs for changes this store makes.
    public func setIdentity(name: String, email: String) async throws {
        try await perform { repo in
            try check(git_repository_set_ident(repo, name, email), "git_repository_set_ident")
            self.identity = (name, email)
        }
    }

    /// Runs `body` with the repository handle on this store's queue.
    /// `readsObjects: false` is for work that reads refs only (no object is inflated, so the
    /// loose-object check, a stat of every fan-out folder, is not needed): what a loop that
    /// looks at refs every second does.
    func perform<T: Sendable>(readsObjects: Bool = true, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let handle = UncheckedHandle(pointer: self.handle)
        return try await Blocking.run(on: queue) {
            git_error_clear()
            if readsObjects { try self.looseObjects.verify() }
            return try withExtendedLifetime(self) { try body(handle.pointer) }
        }
    }
}

/// A C pointer carried into a queue block; safe because only that block uses it.
struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// Runs blocking work on a dispatch queue and resumes the calling task with its result.
enum Blocking {
    /// Where calls without a repository (open, clone) run.
    private static let shared = DispatchQueue(label: "baton.gitstore.blocking", attributes: .concurrent)

    static func run<T: Sendable>(on queue: DispatchQueue? = nil, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            (queue ?? shared).async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
