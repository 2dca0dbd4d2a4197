import AuditStore
import BatonCore
import Foundation
import Signatures

/// Signed decisions (DESIGN.md §10): an approval of a stage whose approvers have keys counts
/// only as a statement signed by one of those keys, checked here against this coordinator's
/// configuration, never the command's.
extension PipelineDriver {
    /// Reads the approvers' keys of every stage whose approvals are signed; `directory` is the
    /// configuration folder. A problem names where the key or file was written.
    public static func trust(for pipeline: PipelineConfig, directory: String) throws(SignatureError) -> [String: TrustedApprovers] {
        var trust: [String: TrustedApprovers] = [:]
        for stage in pipeline.stages {
            guard let policy = stage.effectiveApproval, policy.requiresSignatures else { continue }
            trust[stage.environment] = try TrustedApprovers(policy, directory: directory)
        }
        return trust
    }

    /// The environments whose approvers must sign `decision`: its stage's, when that stage's
    /// approvals are signed; for a release (pipeline-wide), every such stage's (any one of
    /// their approvers may sign it).
    func signingEnvironments(for decision: Decision) -> [String] {
        let signed = pipeline.stages.filter { $0.effectiveApproval?.requiresSignatures == true }.map(\.environment)
        guard let environment = decision.environment else { return signed }
        return signed.contains(environment) ? [environment] : []
    }

    /// The decision as its signature proves it, built from the signed statement alone: the
    /// approver whose key signed is the actor; whether they wrote a commit of the promotion,
    /// and whether a promoted revision was verified before, are found here; the statement is
    /// kept in an event. A refusal says why.
    func verifySigned(_ request: InboxRequest, environments: [String], at time: Date) async
        -> Result<(Decision, String, [EventDraft]), Refusal> {
        let asked = request.decision
        let place = asked.environment ?? pipeline.name
        guard let data = request.statement, let armored = request.signature else {
            return .failure(Refusal(message: "\(asked.attempt)s in \(place) must be signed by an approver's SSH key (--key FILE)"))
        }
        let trusted = environments.compactMap { trust[$0] }
        guard !trusted.isEmpty else {
            return .failure(Refusal(message: "this coordinator has no approver keys for \(place); it cannot check the signature"))
        }
        var verified: TrustedApprovers.Verified?
        var problem: SignatureError?
        for approvers in trusted {
            do {
                verified = try approvers.verify(statement: data, signature: armored, at: time)
                break
            } catch {
                // Another stage's approvers may know the key; a signature that is bad is bad.
                if problem == nil || error.kind != .unknownKey { problem = error }
            }
        }
        guard let verified else {
            return .failure(Refusal(message: "the signature is refused: \(problem?.message ?? "no approver's key")"))
        }
        let statement = verified.statement
        guard statement.verb.rawValue == Self.verb(of: asked), statement.pipeline == pipeline.name,
              statement.environment == asked.environment, statement.revision == asked.revision else {
            return .failure(Refusal(message: "the signed statement \(statement.verb.rawValue)s \(statement.revision.prefix(8)) for "
                                    + "\(statement.pipeline)/\(statement.environment ?? "-"), not what was asked"))
        }
        do {
            if try ledger.audit.statementNonceUsed(statement.nonce) {
                return .failure(Refusal(message: "this signed statement was used before (nonce \(statement.nonce)): a replay"))
            }
        } catch {
            return .failure(Refusal(message: "\(error)"))
        }
        let approver = verified.approver
        let revision = statement.revision
        let decision: Decision
        switch statement.verb {
        case .approve:
            guard let stage = pipeline.chain.firstIndex(of: statement.environment ?? "") else {
                return .failure(Refusal(message: "pipeline \(pipeline.name) has no stage \(statement.environment ?? "-")"))
            }
            let authors: [String]
            do {
                authors = try await refs.commitAuthors(from: machine.stages[stage].deployed, to: revision)
            } catch {
                return .failure(Refusal(message: "cannot read the commits up to \(revision.prefix(8)) to check who wrote them: \(error)"))
            }
            let isAuthor = authors.contains { $0.caseInsensitiveCompare(approver) == .orderedSame }
            decision = .approve(environment: statement.environment ?? "", revision: revision, isCommitAuthor: isAuthor, comment: statement.text)
        case .reject:
            decision = .reject(environment: statement.environment ?? "", revision: revision, reason: statement.text ?? "")
        case .promote:
            // Recomputed by handle() from the audit log whatever the request says.
            decision = .promote(environment: statement.environment ?? "", revision: revision, verifiedBefore: false,
                                force: statement.force ?? false, reason: statement.text)
        case .rollback:
            decision = .rollback(environment: statement.environment ?? "", revision: revision, reason: statement.text ?? "",
                                 breakGlass: statement.breakGlass)
        case .release:
            decision = .release(revision: revision)
        }
        var details = Self.evidence(request)
        details["key"] = .string(verified.key.description)
        details["nonce"] = .string(statement.nonce)
        details["verb"] = .string(statement.verb.rawValue)
        details["osUser"] = .string(statement.osUser)
        details["host"] = .string(statement.host)
        details["signedAt"] = .string(statement.time)
        let kept = EventDraft(kind: AuditStore.statementVerified, actor: approver, pipeline: pipeline.name, environment: statement.environment,
                              revision: revision, details: .object(details))
        return .success((decision, approver, [kept]))
    }

    /// The statement verb a decision is signed as.
    static func verb(of decision: Decision) -> String {
        switch decision {
        case .approve: Statement.Verb.approve.rawValue
        case .reject: Statement.Verb.reject.rawValue
        case .promote: Statement.Verb.promote.rawValue
        case .rollback: Statement.Verb.rollback.rawValue
        case .release: Statement.Verb.release.rawValue
        }
    }

    /// Whether `revision` was verified in the stage before `stage` (read from the audit log,
    /// never taken from the command that asks).
    func verifiedBefore(stage: Int, revision: String) -> Bool {
        guard stage > 0 else { return false }
        return (try? ledger.audit.promotions(pipeline: pipeline.name, environment: pipeline.chain[stage - 1], revision: revision))?
            .contains { $0.phase == "verified" } ?? false
    }

    /// A request's statement and signature as the audit log keeps them (with a refusal too).
    static func evidence(_ request: InboxRequest) -> [String: JSONValue] {
        guard let data = request.statement else { return [:] }
        return ["statement": .string(String(decoding: data.prefix(Statement.maximumLength), as: UTF8.self)),
                "signature": request.signature.map { .string(String($0.prefix(SSHSignature.maximumArmoredLength))) } ?? .null]
    }
}
