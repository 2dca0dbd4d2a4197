import BatonCore
import Foundation
import GitStore
import Signatures
import Synchronization

/// The environment refs of one pipeline's repository: where they point and how they move.
/// A local repository is changed in place; for a remote one Baton keeps a bare mirror (fetched
/// with `refresh`) and pushes each move to the remote, which stays the truth.
public struct EnvironmentRefs: Sendable {
    /// The local repository, or the mirror of the remote one.
    public let store: GitStore
    /// The remote's URL; nil for a local repository.
    public let remote: String?
    /// Fetches of this repository, shared by every pipeline given the same coalescer.
    let fetches: FetchCoalescer
    /// Where the remote's token comes from (`repo.tokenFile`/`tokenEnv`), read at each
    /// fetch and push so that a rotated token is used from the next one; nil for none.
    let token: SecretSource?
    let username: String
    /// The environment git's credential helpers run with when no token is configured (nil:
    /// this process's, so the user's own git configuration).
    let helperEnvironment: [String: String]?

    public init(store: GitStore, remote: String?, fetches: FetchCoalescer = FetchCoalescer(), token: SecretSource? = nil,
                username: String = "x-access-token", helperEnvironment: [String: String]? = nil) {
        self.store = store
        self.remote = remote
        self.fetches = fetches
        self.token = token
        self.username = username
        self.helperEnvironment = helperEnvironment
    }

    /// The credentials for the next exchange with the remote.
    func credentials() throws -> GitCredentials? {
        try Self.credentials(token, username: username, helperEnvironment: helperEnvironment)
    }

    /// The configured token, else whatever git's credential helpers give for the URL.
    static func credentials(_ token: SecretSource?, username: String, helperEnvironment: [String: String]?) throws -> GitCredentials? {
        guard let token else { return .helpers(environment: helperEnvironment) }
        do {
            return .token(try token.read(), username: username)
        } catch {
            throw GitStoreError(.invalidInput, "the repository's token: \(error)", function: "credentials")
        }
    }

    /// Opens the pipeline's repository: in place when local, else a bare mirror under
    /// `cacheRoot` (cloned when missing, fetched now), one folder per URL and credentials
    /// (`RepoSource.sharingKey`) whichever pipelines use it. Each call opens a handle of its own (ref moves of several pipelines go through
    /// git's lock files, as from several processes; one libgit2 handle shared by a hundred
    /// pipelines read refs another had just moved as moved by someone else); pipelines given
    /// the same `fetches` share their fetches.
    public static func open(_ pipeline: PipelineConfig, cacheRoot: String, fetches: FetchCoalescer = FetchCoalescer(),
                            helperEnvironment: [String: String]? = nil) async throws -> EnvironmentRefs {
        if pipeline.repo.isLocal { return EnvironmentRefs(store: try await GitStore.open(pipeline.repo.location), remote: nil) }
        let path = cacheRoot + "/repos/" + mirrorName(pipeline.repo.location, sharing: pipeline.repo.sharingKey) + ".git"
        let credentials = try Self.credentials(pipeline.repo.token, username: pipeline.repo.username, helperEnvironment: helperEnvironment)
        let refs = EnvironmentRefs(store: try await mirror(pipeline.repo.location, at: path, credentials: credentials), remote: pipeline.repo.location,
                                   fetches: fetches, token: pipeline.repo.token, username: pipeline.repo.username,
                                   helperEnvironment: helperEnvironment)
        try await refs.refresh()
        return refs
    }

    /// The bare mirror of `url` at `path`, cloned when missing. Several processes may get here
    /// at once (`baton run` and `baton status`): each clones into a folder of its own and renames
    /// it into place, and the ones that lose the race use the winner's.
    static func mirror(_ url: String, at path: String, credentials: GitCredentials? = nil) async throws -> GitStore {
        if FileManager.default.fileExists(atPath: path) { return try await GitStore.open(path) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let temporary = path + ".clone-\(UUID().uuidString.prefix(8))"
        do {
            _ = try await GitStore.clone(from: url, to: temporary, credentials: credentials)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        if rename(temporary, path) != 0 {
            try? FileManager.default.removeItem(atPath: temporary)
            guard FileManager.default.fileExists(atPath: path) else {
                throw GitStoreError(.other, "cannot move the clone of \(url) into \(path): \(String(cString: strerror(errno)))", function: "rename")
            }
        }
        return try await GitStore.open(path)
    }

    /// The mirror's folder name for `url`: readable, and unique by a hash of the whole URL and
    /// the credentials it is read with (`sharing`, the `RepoSource.sharingKey`).
    static func mirrorName(_ url: String, sharing: String? = nil) -> String {
        let last = url.split(whereSeparator: { "/:".contains($0) }).last.map(String.init) ?? "repo"
        let base = String(last.replacingOccurrences(of: ".git", with: "").filter { $0.isLetter || $0.isNumber || "-_.".contains($0) }.prefix(40))
        return (base.isEmpty ? "repo" : base) + "-" + String(String(FNV1a.hash((sharing ?? url).utf8), radix: 16).suffix(8))
    }

    /// Fetches every branch of the remote into the mirror (nothing for a local repository).
    public func refresh() async throws {
        guard let remote else { return }
        try await store.fetch(from: remote, refspecs: ["+refs/heads/*:refs/heads/*"], prune: false, credentials: try credentials())
    }

    /// The same, unless a fetch of this repository began less than `maxAge` ago or is under way
    /// (then its outcome is awaited): pipelines polling one repository share one fetch per poll.
    public func refresh(maxAge: Duration) async throws {
        guard remote != nil else { return }
        try await fetches.run(maxAge: maxAge) { try await refresh() }
    }

    /// The commit `ref` (a full ref name) points at, or nil when it does not exist.
    public func current(_ ref: String) async throws -> String? {
        try await store.reference(ref)?.hex
    }

    /// Moves `ref` from `from` (nil: it must not exist) to `to`, only if it is still at `from`;
    /// fast-forward only unless `anywhere` (a rollback). A ref already at `to` counts as moved.
    public func move(_ ref: String, from: String?, to: String, anywhere: Bool, reason: String) async throws {
        let target = try await store.resolve(to)
        if !anywhere, let from, try !(await store.isAncestor(from, of: to)) {
            throw GitStoreError(.notFastForward, "\(ref): \(to.prefix(8)) does not descend from \(from.prefix(8)); not a fast-forward",
                                function: "move")
        }
        if let remote {
            let expected = try from.map { hex -> ObjectID in
                guard let id = ObjectID(hex: hex) else { throw GitStoreError(.invalidInput, "\(hex) is not a commit id", function: "move") }
                return id
            }
            // Pushed from a ref of its own, so the mirror's env ref (which the reconciler reads)
            // moves only once the remote has taken the move.
            let staging = "refs/baton/push/" + ref.replacingOccurrences(of: "refs/", with: "")
            try await store.forceReference(staging, to: target, reason: reason)
            do {
                try await store.pushReference(staging, to: ref, expecting: expected, remote: remote, credentials: try credentials())
            } catch {
                // The remote is the truth: accept it only when a fetch shows it already where we
                // wanted it (someone, or an earlier attempt, moved it).
                guard (try? await refresh()) != nil, try await current(ref) == to else { throw error }
                return
            }
            try await store.forceReference(ref, to: target, reason: reason)
            return
        }
        do {
            if let from, let expected = ObjectID(hex: from) {
                try await store.updateReference(ref, to: target, expecting: expected, reason: reason)
            } else {
                try await store.createReference(ref, at: target, reason: reason)
            }
        } catch {
            if try await current(ref) == to { return }
            throw error
        }
    }

    /// The distinct e-mail addresses of the authors of the commits a move from `from` to `to`
    /// brings, oldest first, for the record (empty when the history cannot be read).
    public func authors(from: String?, to: String) async -> [String] {
        (try? await commitAuthors(from: from, to: to)) ?? []
    }

    /// The same, every commit read, throwing when the history cannot be: what the four-eyes
    /// rule needs (an unreadable range must refuse an approval, not allow it).
    /// One commit of a promotion, checked against the stage's commit signers: who signed it
    /// (nil when it is not signed by an allowed key: `problem` says why).
    public struct CommitSignatureCheck: Sendable {
        public var commit: String
        public var committer: String
        public var signer: CommitSigners.Signer?
        public var problem: String?
        /// The commit or its signature could not be read (not a verdict: asked again later).
        public var unreadable = false
    }

    /// Every commit from `from` to `to`, oldest first, with its signature checked by `signers`.
    /// A commit that cannot be read counts as unsigned.
    public func commitSignatures(from: String?, to: String, signers: CommitSigners, at time: Date) async -> [CommitSignatureCheck] {
        guard let commits = try? await store.log(from: from, to: to) else {
            return [CommitSignatureCheck(commit: to, committer: "", signer: nil, problem: "its history cannot be read", unreadable: true)]
        }
        var checks: [CommitSignatureCheck] = []
        for commit in commits.reversed() {
            let id = commit.id.description
            var check = CommitSignatureCheck(commit: id, committer: commit.committer.email, signer: nil, problem: nil)
            do {
                if let (signature, signed) = try await store.commitSignature(id) {
                    do {
                        check.signer = try signers.verify(signature: signature, signed: signed, at: time)
                    } catch {
                        check.problem = "its signature is refused: \(error.message)"
                    }
                } else {
                    check.problem = "it is not signed"
                }
            } catch {
                check.problem = "its signature cannot be read: \(error)"
                check.unreadable = true
            }
            checks.append(check)
        }
        return checks
    }

    public func commitAuthors(from: String?, to: String) async throws -> [String] {
        var seen: Set<String> = []
        var authors: [String] = []
        for commit in try await store.log(from: from, to: to).reversed() where seen.insert(commit.author.email.lowercased()).inserted {
            authors.append(commit.author.email)
        }
        return authors
    }
}

/// One fetch at a time per repository, and none while the last one is younger than asked.
public final class FetchCoalescer: Sendable {
    private struct State {
        var started: ContinuousClock.Instant?
        var running: Task<Result<Void, any Error>, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    func run(maxAge: Duration, _ fetch: @escaping @Sendable () async throws -> Void) async throws {
        let now = ContinuousClock.now
        let task: Task<Result<Void, any Error>, Never>? = state.withLock { state in
            if let running = state.running { return running }
            if let started = state.started, now - started < maxAge { return nil }
            let running = Task<Result<Void, any Error>, Never> {
                do {
                    try await fetch()
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            state.started = now
            state.running = running
            return running
        }
        guard let task else { return }
        let result = await task.value
        state.withLock { state in
            if state.running == task { state.running = nil }
            // A failed fetch does not count: the next caller tries again.
            if case .failure = result { state.started = nil }
        }
        try result.get()
    }
}
