import BatonCore
import Foundation
import GRDB

/// One change to an object, with what led to it: the promotion that brought its revision, the
/// approvals of that promotion, and the gate results recorded for the revision before it.
public struct ObjectHistoryEntry: Sendable, Hashable {
    public var change: ObjectChange
    public var promotion: PromotionRecord?
    public var approvals: [DecisionRecord]
    public var gates: [GateRecord]
}

extension AuditStore {
    /// Migration v5: events found by revision (what `objectHistory` looks up).
    static func migrateRevisionIndex(_ db: Database) throws {
        try db.create(index: "event_by_revision", on: "event", columns: ["revision", "sequence"])
    }

    /// Every change syncs made to one object in `environment` (as `objectChanges`), each with
    /// its promotion, approvals and gate results: `baton audit who-changed`. A fixed number of
    /// queries whatever the number of changes, not a few per change.
    public func objectHistory(environment: String, kind: String, name: String) throws(AuditError) -> [ObjectHistoryEntry] {
        let changes = try objectChanges(environment: environment, kind: kind, name: name)
        guard !changes.isEmpty else { return [] }
        let revisions = Array(Set(changes.map(\.revision)))
        let marks = Array(repeating: "?", count: revisions.count).joined(separator: ",")
        let (promotions, decisions, rounds, gates) = try query { db in
            let scoped = StatementArguments([environment] + revisions)
            let promotions = try Row.fetchAll(db, sql: "SELECT * FROM promotion WHERE environment = ? AND revision IN (\(marks)) ORDER BY id",
                                              arguments: scoped).map(Self.promotion)
            let decisions = try Row.fetchAll(db, sql: "SELECT * FROM decision WHERE environment = ? AND revision IN (\(marks)) ORDER BY sequence",
                                             arguments: scoped).map(Self.decision)
            // By revision: with the environment in the query too, SQLite's planner would pick
            // event_by_environment and walk every event of the environment (69 ms of 100k).
            let rounds = try Row.fetchAll(db, sql: "SELECT pipeline, revision, sequence FROM event INDEXED BY event_by_revision "
                                              + "WHERE revision IN (\(marks)) "
                                              + "AND environment = ? AND kind = 'awaiting-approval' ORDER BY sequence",
                                          arguments: StatementArguments(revisions + [environment]))
                .map { (pipeline: $0["pipeline"] as String? ?? "", revision: $0["revision"] as String, sequence: $0["sequence"] as Int64) }
            let gates = try Row.fetchAll(db, sql: "SELECT * FROM gateResult WHERE revision IN (\(marks)) ORDER BY sequence",
                                         arguments: StatementArguments(revisions)).map(Self.gate)
            return (promotions, decisions, rounds, gates)
        }
        let promotionsByRevision = Dictionary(grouping: promotions, by: \.revision)
        let decisionsByRevision = Dictionary(grouping: decisions, by: \.revision)
        let roundsByRevision = Dictionary(grouping: rounds, by: \.revision)
        let gatesByRevision = Dictionary(grouping: gates, by: \.revision)
        return changes.map { change in
            let promotion = promotionsByRevision[change.revision]?.last { $0.sequence < change.sequence }
            var approvals: [DecisionRecord] = []
            if let promotion, promotion.kind != "rollback" {
                // The approvals of this round only (as `approvals(for:)`).
                let round = roundsByRevision[change.revision]?.last { $0.pipeline == promotion.pipeline && $0.sequence < promotion.sequence }?.sequence ?? 0
                approvals = (decisionsByRevision[change.revision] ?? []).filter {
                    $0.pipeline == promotion.pipeline && $0.decision == "approve" && $0.sequence > round && $0.sequence < promotion.sequence
                }
            }
            return ObjectHistoryEntry(change: change, promotion: promotion, approvals: approvals,
                                      gates: (gatesByRevision[change.revision] ?? []).filter { $0.sequence < change.sequence })
        }
    }
}
