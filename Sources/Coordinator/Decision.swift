import AuditStore
import BatonCore
import Foundation

/// A decision a person makes with a CLI command. It reaches the pipeline's driver through the
/// database inbox, and the driver applies it to the machine as an input: a command never
/// changes the saved machine or moves a ref itself. Stages are named by environment, so a
/// decision read after a configuration change still means what its author meant.
public enum Decision: Sendable, Hashable, Codable {
    case approve(environment: String, revision: String, isCommitAuthor: Bool, comment: String?)
    case reject(environment: String, revision: String, reason: String)
    case promote(environment: String, revision: String, verifiedBefore: Bool, force: Bool, reason: String?)
    /// `breakGlass`: to a revision the environment never verified (nil in what older Batons wrote).
    case rollback(environment: String, revision: String, reason: String, breakGlass: Bool?)
    case release(revision: String)

    /// What the audit log calls an attempt of this kind (`approval-refused`, …).
    public var attempt: String {
        switch self {
        case .approve: "approval"
        case .reject: "rejection"
        case .promote: "promotion"
        case .rollback: "rollback"
        case .release: "release"
        }
    }

    public var environment: String? {
        switch self {
        case .approve(let environment, _, _, _), .reject(let environment, _, _), .promote(let environment, _, _, _, _),
             .rollback(let environment, _, _, _):
            environment
        case .release:
            nil
        }
    }

    public var revision: String {
        switch self {
        case .approve(_, let revision, _, _), .reject(_, let revision, _), .promote(_, let revision, _, _, _),
             .rollback(_, let revision, _, _), .release(let revision):
            revision
        }
    }

    /// What a refusal's audit event keeps besides the reason.
    var refusalDetails: [String: JSONValue] {
        switch self {
        case .approve(_, _, _, let comment): ["comment": comment.map(JSONValue.string) ?? .null]
        case .promote(_, _, _, let force, _): ["force": .bool(force)]
        default: [:]
        }
    }

    /// Applies the decision to `machine` as `actor`.
    func apply(to machine: inout PromotionMachine, actor: String, now: Date) throws(Refusal) -> [PromotionEffect] {
        var stage = 0
        if let environment {
            guard let index = machine.stage(of: environment) else {
                throw Refusal(message: "pipeline \(machine.pipeline.name) has no stage \(environment)")
            }
            stage = index
        }
        switch self {
        case .approve(_, let revision, let isCommitAuthor, let comment):
            return try machine.approve(stage: stage, revision: revision, actor: actor, isCommitAuthor: isCommitAuthor, comment: comment, now: now)
        case .reject(_, let revision, let reason):
            return try machine.reject(stage: stage, revision: revision, actor: actor, reason: reason, now: now)
        case .promote(_, let revision, let verifiedBefore, let force, let reason):
            return try machine.promote(stage: stage, revision: revision, actor: actor, verifiedBefore: verifiedBefore, force: force,
                                       reason: reason, now: now)
        case .rollback(_, let revision, let reason, let breakGlass):
            return try machine.rollback(stage: stage, to: revision, actor: actor, reason: reason, breakGlass: breakGlass ?? false, now: now)
        case .release(let revision):
            return try machine.release(revision, actor: actor, now: now)
        }
    }

    public func encoded() -> Data {
        // A plain enum of strings and booleans always encodes.
        (try? JSONEncoder.ledger.encode(self)) ?? Data()
    }
}

/// What a CLI command writes to the inbox: the decision and, when it was signed, the signed
/// statement's bytes and the armoured signature. The driver believes only the signature.
public struct InboxRequest: Sendable, Hashable, Codable {
    public var decision: Decision
    public var statement: Data?
    public var signature: String?

    public init(decision: Decision, statement: Data? = nil, signature: String? = nil) {
        self.decision = decision
        self.statement = statement
        self.signature = signature
    }

    public func encoded() -> Data {
        (try? JSONEncoder.ledger.encode(self)) ?? Data()
    }

    /// Reads an inbox body: a request, or a bare decision as Baton wrote them before.
    static func decode(_ body: Data) throws -> InboxRequest {
        if let request = try? JSONDecoder.ledger.decode(InboxRequest.self, from: body) { return request }
        return InboxRequest(decision: try JSONDecoder.ledger.decode(Decision.self, from: body))
    }
}
