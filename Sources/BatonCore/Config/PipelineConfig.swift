/// An ordered list of stages over environments, fed by one branch of one repository
/// (DESIGN.md §4, §5). Loaded from `Pipelines/NAME.yaml`.
public struct PipelineConfig: Sendable, Hashable, Codable {
    public var name: String
    public var repo: RepoSource
    public var stages: [Stage]
    /// The file this pipeline was loaded from, as the user named it.
    public var file: String
    /// Whether decisions must be signed by approvers' SSH keys (`verified`, the default in the
    /// files) or take the identity a command claims (`unverified`: BATON_ACTOR, git's
    /// user.email), which anyone can claim; for trying Baton out.
    public var identity: Identity

    public enum Identity: String, Sendable, Hashable, Codable, CaseIterable {
        case verified, unverified
    }

    public init(name: String, repo: RepoSource, stages: [Stage], file: String = "", identity: Identity = .verified) {
        self.name = name
        self.repo = repo
        self.stages = stages
        self.file = file
        self.identity = identity
    }

    /// The environments in promotion order.
    public var chain: [String] { stages.map(\.environment) }

    /// Whether a decision about `environment` (nil: the whole pipeline, as a release) must be
    /// signed, and the stages whose approvers' keys may sign it: a stage whose approvers have
    /// keys, by them; in an `identity: verified` pipeline any other decision too (an auto
    /// stage's rollback, a release), by an approver of any stage with keys (none declared: it
    /// cannot be signed); in an unverified pipeline a release when some stage has keys. The
    /// coordinator enforces it; the CLI signs by it.
    public func signers(for environment: String?) -> (required: Bool, environments: [String]) {
        let keyed = stages.filter { $0.effectiveApproval?.requiresSignatures == true }.map(\.environment)
        if let environment, keyed.contains(environment) { return (true, [environment]) }
        if identity == .verified { return (true, keyed) }
        if environment == nil, !keyed.isEmpty { return (true, keyed) }
        return (false, [])
    }
}

/// The config repository a pipeline follows.
public struct RepoSource: Sendable, Hashable, Codable {
    /// As written in the file: a URL (`https://`, `http://`, `git://`, `ssh://`, `file://`,
    /// or scp-like `git@host:org/repo.git`) or a local path.
    public var url: String
    /// Where to find it: the URL itself, or a local path made absolute against the folder
    /// the configuration was loaded from.
    public var location: String
    public var isLocal: Bool
    public var branch: String
    /// How often the branch is fetched.
    public var poll: TimeSpan
    /// When not empty, only a new head that changes a file under one of these folders or files
    /// (repository paths) is promoted, as Kargo's `includePaths`: in a repository shared by
    /// many applications, a commit to one does not walk every other pipeline. Empty: every new
    /// head is promoted.
    public var paths: [String]
    /// An HTTPS remote's access token, read at each fetch and push (`repo.tokenFile` or
    /// `repo.tokenEnv`), sent as the password of `username`; never in the URL or the files.
    public var token: SecretSource?
    /// The user name sent with `token` (default `x-access-token`, which GitHub, GitLab and Gitea accept).
    public var username: String

    public init(url: String, location: String? = nil, isLocal: Bool = false, branch: String = "main",
                poll: TimeSpan = .minutes(1), paths: [String] = [], token: SecretSource? = nil, username: String = "x-access-token") {
        self.url = url
        self.location = location ?? url
        self.isLocal = isLocal
        self.branch = branch
        self.poll = poll
        self.paths = paths
        self.token = token
        self.username = username
    }

    /// What pipelines must have in common to share one mirror and one fetch: the repository and
    /// the credentials it is read with (where the token comes from, and the user name). Two
    /// pipelines on one URL with tokens of their own never share, so a pipeline never sees refs
    /// fetched with another's token. Names where a secret is read, never a secret.
    public var sharingKey: String {
        guard let token else { return location }
        return location + "\u{0}" + username + "\u{0}" + token.description
    }

    /// Whether a change to `path` (a repository path) concerns this pipeline.
    public func includes(_ path: String) -> Bool {
        paths.isEmpty || paths.contains { path == $0 || path.hasPrefix($0 + "/") }
    }
}

/// Whether a revision enters a stage by itself or after approval.
public enum PromoteMode: String, Sendable, Hashable, Codable, CaseIterable {
    case auto
    case manual
}

/// One step of a pipeline.
public struct Stage: Sendable, Hashable, Codable {
    public var environment: String
    public var promote: PromoteMode
    /// Checks that must pass before a revision may leave this stage.
    public var gates: [Gate]
    /// Who must approve before a revision enters this stage; only on `manual` stages.
    public var approval: ApprovalPolicy?
    /// When a revision may enter this stage.
    public var windows: [DeployWindow]

    public init(environment: String, promote: PromoteMode = .auto, gates: [Gate] = [],
                approval: ApprovalPolicy? = nil, windows: [DeployWindow] = []) {
        self.environment = environment
        self.promote = promote
        self.gates = gates
        self.approval = approval
        self.windows = windows
    }

    /// The approval rule in force: the stage's own, or for a `manual` stage without one, a
    /// single approval from anyone (commit authors included); nil for `auto` stages.
    public var effectiveApproval: ApprovalPolicy? {
        guard promote == .manual else { return nil }
        return approval ?? ApprovalPolicy(required: 1, approvers: [], allowCommitAuthors: true)
    }
}

/// Who must approve a promotion into a manual stage.
public struct ApprovalPolicy: Sendable, Hashable, Codable {
    /// How many distinct people must approve.
    public var required: Int
    /// Who may approve (identities as `BATON_ACTOR` or git's `user.email` give them); empty
    /// means anyone.
    public var approvers: [String]
    /// Whether an author of a commit the promotion brings may approve it. False is the
    /// four-eyes rule.
    public var allowCommitAuthors: Bool
    /// Approvers' SSH public keys, declared inline (`approvers: [{email, keys}]`).
    public var keys: [ApproverKey]
    /// A file in git's allowed_signers format naming approvers and their keys, relative to
    /// the configuration folder.
    public var allowedSigners: String?
    /// Where `allowedSigners` was written (`file:line`), for messages about the file.
    public var allowedSignersSource: String?
    /// Every commit a promotion into the stage brings must carry a git SSH signature by a key
    /// of `commitSigners`; the four-eyes rule then compares those keys with the approver's.
    public var requireSignedCommits: Bool = false
    /// Who may sign commits: a file in git's allowed_signers format (namespace `git`), relative
    /// to the configuration folder. Not the approvers: writing and approving are apart.
    public var commitSigners: String?
    /// Where `commitSigners` was written (`file:line`).
    public var commitSignersSource: String?

    public init(required: Int = 1, approvers: [String] = [], allowCommitAuthors: Bool = false, keys: [ApproverKey] = [],
                allowedSigners: String? = nil) {
        self.required = required
        self.approvers = approvers
        self.allowCommitAuthors = allowCommitAuthors
        self.keys = keys
        self.allowedSigners = allowedSigners
    }

    /// Whether approvals must be signed by an approver's key: keys are declared, inline or in
    /// an allowed_signers file.
    public var requiresSignatures: Bool { !keys.isEmpty || allowedSigners != nil }
}

/// One approver's SSH public key as written in the configuration (checked as a key by the
/// `Signatures` module; here only its shape).
public struct ApproverKey: Sendable, Hashable, Codable {
    public var email: String
    /// The key's line: `ssh-ed25519 AAAA… [comment]`.
    public var key: String
    /// `file:line` where it was written.
    public var source: String

    public init(email: String, key: String, source: String) {
        self.email = email
        self.key = key
        self.source = source
    }
}
