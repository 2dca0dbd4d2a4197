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

    /// Who may sign the commits of each stage that requires signed commits (`approval.
    /// requireSignedCommits`, `commitSigners`), from the configuration folder `directory`.
    public static func commitSigners(for pipeline: PipelineConfig, directory: String) throws(SignatureError) -> [String: CommitSigners] {
        var signers: [String: CommitSigners] = [:]
        for stage in pipeline.stages {
            guard let policy = stage.effectiveApproval, let trusted = try CommitSigners(policy, directory: directory) else { continue }
            signers[stage.environment] = trusted
        }
        return signers
    }

    /// Why a signed decision was refused, and the statement used up by it (its signature had
    /// verified), kept with the refusal.
    struct SignedRefusal: Error {
        var message: String
        var used: EventDraft?
    }

    /// How old a statement may be when it arrives, and how far ahead of this machine's clock.
    static let statementLifetime: TimeInterval = 24 * 3600
    static let clockSkew: TimeInterval = 10 * 60

    /// The decision as its signature proves it, built from the signed statement alone: the
    /// approver whose key signed is the actor; whether they wrote a commit of the promotion,
    /// and whether a promoted revision was verified before, are found here; the statement is
    /// kept in an event. A refusal says why.
    func verifySigned(_ request: InboxRequest, environments: [String], at time: Date) async
        -> Result<(Decision, String, [EventDraft]), SignedRefusal> {
        let asked = request.decision
        let place = asked.environment ?? pipeline.name
        let trusted = environments.compactMap { trust[$0] }
        guard !trusted.isEmpty else {
            return .failure(SignedRefusal(message: "pipeline \(pipeline.name) is identity: verified but no approver keys can sign a "
                                          + "\(asked.attempt) in \(place): declare approvers with keys, or set identity: unverified"))
        }
        guard let data = request.statement, let armored = request.signature else {
            return .failure(SignedRefusal(message: "\(asked.attempt)s in \(place) must be signed by an approver's SSH key (--key FILE)"))
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
            return .failure(SignedRefusal(message: "the signature is refused: \(problem?.message ?? "no approver's key")"))
        }
        let statement = verified.statement
        var details = Self.evidence(request)
        details["key"] = .string(verified.key.description)
        details["nonce"] = .string(statement.nonce)
        details["verb"] = .string(statement.verb.rawValue)
        details["osUser"] = .string(statement.osUser)
        details["host"] = .string(statement.host)
        details["signedAt"] = .string(statement.time)
        let kept = EventDraft(kind: AuditStore.statementVerified, actor: verified.approver, pipeline: pipeline.name,
                              environment: statement.environment, revision: statement.revision, details: .object(details))
        let used: Bool
        do {
            used = try ledger.audit.statementNonceUsed(statement.nonce)
        } catch {
            return .failure(SignedRefusal(message: "\(error)"))
        }
        // From here the signature is good: a refusal uses the statement up (unless it was).
        func refused(_ message: String) -> Result<(Decision, String, [EventDraft]), SignedRefusal> {
            .failure(SignedRefusal(message: message, used: used ? nil : kept))
        }
        guard statement.verb.rawValue == Self.verb(of: asked), statement.pipeline == pipeline.name,
              statement.environment == asked.environment, statement.revision == asked.revision else {
            return refused("the signed statement \(statement.verb.rawValue)s \(statement.revision.prefix(8)) for "
                           + "\(statement.pipeline)/\(statement.environment ?? "-"), not what was asked")
        }
        if used { return refused("this signed statement was used before (nonce \(statement.nonce)): a replay") }
        guard let signedAt = try? Date(statement.time, strategy: .iso8601),
              time.timeIntervalSince(signedAt) <= Self.statementLifetime, signedAt.timeIntervalSince(time) <= Self.clockSkew else {
            return refused("the statement was signed at \(statement.time), too long ago or ahead of this coordinator's clock "
                           + "(statements are good for 24 hours)")
        }
        let approver = verified.approver
        let revision = statement.revision
        let decision: Decision
        switch statement.verb {
        case .approve:
            guard let stage = pipeline.chain.firstIndex(of: statement.environment ?? "") else {
                return refused("pipeline \(pipeline.name) has no stage \(statement.environment ?? "-")")
            }
            let authors: [String]
            do {
                authors = try await refs.commitAuthors(from: machine.stages[stage].deployed, to: revision)
            } catch {
                return refused("cannot read the commits up to \(revision.prefix(8)) to check who wrote them: \(error)")
            }
            var isAuthor = authors.contains { $0.caseInsensitiveCompare(approver) == .orderedSame }
            if let signers = commitSigners[statement.environment ?? ""] {
                // Signed commits: the keys that signed them are compared with the approver's
                // keys, and their committers with the approver too.
                let checks = await refs.commitSignatures(from: machine.stages[stage].deployed, to: revision, signers: signers, at: time)
                // Refused at once: such a revision would never move (the move checks them too).
                if let reason = Self.unsigned(checks, environment: statement.environment ?? "", signers: signers) {
                    return refused(reason)
                }
                let stageTrust = trust[statement.environment ?? ""]
                let approverKeys = stageTrust.map { keys in keys.keys(at: time).filter { keys.approver(for: $0, at: time) == approver } } ?? []
                for check in checks {
                    let committed = check.committer.caseInsensitiveCompare(approver) == .orderedSame
                    var signedIt = false
                    if let signer = check.signer {
                        signedIt = signer.key == verified.key || approverKeys.contains(signer.key)
                            || signer.principals.contains { $0.caseInsensitiveCompare(approver) == .orderedSame }
                    }
                    if committed || signedIt { isAuthor = true }
                }
            }
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
        stage > 0 && wasVerified(revision, in: pipeline.chain[stage - 1])
    }

    /// Whether `revision` was ever verified in `environment`, by the audit log.
    func wasVerified(_ revision: String, in environment: String) -> Bool {
        (try? ledger.audit.promotions(pipeline: pipeline.name, environment: environment, revision: revision))?
            .contains { $0.phase == "verified" } ?? false
    }

    /// A request's statement and signature as the audit log keeps them (with a refusal too).
    static func evidence(_ request: InboxRequest) -> [String: JSONValue] {
        guard let data = request.statement else { return [:] }
        return ["statement": .string(String(decoding: data.prefix(Statement.maximumLength), as: UTF8.self)),
                "signature": request.signature.map { .string(String($0.prefix(SSHSignature.maximumArmoredLength))) } ?? .null]
    }
}
