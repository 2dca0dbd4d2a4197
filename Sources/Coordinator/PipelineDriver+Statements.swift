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

    /// The decision as its signature proves it: the approver whose key signed is the actor,
    /// whether they wrote a commit of the promotion is found here, and the statement is kept
    /// in an event. A refusal says why.
    func verifySigned(_ request: InboxRequest, stage: Int, at time: Date) async
        -> Result<(Decision, String, [EventDraft]), Refusal> {
        let environment = pipeline.chain[stage]
        guard let data = request.statement, let armored = request.signature else {
            return .failure(Refusal(message: "approvals of \(environment) must be signed by an approver's SSH key "
                                    + "(baton approve \(pipeline.name) \(environment) --key FILE)"))
        }
        guard let trusted = trust[environment] else {
            return .failure(Refusal(message: "this coordinator has no approver keys for \(environment); it cannot check the signature"))
        }
        let verified: TrustedApprovers.Verified
        do {
            verified = try trusted.verify(statement: data, signature: armored, at: time)
        } catch {
            return .failure(Refusal(message: "the signature is refused: \(error.message)"))
        }
        let statement = verified.statement
        guard case .approve(_, let revision, _, _) = request.decision, statement.verb == .approve, statement.pipeline == pipeline.name,
              statement.environment == environment, statement.revision == revision else {
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
        let authors: [String]
        do {
            authors = try await refs.commitAuthors(from: machine.stages[stage].deployed, to: revision)
        } catch {
            return .failure(Refusal(message: "cannot read the commits up to \(revision.prefix(8)) to check who wrote them: \(error)"))
        }
        let approver = verified.approver
        let isAuthor = authors.contains { $0.caseInsensitiveCompare(approver) == .orderedSame }
        var details = Self.evidence(request)
        details["key"] = .string(verified.key.description)
        details["nonce"] = .string(statement.nonce)
        details["verb"] = .string(statement.verb.rawValue)
        details["osUser"] = .string(statement.osUser)
        details["host"] = .string(statement.host)
        details["signedAt"] = .string(statement.time)
        let kept = EventDraft(kind: AuditStore.statementVerified, actor: approver, pipeline: pipeline.name, environment: environment,
                              revision: revision, details: .object(details))
        return .success((.approve(environment: environment, revision: revision, isCommitAuthor: isAuthor, comment: statement.text),
                         approver, [kept]))
    }

    /// A request's statement and signature as the audit log keeps them (with a refusal too).
    static func evidence(_ request: InboxRequest) -> [String: JSONValue] {
        guard let data = request.statement else { return [:] }
        return ["statement": .string(String(decoding: data.prefix(Statement.maximumLength), as: UTF8.self)),
                "signature": request.signature.map { .string(String($0.prefix(SSHSignature.maximumArmoredLength))) } ?? .null]
    }
}
