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
    /// How it came: `auto`, `approved`, `manual` (`baton promote`), `forced` or `rollback`.
    public var kind: String = "auto"
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
    /// Whether it has been synced and Healthy at least once here: the sync timeout applies only
    /// before that; afterwards a drop restarts the soak.
    public var wasHealthy: Bool = false
    /// What keeps it from entering now (a deploy window, a hold), apart from `reason`.
    public var blockedBy: String?
    /// Since when its soak has been paused because the cluster did not answer.
    public var soakPausedAt: Date?

    public init(revision: String, phase: PromotionPhase, since: Date, reason: String? = nil, kind: String = "auto",
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
             checks, wasHealthy, blockedBy, soakPausedAt
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
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? "auto"
        actor = try container.decodeIfPresent(String.self, forKey: .actor) ?? "baton"
        from = try container.decodeIfPresent(String.self, forKey: .from)
        syncStartedAt = try container.decodeIfPresent(Date.self, forKey: .syncStartedAt)
        supersedes = try container.decodeIfPresent(String.self, forKey: .supersedes)
        checksRequestedAt = try container.decodeIfPresent(Date.self, forKey: .checksRequestedAt)
        checks = try container.decodeIfPresent([GateOutcome].self, forKey: .checks)
        wasHealthy = try container.decodeIfPresent(Bool.self, forKey: .wasHealthy) ?? false
        blockedBy = try container.decodeIfPresent(String.self, forKey: .blockedBy)
        soakPausedAt = try container.decodeIfPresent(Date.self, forKey: .soakPausedAt)
    }
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

/// The promotion state machine of one pipeline: pure, driven by inputs and a clock the caller
/// passes in. Per stage: a candidate revision goes `pending → promoting → syncing → verifying
/// → verified | failed`; manual stages wait in `awaiting-approval` until the quorum approves.
/// A newer revision supersedes a candidate that has not left its stage. Gates so far: health
/// with soak (synced at exactly this revision and Healthy for `soak` without a drop; a sync
/// error or Degraded fails it; not synced within the environment's `sync.timeout` fails it).
/// Deploy windows keep revisions from entering a stage (never interrupt one in progress).
/// HTTP and Prometheus gates are not evaluated here yet.
public struct PromotionMachine: Sendable {
    public let pipeline: PipelineConfig
    /// Per environment, how long a sync may take before the revision fails there.
    public let syncTimeouts: [String: Duration]
    public private(set) var stages: [StageState]
    /// Revisions a rollback holds back from auto-promotion until released.
    public private(set) var holds: Set<String> = []
    /// The head of the source branch last fed in with `commit`.
    public private(set) var head: String?

    public init(pipeline: PipelineConfig, syncTimeouts: [String: Duration] = [:], snapshot: PromotionSnapshot? = nil) {
        self.pipeline = pipeline
        self.syncTimeouts = syncTimeouts
        stages = pipeline.stages.map { StageState(environment: $0.environment) }
        if let snapshot {
            // Stages are matched by environment, so a configuration that added or removed a
            // stage keeps what it can.
            for index in stages.indices {
                if let saved = snapshot.stages.first(where: { $0.environment == stages[index].environment }) { stages[index] = saved }
            }
            holds = snapshot.holds
            head = snapshot.head
            // A stage whose promote mode changed since: a revision waiting to enter follows
            // the rule in force now (a stage made manual needs its approvals).
            for index in stages.indices {
                guard var candidate = stages[index].candidate else { continue }
                if pipeline.stages[index].promote == .manual, candidate.phase == .pending, candidate.kind == "auto" {
                    candidate.phase = .awaitingApproval
                } else if pipeline.stages[index].promote == .auto, candidate.phase == .awaitingApproval {
                    candidate.phase = .pending
                }
                stages[index].candidate = candidate
            }
        }
    }

    public var snapshot: PromotionSnapshot { PromotionSnapshot(stages: stages, holds: holds, head: head) }

    /// The stage of `environment`.
    public func stage(of environment: String) -> Int? { stages.firstIndex { $0.environment == environment } }

    // MARK: Inputs

    /// A new head of the source branch: it enters the first stage.
    public mutating func commit(_ revision: String, now: Date) -> [PromotionEffect] {
        head = revision
        var effects = enter(stage: 0, revision: revision, now: now)
        effects += advance(now: now)
        return effects
    }

    /// The ref of `stage` now points at `revision` (the move the machine asked for, done, or a
    /// ref found there); `authors` are the git authors of the commits the move brought.
    public mutating func refMoved(stage: Int, revision: String, authors: [String] = [], now: Date) -> [PromotionEffect] {
        let previous = stages[stage].deployed
        stages[stage].deployed = revision
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .promoting else {
            if previous == revision { return advance(now: now) }
            var effects = [record("ref-changed", stage, revision, ["from": previous.map(JSONValue.string) ?? .null,
                                                                   "note": "the ref moved outside Baton"])]
            if var current = stages[stage].candidate, current.phase == .syncing || current.phase == .verifying, current.revision != revision {
                // What was being verified no longer runs here: it cannot pass.
                let reason = "\(pipeline.stages[stage].environment)'s ref was moved outside Baton to \(revision.prefix(8))"
                current.phase = .failed
                current.since = now
                current.reason = reason
                stages[stage].candidate = current
                effects.append(record("failed", stage, current.revision, ["reason": .string(reason)],
                                      [.promotionUpdated(phase: "failed", reason: reason, authors: nil)]))
            }
            return effects + advance(now: now)
        }
        candidate.phase = .syncing
        candidate.since = now
        candidate.syncStartedAt = now
        stages[stage].candidate = candidate
        return [record("ref-moved", stage, revision, ["from": candidate.from.map(JSONValue.string) ?? .null,
                                                      "authors": .array(authors.map(JSONValue.string))],
                       [.promotionUpdated(phase: "syncing", reason: nil, authors: authors)])] + advance(now: now)
    }

    /// The move of `stage`'s ref could not be made (someone else moved it, or it would not be
    /// a fast-forward): the candidate fails there.
    public mutating func refMoveFailed(stage: Int, revision: String, reason: String, now: Date) -> [PromotionEffect] {
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .promoting else { return [] }
        candidate.phase = .failed
        candidate.since = now
        candidate.reason = reason
        stages[stage].candidate = candidate
        return [record("failed", stage, revision, ["reason": .string(reason)], [.promotionUpdated(phase: "failed", reason: reason, authors: nil)])]
            + advance(now: now)
    }

    /// A reconciler pass of `stage`'s environment.
    public mutating func report(stage: Int, _ report: StatusReport, now: Date) -> [PromotionEffect] {
        stages[stage].lastReport = LastReport(revision: report.revision, synced: report.synced, health: report.health,
                                              errors: report.errors, at: now)
        guard var candidate = stages[stage].candidate, candidate.revision == report.revision,
              candidate.phase == .syncing || candidate.phase == .verifying else { return advance(now: now) }
        var effects: [PromotionEffect] = []
        var gate = HealthSoak(soak: soak(stage), healthySince: candidate.healthySince, pausedAt: candidate.soakPausedAt)
        let observation = gate.observe(report, at: now)
        candidate.healthySince = gate.healthySince
        candidate.soakPausedAt = gate.pausedAt
        if gate.healthySince != nil { candidate.wasHealthy = true }
        switch observation {
        case .failed(let reason, let evidence):
            candidate.phase = .failed
            candidate.since = now
            candidate.reason = reason
            stages[stage].candidate = candidate
            return [record("failed", stage, candidate.revision, ["reason": .string(reason), "health": .string(report.health.rawValue)],
                           [.promotionUpdated(phase: "failed", reason: reason, authors: nil),
                            .gateResult(gate: "health", passed: false, evidence: evidence)])]
                + advance(now: now)
        case .restarted(let evidence):
            // Any drop restarts the soak: out of sync (an object changed or deleted) counts too.
            effects.append(record("soak-restarted", stage, candidate.revision, evidence.object ?? [:]))
        case .unavailable(let reason, let started):
            // A blip is no verdict: recorded once when it pauses a soak under way.
            if started { effects.append(record("soak-paused", stage, candidate.revision, ["reason": .string(reason)])) }
        case .healthy, .waiting:
            break
        }
        if report.synced, candidate.phase == .syncing {
            candidate.phase = .verifying
            candidate.since = now
            effects.insert(record("verifying", stage, candidate.revision, [:], [.promotionUpdated(phase: "verifying", reason: nil, authors: nil)]),
                           at: 0)
        }
        stages[stage].candidate = candidate
        return effects + advance(now: now)
    }

    /// The verdicts of the stage's HTTP and Prometheus gates. All passed and the health soak
    /// still holds: verified. One failed: the revision fails there. Health dropped meanwhile:
    /// the verdicts are set aside and asked for again after the next soak.
    public mutating func gatesEvaluated(stage: Int, revision: String, outcomes: [GateOutcome], now: Date) -> [PromotionEffect] {
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .verifying,
              candidate.checksRequestedAt != nil else { return [] }
        let soaked = HealthSoak(soak: soak(stage), healthySince: candidate.healthySince, pausedAt: candidate.soakPausedAt).passed(at: now) != nil
        let records: [AuditRecord] = outcomes.map { outcome in
            var evidence = outcome.evidence.object ?? [:]
            evidence["summary"] = .string(outcome.summary)
            return .gateResult(gate: outcome.gate, passed: outcome.passed, evidence: .object(evidence))
        }
        let details: [String: JSONValue] = ["gates": .array(outcomes.map { .string(($0.passed ? "passed: " : "failed: ") + $0.summary) })]
        if let failed = outcomes.first(where: { !$0.passed }) {
            candidate.phase = .failed
            candidate.since = now
            candidate.reason = "gate \(failed.gate) failed: \(failed.summary)"
            candidate.checks = outcomes
            stages[stage].candidate = candidate
            return [record("failed", stage, revision, details.merging(["reason": .string(candidate.reason ?? "")]) { $1 },
                           records + [.promotionUpdated(phase: "failed", reason: candidate.reason, authors: nil)])] + advance(now: now)
        }
        guard soaked else {
            candidate.checksRequestedAt = nil
            stages[stage].candidate = candidate
            return [record("gates-set-aside", stage, revision, details.merging(["reason": "health dropped while the gates ran"]) { $1 }, records)]
        }
        candidate.checks = outcomes
        stages[stage].candidate = candidate
        return [record("gates-passed", stage, revision, details, records)] + advance(now: now)
    }

    /// An approval of `revision` for `stage` by `actor`; `isCommitAuthor` when the actor wrote
    /// a commit in the promoted range.
    public mutating func approve(stage: Int, revision: String, actor: String, isCommitAuthor: Bool, comment: String?,
                                 now: Date) throws(Refusal) -> [PromotionEffect] {
        let environment = stages[stage].environment
        guard let policy = pipeline.stages[stage].effectiveApproval else {
            throw Refusal(message: "\(environment) promotes automatically: there is nothing to approve")
        }
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .awaitingApproval else {
            let now = stages[stage].candidate.map { "\($0.revision.prefix(8)) is \($0.phase.rawValue)" } ?? "no revision is waiting"
            throw Refusal(message: "\(revision.prefix(8)) is not awaiting approval in \(environment) (\(now))")
        }
        if !policy.approvers.isEmpty, !policy.approvers.contains(actor) {
            throw Refusal(message: "\(actor) may not approve \(environment) (approvers: \(policy.approvers.joined(separator: ", ")))")
        }
        if holds.contains(revision) {
            throw Refusal(message: "\(revision.prefix(8)) is held after a rollback; release it first (baton release \(pipeline.name) \(revision.prefix(8)))")
        }
        if !policy.allowCommitAuthors, isCommitAuthor {
            throw Refusal(message: "\(actor) wrote a commit in this promotion and may not approve it")
        }
        if candidate.approvals.contains(where: { $0.actor == actor }) {
            throw Refusal(message: "\(actor) has already approved \(revision.prefix(8)) for \(environment)")
        }
        candidate.approvals.append(Approval(actor: actor, at: now, comment: comment))
        var effects = [record("approved-by", stage, revision, ["actor": .string(actor), "comment": comment.map(JSONValue.string) ?? .null,
                                                                "approvals": .int(Int64(candidate.approvals.count)),
                                                                "required": .int(Int64(policy.required))],
                              [.decision(decision: "approve", actor: actor, comment: comment)])]
        if candidate.approvals.count >= policy.required {
            candidate.phase = .approved
            if candidate.kind == "auto" { candidate.kind = "approved" }
            candidate.since = now
            effects.append(record("approved", stage, revision))
        }
        stages[stage].candidate = candidate
        return effects + advance(now: now)
    }

    /// A rejection: final for `revision` in `stage`.
    public mutating func reject(stage: Int, revision: String, actor: String, reason: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        let environment = stages[stage].environment
        guard var candidate = stages[stage].candidate, candidate.revision == revision, !candidate.phase.isFinal else {
            throw Refusal(message: "\(revision.prefix(8)) is not waiting in \(environment)")
        }
        guard [.pending, .awaitingApproval, .approved].contains(candidate.phase) else {
            throw Refusal(message: "\(revision.prefix(8)) is already \(candidate.phase.rawValue) in \(environment); "
                + "to take it out, roll back (baton rollback \(environment) --to REV --reason ...)")
        }
        if let approvers = pipeline.stages[stage].approval?.approvers, !approvers.isEmpty, !approvers.contains(actor) {
            throw Refusal(message: "\(actor) may not reject in \(environment) (approvers: \(approvers.joined(separator: ", ")))")
        }
        candidate.phase = .rejected
        candidate.since = now
        candidate.reason = reason
        stages[stage].candidate = candidate
        return [record("rejected", stage, revision, ["actor": .string(actor), "reason": .string(reason)],
                       [.decision(decision: "reject", actor: actor, comment: reason)]
                       + (candidate.from != nil || candidate.syncStartedAt != nil ? [.promotionUpdated(phase: "rejected", reason: reason, authors: nil)] : []))]
            + advance(now: now)
    }

    /// `baton promote`: `revision` enters `stage` by hand. Unless `force`, it must be verified in
    /// the stage before (`verifiedBefore` says whether it ever was, from the audit log).
    /// Approvals still apply on a manual stage.
    public mutating func promote(stage: Int, revision: String, actor: String, verifiedBefore: Bool, force: Bool, reason: String?,
                                 now: Date) throws(Refusal) -> [PromotionEffect] {
        let environment = stages[stage].environment
        if stage > 0, !force, !verifiedBefore, stages[stage - 1].verified != revision {
            throw Refusal(message: "\(revision.prefix(8)) was not verified in \(stages[stage - 1].environment); "
                + "promote it with --force --reason to bypass that")
        }
        if holds.contains(revision) {
            throw Refusal(message: "\(revision.prefix(8)) is held after a rollback; release it first (baton release \(pipeline.name) \(revision.prefix(8)))")
        }
        if let candidate = stages[stage].candidate, candidate.revision == revision, !candidate.phase.isFinal {
            throw Refusal(message: "\(revision.prefix(8)) is already \(candidate.phase.rawValue) in \(environment)")
        }
        if stages[stage].deployed == revision, stages[stage].candidate?.phase != .failed {
            throw Refusal(message: "\(environment) already runs \(revision.prefix(8))")
        }
        var effects = enter(stage: stage, revision: revision, now: now, kind: force ? "forced" : "manual", actor: actor, reason: reason)
        effects += advance(now: now)
        return effects
    }

    /// `baton rollback`: `stage`'s ref goes back to `revision` (anywhere, not only forward),
    /// and the revision it replaces is held so auto-promotion does not bring it back.
    public mutating func rollback(stage: Int, to revision: String, actor: String, reason: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        let environment = stages[stage].environment
        guard let replaced = stages[stage].deployed else {
            throw Refusal(message: "\(environment) has no revision yet: there is nothing to roll back")
        }
        if replaced == revision { throw Refusal(message: "\(environment) already runs \(revision.prefix(8))") }
        var effects: [PromotionEffect] = []
        if let current = stages[stage].candidate, !current.phase.isFinal {
            effects += supersede(stage: stage, by: revision, now: now)
        }
        holds.insert(replaced)
        holds.remove(revision)
        effects.append(record("held", stage, replaced, ["reason": .string("replaced by the rollback to \(revision.prefix(8))"),
                                                        "actor": .string(actor)]))
        stages[stage].candidate = Candidate(revision: revision, phase: .promoting, since: now, reason: reason, kind: "rollback", actor: actor,
                                            from: replaced)
        effects.append(record("promoting", stage, revision, ["kind": "rollback", "from": .string(replaced), "reason": .string(reason),
                                                             "actor": .string(actor)],
                              [.promotionStarted(kind: "rollback", from: replaced, actor: actor, reason: reason)]))
        effects.append(.moveRef(stage: stage, environment: environment, from: replaced, to: revision))
        return effects + advance(now: now)
    }

    /// Lets a held revision promote again: it re-enters the stage after the last one that
    /// verified it, when that stage does not already run it.
    public mutating func release(_ revision: String, actor: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        guard holds.contains(revision) else { throw Refusal(message: "\(revision.prefix(8)) is not held") }
        holds.remove(revision)
        var effects = [record("released", nil, revision, ["actor": .string(actor)])]
        if let last = stages.lastIndex(where: { $0.verified == revision }), last + 1 < stages.count,
           stages[last + 1].deployed != revision {
            effects += enter(stage: last + 1, revision: revision, now: now)
        } else if head == revision, stages[0].deployed != revision {
            effects += enter(stage: 0, revision: revision, now: now)
        }
        return effects + advance(now: now)
    }

    /// Holds `revision` back from auto-promotion (what a rollback does).
    public mutating func hold(_ revision: String) { holds.insert(revision) }

    /// Time passing: soaks complete, syncs time out.
    public mutating func tick(now: Date) -> [PromotionEffect] { advance(now: now) }

    // MARK: The rules

    /// `revision` becomes `stage`'s candidate, superseding one that has not left the stage.
    private mutating func enter(stage: Int, revision: String, now: Date, kind: String = "auto", actor: String = "baton",
                                reason: String? = nil) -> [PromotionEffect] {
        if kind == "auto", holds.contains(revision) {
            // A held revision does not disturb what the stage is doing.
            return [record("held", stage, revision, ["reason": "held after a rollback; release it to promote"])]
        }
        var effects: [PromotionEffect] = []
        var superseded: String?
        if let current = stages[stage].candidate {
            if current.revision == revision, kind == "auto", current.phase != .failed || stages[stage].deployed == revision { return [] }
            if !current.phase.isFinal {
                effects += supersede(stage: stage, by: revision, now: now)
                superseded = current.revision
            }
        }
        let manual = pipeline.stages[stage].promote == .manual
        stages[stage].candidate = Candidate(revision: revision, phase: manual ? .awaitingApproval : .pending, since: now, reason: reason,
                                            kind: kind, actor: actor, supersedes: superseded)
        var details: [String: JSONValue] = ["kind": .string(kind)]
        if let reason { details["reason"] = .string(reason) }
        return effects + [record(manual ? "awaiting-approval" : "entered", stage, revision, details)]
    }

    private mutating func supersede(stage: Int, by revision: String, now: Date) -> [PromotionEffect] {
        guard var superseded = stages[stage].candidate else { return [] }
        let started = superseded.phase == .promoting || superseded.phase == .syncing || superseded.phase == .verifying
        superseded.phase = .superseded
        superseded.since = now
        superseded.reason = "superseded by \(revision.prefix(8))"
        stages[stage].candidate = superseded
        return [record("superseded", stage, superseded.revision, ["by": .string(revision)],
                       started ? [.promotionUpdated(phase: "superseded", reason: superseded.reason, authors: nil)] : [])]
    }

    /// Applies every rule that can fire now, until none does.
    private mutating func advance(now: Date) -> [PromotionEffect] {
        var effects: [PromotionEffect] = []
        var changed = true
        while changed {
            changed = false
            for index in stages.indices {
                guard var candidate = stages[index].candidate else { continue }
                switch candidate.phase {
                case .pending, .approved:
                    // A revision held by a rollback (after it got here) does not go on.
                    if holds.contains(candidate.revision), candidate.kind == "auto" || candidate.kind == "approved" {
                        let reason = "held after a rollback; release it to promote"
                        if candidate.blockedBy != reason {
                            candidate.blockedBy = reason
                            stages[index].candidate = candidate
                        }
                        continue
                    }
                    // Deny windows (or being outside every allow window) keep it from entering;
                    // they never interrupt a promotion already under way.
                    if let window = pipeline.stages[index].blockingWindow(at: now) {
                        let reason = "blocked by the \(window.effect.rawValue) window \(Self.describe(window))"
                        if candidate.blockedBy != reason {
                            candidate.blockedBy = reason
                            stages[index].candidate = candidate
                            effects.append(record("blocked-by-window", index, candidate.revision, ["window": .string(Self.describe(window))]))
                        }
                        continue
                    }
                    candidate.blockedBy = nil
                    candidate.phase = .promoting
                    candidate.since = now
                    candidate.from = stages[index].deployed
                    stages[index].candidate = candidate
                    // The intent is recorded before the ref moves; the driver moves it and
                    // reports back with `refMoved` (at once when the ref is already there).
                    var details: [String: JSONValue] = ["kind": .string(candidate.kind), "from": candidate.from.map(JSONValue.string) ?? .null,
                                                        "actor": .string(candidate.actor)]
                    if let reason = candidate.reason { details["reason"] = .string(reason) }
                    if !candidate.approvals.isEmpty { details["approvals"] = .array(candidate.approvals.map { .string($0.actor) }) }
                    effects.append(record("promoting", index, candidate.revision, details,
                                          [.promotionStarted(kind: candidate.kind, from: candidate.from, actor: candidate.actor,
                                                             reason: candidate.reason)]))
                    effects.append(.moveRef(stage: index, environment: stages[index].environment, from: candidate.from,
                                            to: candidate.revision))
                    changed = true
                case .syncing, .verifying:
                    // Fail closed: not synced, or synced but never Healthy, within the
                    // environment's sync timeout.
                    let timeout = syncTimeouts[stages[index].environment] ?? .seconds(300)
                    let gate = HealthSoak(soak: soak(index), healthySince: candidate.healthySince, pausedAt: candidate.soakPausedAt)
                    let last = stages[index].lastReport.flatMap { $0.revision == candidate.revision ? $0 : nil }
                    if !candidate.wasHealthy,
                       let reason = gate.timedOut(started: candidate.syncStartedAt ?? candidate.since, timeout: timeout, now: now,
                                                  synced: candidate.phase == .verifying) {
                        candidate.reason = reason + (last.map { " (last seen: \($0.synced ? "Synced" : "OutOfSync"), \($0.health.rawValue))" } ?? "")
                        candidate.phase = .failed
                        candidate.since = now
                        stages[index].candidate = candidate
                        effects.append(record("failed", index, candidate.revision, ["reason": .string(candidate.reason ?? "")],
                                              [.promotionUpdated(phase: "failed", reason: candidate.reason, authors: nil),
                                               .gateResult(gate: "health", passed: false, evidence: ["reason": .string(candidate.reason ?? "")])]))
                        changed = true
                        continue
                    }
                    // The soak has lasted long enough, and the latest pass still saw this revision
                    // synced and Healthy (an old Healthy report is not evidence of now).
                    guard candidate.phase == .verifying, let evidence = gate.passed(at: now),
                          let latest = stages[index].lastReport, latest.revision == candidate.revision, latest.synced,
                          latest.health == .healthy else { continue }
                    if GateRunner.hasChecks(pipeline.stages[index]), candidate.checks == nil {
                        // Health holds; now the HTTP and Prometheus gates, once.
                        if candidate.checksRequestedAt == nil {
                            candidate.checksRequestedAt = now
                            stages[index].candidate = candidate
                            effects.append(record("gates-evaluating", index, candidate.revision,
                                                  ["gates": .array(pipeline.stages[index].gates.map { .string($0.kind) })]))
                            effects.append(.evaluateGates(stage: index, revision: candidate.revision))
                        }
                        continue
                    }
                    candidate.phase = .verified
                    candidate.since = now
                    stages[index].candidate = candidate
                    stages[index].verified = candidate.revision
                    effects.append(record("verified", index, candidate.revision, ["soak": evidence["soak"] ?? .null],
                                          [.promotionUpdated(phase: "verified", reason: nil, authors: nil),
                                           .gateResult(gate: "health", passed: true, evidence: evidence)]))
                    // A rollback's revision stays where it was put.
                    if index + 1 < stages.count, candidate.kind != "rollback" {
                        effects += enter(stage: index + 1, revision: candidate.revision, now: now)
                    }
                    changed = true
                default:
                    continue
                }
            }
        }
        return effects
    }

    static func describe(_ window: DeployWindow) -> String {
        let days = window.days.count == 7 ? "every day" : window.days.map(\.rawValue).joined(separator: ", ")
        return "\(days) \(window.from)–\(window.to) (\(window.timezone))"
    }

    /// The health gate's soak for a stage (zero without a health gate: synced and Healthy once).
    private func soak(_ stage: Int) -> Duration {
        for gate in pipeline.stages[stage].gates {
            if case .health(let health) = gate { return health.soak.duration }
        }
        return .zero
    }

    static func seconds(_ duration: Duration) -> TimeInterval { TimeInterval(duration.totalMilliseconds) / 1000 }

    static func stamp(_ date: Date) -> String { date.formatted(.iso8601) }

    private func record(_ kind: String, _ stage: Int?, _ revision: String, _ details: [String: JSONValue] = [:],
                        _ records: [AuditRecord] = []) -> PromotionEffect {
        var details = details
        details["pipeline"] = .string(pipeline.name)
        if let stage { details["environment"] = .string(stages[stage].environment) }
        return .record(kind: kind, stage: stage, revision: revision, details: .object(details), records: records)
    }
}
