import AuditStore
import BatonCore
import Foundation
import Gates

/// Where a revision is in one stage (DESIGN.md §5).
public enum PromotionPhase: String, Sendable, Hashable, Codable {
    case pending
    case awaitingApproval = "awaiting-approval"
    case approved
    case promoting
    case syncing
    case verifying
    case verified
    case failed
    case rejected
    case superseded

    /// Nothing more happens to the revision in this stage.
    public var isFinal: Bool { [.verified, .failed, .rejected, .superseded].contains(self) }
}

public struct Approval: Sendable, Hashable, Codable {
    public var actor: String
    public var at: Date
    public var comment: String?
}

/// The revision a stage is working on.
public struct Candidate: Sendable, Hashable, Codable {
    public var revision: String
    public var phase: PromotionPhase
    /// When it entered `phase`.
    public var since: Date
    public var approvals: [Approval] = []
    /// Since when the environment has been synced at this revision and Healthy without a drop.
    public var healthySince: Date?
    /// Why it failed or was rejected, or what it waits for.
    public var reason: String?
    /// How it came.
    public var kind: PromotionKind = .auto
    /// Who started it (`baton` for automatic promotions).
    public var actor: String = "baton"
    /// Where the ref was when the move was decided: the compare-and-swap's expected value.
    public var from: String?
    /// When the ref moved and the sync began.
    public var syncStartedAt: Date?
    /// The revision this one superseded in the stage, if any.
    public var supersedes: String?
    /// When the stage's HTTP and Prometheus gates were asked for (after the health soak);
    /// nil while they are not running.
    public var checksRequestedAt: Date?
    /// Their verdicts, once back.
    public var checks: [GateOutcome]?
    /// Since when the gates have come back `unknown` (they could not measure), in a row; the
    /// revision waits, and fails once this lasts the environment's `sync.timeout`.
    public var checksUnknownSince: Date?
    /// When gates that came back `unknown` are asked for again.
    public var checksRetryAt: Date?
    /// Whether it has been synced and Healthy at least once here: the sync timeout applies only
    /// before that; afterwards a drop restarts the soak.
    public var wasHealthy: Bool = false
    /// What keeps it from entering now (a deploy window, a hold), apart from `reason`.
    public var blockedBy: String?
    /// Since when its soak has been paused because the cluster did not answer.
    public var soakPausedAt: Date?
    /// The cluster has not answered its environment's passes since then (nil: it answers).
    public var outage: ClusterOutage?

    public init(revision: String, phase: PromotionPhase, since: Date, reason: String? = nil, kind: PromotionKind = .auto,
                actor: String = "baton", from: String? = nil, supersedes: String? = nil) {
        self.revision = revision
        self.phase = phase
        self.since = since
        self.reason = reason
        self.kind = kind
        self.actor = actor
        self.from = from
        self.supersedes = supersedes
    }

    private enum CodingKeys: String, CodingKey {
        case revision, phase, since, approvals, healthySince, reason, kind, actor, from, syncStartedAt, supersedes, checksRequestedAt,
             checks, wasHealthy, blockedBy, soakPausedAt, outage, checksUnknownSince, checksRetryAt
    }

    /// Fields added in later versions default when a saved machine lacks them.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        revision = try container.decode(String.self, forKey: .revision)
        phase = try container.decode(PromotionPhase.self, forKey: .phase)
        since = try container.decode(Date.self, forKey: .since)
        approvals = try container.decodeIfPresent([Approval].self, forKey: .approvals) ?? []
        healthySince = try container.decodeIfPresent(Date.self, forKey: .healthySince)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
        kind = try container.decodeIfPresent(PromotionKind.self, forKey: .kind) ?? .auto
        actor = try container.decodeIfPresent(String.self, forKey: .actor) ?? "baton"
        from = try container.decodeIfPresent(String.self, forKey: .from)
        syncStartedAt = try container.decodeIfPresent(Date.self, forKey: .syncStartedAt)
        supersedes = try container.decodeIfPresent(String.self, forKey: .supersedes)
        checksRequestedAt = try container.decodeIfPresent(Date.self, forKey: .checksRequestedAt)
        checks = try container.decodeIfPresent([GateOutcome].self, forKey: .checks)
        wasHealthy = try container.decodeIfPresent(Bool.self, forKey: .wasHealthy) ?? false
        blockedBy = try container.decodeIfPresent(String.self, forKey: .blockedBy)
        soakPausedAt = try container.decodeIfPresent(Date.self, forKey: .soakPausedAt)
        outage = try container.decodeIfPresent(ClusterOutage.self, forKey: .outage)
        checksUnknownSince = try container.decodeIfPresent(Date.self, forKey: .checksUnknownSince)
        checksRetryAt = try container.decodeIfPresent(Date.self, forKey: .checksRetryAt)
    }
}

/// Passes of an environment that could not reach its cluster, in a row, while a revision was
/// syncing or verifying there: recorded when it begins (`cluster-unavailable`) and when the
/// cluster answers again (`cluster-available`, with how long and how many passes).
public struct ClusterOutage: Sendable, Hashable, Codable {
    public var since: Date
    /// Unavailable passes so far.
    public var passes: Int
    /// The first pass's first error.
    public var reason: String
}

/// The last reconciler pass of an environment, as `baton status` shows it.
public struct LastReport: Sendable, Hashable, Codable {
    public var revision: String
    public var synced: Bool
    public var health: HealthStatus
    public var errors: [String]
    public var at: Date
}

public struct StageState: Sendable, Hashable, Codable {
    public var environment: String
    /// What the environment's ref points at.
    public var deployed: String?
    /// The last revision verified here.
    public var verified: String?
    public var candidate: Candidate?
    public var lastReport: LastReport?
}

/// What is kept of a machine between runs: everything but the configuration.
public struct PromotionSnapshot: Sendable, Hashable, Codable {
    public var stages: [StageState]
    public var holds: Set<String>
    /// The head of the source branch last fed in.
    public var head: String?
}

/// What the machine asks its driver to do. It does no I/O itself.
public enum PromotionEffect: Sendable, Hashable {
    /// Move the environment's ref from `from` to `to` (compare-and-swap; report back with
    /// `.refMoved`).
    case moveRef(stage: Int, environment: String, from: String?, to: String)
    /// Evaluate the stage's HTTP and Prometheus gates for `revision` and report back with
    /// `gatesEvaluated` (again after a restart: the request is saved with the candidate).
    case evaluateGates(stage: Int, revision: String)
    /// Write an audit event (before its effect becomes visible), with the facts it adds to
    /// the promotion, decision and gate tables.
    case record(kind: String, stage: Int?, revision: String, details: JSONValue, records: [AuditRecord])
}

/// Why an approval or rejection was not taken.
public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(message: String) { self.message = message }

    public var description: String { message }
}

/// How a revision came into a stage.
public enum PromotionKind: String, Sendable, Hashable, Codable {
    /// Promoted by itself (the stage promotes automatically).
    case auto
    /// Entered a manual stage once its approvals were complete.
    case approved
    /// `baton promote`, of a revision verified in the stage before.
    case manual
    /// `baton promote --force`.
    case forced
    /// `baton rollback`.
    case rollback
}
