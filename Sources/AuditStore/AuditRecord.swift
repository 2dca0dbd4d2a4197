import BatonCore
import Foundation

/// A fact an event carries into a table of its own, so that promotions, approvals, gate
/// results and sync results can be queried without reading every event. Each row keeps the
/// sequence of the event that wrote it: the hash chain vouches for it.
public enum AuditRecord: Sendable, Hashable {
    /// A promotion starts: the event's environment ref is about to move to its revision.
    /// `kind` is `auto`, `approved`, `manual`, `forced` or `rollback`.
    case promotionStarted(kind: String, from: String?, actor: String, reason: String?)
    /// The latest promotion of the event's revision into its environment changed phase;
    /// `authors` once the ref has moved (the git authors of the commits it brought).
    case promotionUpdated(phase: String, reason: String?, authors: [String]?)
    /// An approval (`approve`) or a rejection (`reject`) of the event's revision for its
    /// environment.
    case decision(decision: String, actor: String, comment: String?)
    /// A gate's verdict on the event's revision in its environment, with what it saw.
    case gateResult(gate: String, passed: Bool, evidence: JSONValue)
    /// What a sync of the event's environment did, object by object.
    case syncResult(objects: [SyncedObject], errors: [String])
}

/// One object a sync created, updated or pruned.
public struct SyncedObject: Sendable, Hashable, Codable {
    public var kind: String
    public var group: String
    public var namespace: String
    public var name: String
    public var action: String
    public var error: String?

    public init(kind: String, group: String, namespace: String, name: String, action: String, error: String? = nil) {
        self.kind = kind
        self.group = group
        self.namespace = namespace
        self.name = name
        self.action = action
        self.error = error
    }
}

/// A row of the promotion table.
public struct PromotionRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var pipeline: String
    public var environment: String
    public var revision: String
    public var from: String?
    public var kind: String
    public var phase: String
    public var reason: String?
    /// Who started it: `baton` for automatic promotions.
    public var actor: String
    public var authors: [String]
    public var startedAt: String
    public var updatedAt: String
    /// The event that started it.
    public var sequence: Int64
}

/// A row of the decision table: an approval or a rejection.
public struct DecisionRecord: Sendable, Hashable, Codable {
    public var pipeline: String
    public var environment: String
    public var revision: String
    public var decision: String
    public var actor: String
    public var osUser: String
    public var comment: String?
    public var time: String
    public var sequence: Int64
}

/// A row of the gate-result table.
public struct GateRecord: Sendable, Hashable, Codable {
    public var pipeline: String
    public var environment: String
    public var revision: String
    public var gate: String
    public var passed: Bool
    public var evidence: JSONValue
    public var time: String
    public var sequence: Int64
}

/// What a sync did to one object, with the sync's time and revision.
public struct ObjectChange: Sendable, Hashable, Codable {
    public var environment: String
    public var revision: String
    public var action: String
    public var error: String?
    public var time: String
    public var actor: String
    public var sequence: Int64
}
