import AuditStore
import BatonCore
import Foundation
import Gates

extension PromotionMachine {
    // MARK: The rules

    /// `revision` becomes `stage`'s candidate, superseding one that has not left the stage.
    mutating func enter(stage: Int, revision: String, now: Date, kind: PromotionKind = .auto, actor: String = "baton",
                                reason: String? = nil) -> [PromotionEffect] {
        if kind == .auto, holds.contains(revision) {
            // A held revision does not disturb what the stage is doing.
            return [record("held", stage, revision, ["reason": "held after a rollback; release it to promote"])]
        }
        var effects: [PromotionEffect] = []
        var superseded: String?
        if let current = stages[stage].candidate {
            if current.revision == revision, kind == .auto, current.phase != .failed || stages[stage].deployed == revision { return [] }
            if !current.phase.isFinal {
                effects += supersede(stage: stage, by: revision, now: now)
                superseded = current.revision
            }
        }
        let manual = pipeline.stages[stage].promote == .manual
        stages[stage].candidate = Candidate(revision: revision, phase: manual ? .awaitingApproval : .pending, since: now, reason: reason,
                                            kind: kind, actor: actor, supersedes: superseded)
        var details: [String: JSONValue] = ["kind": .string(kind.rawValue)]
        if let reason { details["reason"] = .string(reason) }
        return effects + [record(manual ? "awaiting-approval" : "entered", stage, revision, details)]
    }

    mutating func supersede(stage: Int, by revision: String, now: Date) -> [PromotionEffect] {
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
    mutating func advance(now: Date) -> [PromotionEffect] {
        var effects: [PromotionEffect] = []
        var changed = true
        while changed {
            changed = false
            for index in stages.indices {
                guard var candidate = stages[index].candidate else { continue }
                switch candidate.phase {
                case .pending, .approved:
                    // A revision held by a rollback (after it got here) does not go on.
                    if holds.contains(candidate.revision), candidate.kind == .auto || candidate.kind == .approved {
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
                        let reason = "blocked by the \(window.effect.rawValue) window \(window)"
                        if candidate.blockedBy != reason {
                            candidate.blockedBy = reason
                            stages[index].candidate = candidate
                            effects.append(record("blocked-by-window", index, candidate.revision, ["window": .string(window.description)]))
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
                    var details: [String: JSONValue] = ["kind": .string(candidate.kind.rawValue), "from": candidate.from.map(JSONValue.string) ?? .null,
                                                        "actor": .string(candidate.actor)]
                    if let reason = candidate.reason { details["reason"] = .string(reason) }
                    if !candidate.approvals.isEmpty { details["approvals"] = .array(candidate.approvals.map { .string($0.actor) }) }
                    effects.append(record("promoting", index, candidate.revision, details,
                                          [.promotionStarted(kind: candidate.kind.rawValue, from: candidate.from, actor: candidate.actor,
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
                        if candidate.checksRequestedAt == nil, candidate.checksRetryAt.map({ now >= $0 }) ?? true {
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
                    if index + 1 < stages.count, candidate.kind != .rollback {
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

    /// The health gate's soak for a stage (zero without a health gate: synced and Healthy once).
    func soak(_ stage: Int) -> Duration {
        for gate in pipeline.stages[stage].gates {
            if case .health(let health) = gate { return health.soak.duration }
        }
        return .zero
    }

    func record(_ kind: String, _ stage: Int?, _ revision: String, _ details: [String: JSONValue] = [:],
                        _ records: [AuditRecord] = []) -> PromotionEffect {
        var details = details
        details["pipeline"] = .string(pipeline.name)
        if let stage { details["environment"] = .string(stages[stage].environment) }
        return .record(kind: kind, stage: stage, revision: revision, details: .object(details), records: records)
    }
}
