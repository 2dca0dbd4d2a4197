import BatonCore
import Foundation

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
}

public struct StageState: Sendable, Hashable, Codable {
    public var environment: String
    /// What the environment's ref points at.
    public var deployed: String?
    /// The last revision verified here.
    public var verified: String?
    public var candidate: Candidate?
}

/// What the machine asks its driver to do. It does no I/O itself.
public enum PromotionEffect: Sendable, Hashable {
    /// Move the environment's ref from `from` to `to` (compare-and-swap; report back with
    /// `.refMoved`).
    case moveRef(stage: Int, environment: String, from: String?, to: String)
    /// Write an audit event (before its effect becomes visible).
    case record(kind: String, stage: Int?, revision: String, details: JSONValue)
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

    public init(pipeline: PipelineConfig, syncTimeouts: [String: Duration] = [:]) {
        self.pipeline = pipeline
        self.syncTimeouts = syncTimeouts
        stages = pipeline.stages.map { StageState(environment: $0.environment) }
    }

    // MARK: Inputs

    /// A new head of the source branch: it enters the first stage.
    public mutating func commit(_ revision: String, now: Date) -> [PromotionEffect] {
        var effects = enter(stage: 0, revision: revision, now: now)
        effects += advance(now: now)
        return effects
    }

    /// The ref of `stage` now points at `revision` (the move the machine asked for, done).
    public mutating func refMoved(stage: Int, revision: String, now: Date) -> [PromotionEffect] {
        stages[stage].deployed = revision
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .promoting else {
            return advance(now: now)
        }
        candidate.phase = .syncing
        candidate.since = now
        stages[stage].candidate = candidate
        return [record("syncing", stage, revision)] + advance(now: now)
    }

    /// A reconciler pass of `stage`'s environment.
    public mutating func report(stage: Int, _ report: StatusReport, now: Date) -> [PromotionEffect] {
        guard var candidate = stages[stage].candidate, candidate.revision == report.revision,
              candidate.phase == .syncing || candidate.phase == .verifying else { return advance(now: now) }
        var effects: [PromotionEffect] = []
        if !report.errors.isEmpty || report.health == .degraded {
            let reason = report.errors.first ?? "the environment is Degraded"
            candidate.phase = .failed
            candidate.since = now
            candidate.reason = reason
            stages[stage].candidate = candidate
            return [record("failed", stage, candidate.revision, ["reason": .string(reason), "health": .string(report.health.rawValue)])]
                + advance(now: now)
        }
        if report.synced, candidate.phase == .syncing {
            candidate.phase = .verifying
            candidate.since = now
            effects.append(record("verifying", stage, candidate.revision))
        }
        if report.synced, report.health == .healthy {
            candidate.healthySince = candidate.healthySince ?? now
        } else if candidate.healthySince != nil {
            // Any drop restarts the soak: out of sync (an object changed or deleted) counts too.
            candidate.healthySince = nil
            effects.append(record("soak-restarted", stage, candidate.revision,
                                  ["health": .string(report.health.rawValue), "synced": .bool(report.synced)]))
        }
        stages[stage].candidate = candidate
        return effects + advance(now: now)
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
        if !policy.allowCommitAuthors, isCommitAuthor {
            throw Refusal(message: "\(actor) wrote a commit in this promotion and may not approve it")
        }
        if candidate.approvals.contains(where: { $0.actor == actor }) {
            throw Refusal(message: "\(actor) has already approved \(revision.prefix(8)) for \(environment)")
        }
        candidate.approvals.append(Approval(actor: actor, at: now, comment: comment))
        var effects = [record("approved-by", stage, revision, ["actor": .string(actor), "comment": comment.map(JSONValue.string) ?? .null,
                                                                "approvals": .int(Int64(candidate.approvals.count)),
                                                                "required": .int(Int64(policy.required))])]
        if candidate.approvals.count >= policy.required {
            candidate.phase = .approved
            candidate.since = now
            effects.append(record("approved", stage, revision))
        }
        stages[stage].candidate = candidate
        return effects + advance(now: now)
    }

    /// A rejection: final for `revision` in `stage`.
    public mutating func reject(stage: Int, revision: String, actor: String, reason: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        guard var candidate = stages[stage].candidate, candidate.revision == revision, !candidate.phase.isFinal else {
            throw Refusal(message: "\(revision.prefix(8)) is not waiting in \(stages[stage].environment)")
        }
        candidate.phase = .rejected
        candidate.since = now
        candidate.reason = reason
        stages[stage].candidate = candidate
        return [record("rejected", stage, revision, ["actor": .string(actor), "reason": .string(reason)])] + advance(now: now)
    }

    /// Holds `revision` back from auto-promotion (after a rollback replaced it).
    public mutating func hold(_ revision: String) { holds.insert(revision) }

    /// Lets a held revision promote again.
    public mutating func release(_ revision: String) { holds.remove(revision) }

    /// Time passing: soaks complete, syncs time out.
    public mutating func tick(now: Date) -> [PromotionEffect] { advance(now: now) }

    // MARK: The rules

    /// `revision` becomes `stage`'s candidate, superseding one that has not left the stage.
    private mutating func enter(stage: Int, revision: String, now: Date) -> [PromotionEffect] {
        if holds.contains(revision) {
            // A held revision does not disturb what the stage is doing.
            return [record("held", stage, revision, ["reason": "held after a rollback; release it to promote"])]
        }
        var effects: [PromotionEffect] = []
        if let current = stages[stage].candidate {
            if current.revision == revision { return [] }
            if !current.phase.isFinal {
                var superseded = current
                superseded.phase = .superseded
                superseded.since = now
                superseded.reason = "superseded by \(revision.prefix(8))"
                stages[stage].candidate = superseded
                effects.append(record("superseded", stage, current.revision, ["by": .string(revision)]))
            }
        }
        let manual = pipeline.stages[stage].promote == .manual
        stages[stage].candidate = Candidate(revision: revision, phase: manual ? .awaitingApproval : .pending, since: now)
        return effects + [record(manual ? "awaiting-approval" : "entered", stage, revision)]
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
                    // Deny windows (or being outside every allow window) keep it from entering;
                    // they never interrupt a promotion already under way.
                    if let window = pipeline.stages[index].blockingWindow(at: now) {
                        let reason = "blocked by the \(window.effect.rawValue) window \(Self.describe(window))"
                        if candidate.reason != reason {
                            candidate.reason = reason
                            stages[index].candidate = candidate
                            effects.append(record("blocked-by-window", index, candidate.revision, ["window": .string(Self.describe(window))]))
                        }
                        continue
                    }
                    candidate.reason = nil
                    candidate.phase = .promoting
                    candidate.since = now
                    stages[index].candidate = candidate
                    effects.append(record("promoting", index, candidate.revision))
                    effects.append(.moveRef(stage: index, environment: stages[index].environment, from: stages[index].deployed,
                                            to: candidate.revision))
                    if stages[index].deployed == candidate.revision {
                        // The ref is already there (a restart after the move): no move needed.
                        candidate.phase = .syncing
                        stages[index].candidate = candidate
                    }
                    changed = true
                case .syncing:
                    let timeout = syncTimeouts[stages[index].environment] ?? .seconds(300)
                    if now.timeIntervalSince(candidate.since) > Self.seconds(timeout) {
                        candidate.phase = .failed
                        candidate.reason = "not synced within \(TimeSpan(timeout))"
                        candidate.since = now
                        stages[index].candidate = candidate
                        effects.append(record("failed", index, candidate.revision, ["reason": .string(candidate.reason ?? "")]))
                        changed = true
                    }
                case .verifying:
                    guard let healthySince = candidate.healthySince,
                          now.timeIntervalSince(healthySince) >= soak(index) else { continue }
                    candidate.phase = .verified
                    candidate.since = now
                    stages[index].candidate = candidate
                    stages[index].verified = candidate.revision
                    effects.append(record("verified", index, candidate.revision, ["soak": .string(TimeSpan(.seconds(Int64(soak(index)))).description)]))
                    if index + 1 < stages.count, !holds.contains(candidate.revision) {
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

    /// The health gate's soak for a stage, in seconds (0 without a health gate).
    private func soak(_ stage: Int) -> Double {
        for gate in pipeline.stages[stage].gates {
            if case .health(let health) = gate {
                return Self.seconds(health.soak.duration)
            }
        }
        return 0
    }

    static func seconds(_ duration: Duration) -> TimeInterval { TimeInterval(duration.totalMilliseconds) / 1000 }

    private func record(_ kind: String, _ stage: Int?, _ revision: String, _ details: [String: JSONValue] = [:]) -> PromotionEffect {
        var details = details
        details["pipeline"] = .string(pipeline.name)
        if let stage { details["environment"] = .string(stages[stage].environment) }
        return .record(kind: kind, stage: stage, revision: revision, details: .object(details))
    }
}
