import AuditStore
import BatonCore
import Foundation
import Gates

extension PromotionMachine {
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
        // With an allowed_signers file, who may approve is whoever it names: the driver has
        // checked the signature against it.
        if !policy.approvers.isEmpty, policy.allowedSigners == nil, !policy.approvers.contains(actor) {
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
            if candidate.kind == .auto { candidate.kind = .approved }
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
        var effects = enter(stage: stage, revision: revision, now: now, kind: force ? .forced : .manual, actor: actor, reason: reason)
        effects += advance(now: now)
        return effects
    }

    /// `baton rollback`: `stage`'s ref goes back to `revision` (anywhere, not only forward),
    /// and the revision it replaces is held so auto-promotion does not bring it back.
    /// A rollback of `stage` to `revision`; `breakGlass` when it goes to a revision the
    /// environment never verified (the driver checks which; here it is only recorded).
    public mutating func rollback(stage: Int, to revision: String, actor: String, reason: String, breakGlass: Bool = false,
                                  now: Date) throws(Refusal) -> [PromotionEffect] {
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
        let shown = breakGlass ? "break glass: " + reason : reason
        stages[stage].candidate = Candidate(revision: revision, phase: .promoting, since: now, reason: shown, kind: .rollback, actor: actor,
                                            from: replaced)
        effects.append(record("promoting", stage, revision, ["kind": .string(PromotionKind.rollback.rawValue), "from": .string(replaced), "reason": .string(shown),
                                                             "actor": .string(actor), "breakGlass": .bool(breakGlass)],
                              [.promotionStarted(kind: PromotionKind.rollback.rawValue, from: replaced, actor: actor, reason: shown)]))
        effects.append(.moveRef(stage: stage, environment: environment, from: replaced, to: revision))
        return effects + advance(now: now)
    }

    /// Lets a held revision promote again: it re-enters the first stage that does not run it
    /// and that it may enter (the stage before verified it; the first stage: it is the head).
    /// What a stage runs is its ref, not what it last verified: during the rollback's own
    /// verification the stage still lists the held revision as verified (a release then once
    /// re-entered nowhere, and the revision never came back).
    public mutating func release(_ revision: String, actor: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        guard holds.contains(revision) else { throw Refusal(message: "\(revision.prefix(8)) is not held") }
        holds.remove(revision)
        var effects = [record("released", nil, revision, ["actor": .string(actor)])]
        let target = stages.indices.first { index in
            stages[index].deployed != revision && (index == 0 ? head == revision : stages[index - 1].verified == revision)
        }
        if let target { effects += enter(stage: target, revision: revision, now: now) }
        return effects + advance(now: now)
    }

    /// Holds `revision` back from auto-promotion (what a rollback does).
    public mutating func hold(_ revision: String) { holds.insert(revision) }

}
