import AuditStore
import BatonCore
import Foundation
import Gates

/// The promotion state machine of one pipeline: pure, driven by inputs and a clock the caller
/// passes in. Per stage: a candidate revision goes `pending → promoting → syncing → verifying
/// → verified | failed`; manual stages wait in `awaiting-approval` until the quorum approves.
/// A newer revision supersedes a candidate that has not left its stage. The health gate: a soak (synced at exactly this revision and Healthy for `soak` without a drop; a sync
/// error or Degraded fails it; not synced within the environment's `sync.timeout` fails it).
/// Deploy windows keep revisions from entering a stage (never interrupt one in progress).
/// After the soak, the stage's HTTP and Prometheus gates are asked for (`evaluateGates`) and
/// their verdicts taken (`gatesEvaluated`). Inputs are in this file, decisions in
/// `+Decisions`, the rules that fire on every input in `+Rules`.
public struct PromotionMachine: Sendable {
    public let pipeline: PipelineConfig
    /// Per environment, how long a sync may take before the revision fails there.
    public let syncTimeouts: [String: Duration]
    public internal(set) var stages: [StageState]
    /// Revisions a rollback holds back from auto-promotion until released.
    public internal(set) var holds: Set<String> = []
    /// The head of the source branch last fed in with `commit`.
    public internal(set) var head: String?

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
                if pipeline.stages[index].promote == .manual, candidate.phase == .pending, candidate.kind == .auto {
                    candidate.phase = .awaitingApproval
                } else if pipeline.stages[index].promote == .auto, candidate.phase == .awaitingApproval {
                    candidate.phase = .pending
                }
                stages[index].candidate = candidate
            }
        }
    }

    /// Whether time passing can change something: a revision waits to enter a stage (deploy
    /// windows), is being promoted, synced or soaked. Stages with nothing under way (or only a
    /// revision waiting for approval) need no ticks.
    public var needsTime: Bool {
        stages.contains { [.pending, .approved, .promoting, .syncing, .verifying].contains($0.candidate?.phase) }
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
        if report.unavailable {
            if candidate.outage == nil {
                let reason = report.errors.first ?? "the cluster did not answer"
                candidate.outage = ClusterOutage(since: now, passes: 0, reason: reason)
                effects.append(record("cluster-unavailable", stage, candidate.revision, ["reason": .string(reason)]))
            }
            candidate.outage?.passes += 1
        } else if let outage = candidate.outage {
            candidate.outage = nil
            effects.append(record("cluster-available", stage, candidate.revision, [
                "unavailableSeconds": .double((now.timeIntervalSince(outage.since) * 10).rounded() / 10),
                "unavailablePasses": .int(Int64(outage.passes)), "reason": .string(outage.reason),
            ]))
        }
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
            // Gates asked for after the next soak start their wait for a verdict afresh.
            candidate.checksUnknownSince = nil
            candidate.checksRetryAt = nil
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
    /// still holds: verified. One failed: the revision fails there. One could not measure
    /// (`unknown`: Prometheus down, the URL refusing connections): no verdict — the gates are
    /// asked again after `gateRetryDelay`, and only when that lasts the environment's
    /// `sync.timeout` does the revision fail. Health dropped meanwhile: the verdicts are set
    /// aside and asked for again after the next soak.
    public mutating func gatesEvaluated(stage: Int, revision: String, outcomes: [GateOutcome], now: Date) -> [PromotionEffect] {
        guard var candidate = stages[stage].candidate, candidate.revision == revision, candidate.phase == .verifying,
              candidate.checksRequestedAt != nil else { return [] }
        let soaked = HealthSoak(soak: soak(stage), healthySince: candidate.healthySince, pausedAt: candidate.soakPausedAt).passed(at: now) != nil
        let records: [AuditRecord] = outcomes.map { outcome in
            var evidence = outcome.evidence.object ?? [:]
            evidence["summary"] = .string(outcome.summary)
            return .gateResult(gate: outcome.gate, passed: outcome.passed, evidence: .object(evidence))
        }
        var details: [String: JSONValue] = ["gates": .array(outcomes.map { .string("\($0.verdict.rawValue): " + $0.summary) })]
        let timeout = syncTimeouts[stages[stage].environment] ?? .seconds(300)
        var failure = outcomes.first { $0.verdict == .failed }.map { "gate \($0.gate) failed: \($0.summary)" }
        if failure == nil, let unknown = outcomes.first(where: { $0.verdict == .unknown }) {
            let since = candidate.checksUnknownSince ?? now
            if now.timeIntervalSince(since) * 1000 >= Double(timeout.totalMilliseconds) {
                failure = "gate \(unknown.gate) could not be evaluated for \(TimeSpan(timeout)) (the environment's sync.timeout): \(unknown.summary)"
            } else {
                // No verdict: the revision waits, and the gates are asked again a little later.
                let first = candidate.checksUnknownSince == nil
                candidate.checksUnknownSince = since
                candidate.checksRequestedAt = nil
                candidate.checksRetryAt = now.addingTimeInterval(Double(Self.gateRetryDelay.totalMilliseconds) / 1000)
                stages[stage].candidate = candidate
                guard first else { return [] }
                details["reason"] = .string("gate \(unknown.gate) could not be evaluated: \(unknown.summary)")
                details["retryEvery"] = .string(TimeSpan(Self.gateRetryDelay).description)
                return [record("gates-unknown", stage, revision, details)]
            }
        }
        if let failure {
            candidate.phase = .failed
            candidate.since = now
            candidate.reason = failure
            candidate.checks = outcomes
            stages[stage].candidate = candidate
            return [record("failed", stage, revision, details.merging(["reason": .string(failure)]) { $1 },
                           records + [.promotionUpdated(phase: "failed", reason: candidate.reason, authors: nil)])] + advance(now: now)
        }
        candidate.checksUnknownSince = nil
        candidate.checksRetryAt = nil
        guard soaked else {
            candidate.checksRequestedAt = nil
            stages[stage].candidate = candidate
            return [record("gates-set-aside", stage, revision, details.merging(["reason": "health dropped while the gates ran"]) { $1 }, records)]
        }
        candidate.checks = outcomes
        stages[stage].candidate = candidate
        return [record("gates-passed", stage, revision, details, records)] + advance(now: now)
    }

    /// Time passing: soaks complete, syncs time out.
    public mutating func tick(now: Date) -> [PromotionEffect] { advance(now: now) }

    /// How long gates that could not measure wait before they are asked again.
    public static let gateRetryDelay: Duration = .seconds(10)

}
