import BatonCore
import Foundation
import GRDB

extension AuditStore {
    /// Migration v2: the chain's head, state blobs, and the record tables.
    static func migrateRecords(_ db: Database) throws {
        try db.create(table: "head") { table in
            table.column("id", .integer).primaryKey()
            table.column("sequence", .integer).notNull()
            table.column("hash", .text).notNull()
        }
        try db.execute(sql: "INSERT INTO head (id, sequence, hash) SELECT 1, sequence, hash FROM event ORDER BY sequence DESC LIMIT 1")
        try db.create(table: "state") { table in
            table.column("key", .text).primaryKey()
            table.column("state", .blob).notNull()
            table.column("updated", .text).notNull()
        }
        try db.create(table: "promotion") { table in
            table.autoIncrementedPrimaryKey("id")
            table.column("pipeline", .text).notNull()
            table.column("environment", .text).notNull()
            table.column("revision", .text).notNull()
            table.column("fromRevision", .text)
            table.column("kind", .text).notNull()
            table.column("phase", .text).notNull()
            table.column("reason", .text)
            table.column("actor", .text).notNull()
            table.column("authors", .text).notNull()
            table.column("startedAt", .text).notNull()
            table.column("updatedAt", .text).notNull()
            table.column("sequence", .integer).notNull().references("event")
        }
        try db.create(index: "promotion_by_target", on: "promotion", columns: ["environment", "revision"])
        try db.create(table: "decision") { table in
            table.column("sequence", .integer).primaryKey().references("event")
            table.column("pipeline", .text).notNull()
            table.column("environment", .text).notNull()
            table.column("revision", .text).notNull()
            table.column("decision", .text).notNull()
            table.column("actor", .text).notNull()
            table.column("osUser", .text).notNull()
            table.column("comment", .text)
            table.column("time", .text).notNull()
        }
        try db.create(index: "decision_by_target", on: "decision", columns: ["environment", "revision"])
        try db.create(table: "gateResult") { table in
            table.column("sequence", .integer).notNull().references("event")
            table.column("pipeline", .text).notNull()
            table.column("environment", .text).notNull()
            table.column("revision", .text).notNull()
            table.column("gate", .text).notNull()
            table.column("passed", .boolean).notNull()
            table.column("evidence", .text).notNull()
            table.column("time", .text).notNull()
        }
        try db.create(index: "gate_by_revision", on: "gateResult", columns: ["revision"])
        try db.create(table: "syncResult") { table in
            table.column("sequence", .integer).primaryKey().references("event")
            table.column("environment", .text).notNull()
            table.column("revision", .text).notNull()
            table.column("errors", .text).notNull()
            table.column("time", .text).notNull()
        }
        try db.create(table: "syncObject") { table in
            table.column("sequence", .integer).notNull().references("syncResult")
            table.column("environment", .text).notNull()
            table.column("kind", .text).notNull()
            table.column("apiGroup", .text).notNull()
            table.column("namespace", .text).notNull()
            table.column("name", .text).notNull()
            table.column("action", .text).notNull()
            table.column("error", .text)
        }
        try db.create(index: "sync_object_by_name", on: "syncObject", columns: ["environment", "name"])
    }

    /// Writes `record`, carried by `event`, into its table.
    func write(_ record: AuditRecord, of event: AuditEvent, in db: Database) throws {
        let target = (pipeline: event.pipeline ?? "", environment: event.environment ?? "", revision: event.revision ?? "")
        switch record {
        case .promotionStarted(let kind, let from, let actor, let reason):
            try db.execute(sql: """
                INSERT INTO promotion (pipeline, environment, revision, fromRevision, kind, phase, reason, actor, authors, startedAt, updatedAt, sequence)
                VALUES (?, ?, ?, ?, ?, 'promoting', ?, ?, '[]', ?, ?, ?)
                """, arguments: [target.pipeline, target.environment, target.revision, from, kind, reason, actor, event.time, event.time,
                                 event.sequence])
        case .promotionUpdated(let phase, let reason, let authors):
            let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM promotion WHERE pipeline = ? AND environment = ? AND revision = ? ORDER BY id DESC LIMIT 1
                """, arguments: [target.pipeline, target.environment, target.revision])
            guard let id else { return }
            try db.execute(sql: "UPDATE promotion SET phase = ?, reason = coalesce(?, reason), updatedAt = ? WHERE id = ?",
                           arguments: [phase, reason, event.time, id])
            if let authors {
                try db.execute(sql: "UPDATE promotion SET authors = ? WHERE id = ?", arguments: [Self.json(authors), id])
            }
        case .decision(let decision, let actor, let comment):
            try db.execute(sql: """
                INSERT INTO decision (sequence, pipeline, environment, revision, decision, actor, osUser, comment, time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [event.sequence, target.pipeline, target.environment, target.revision, decision, actor, event.osUser,
                                 comment, event.time])
        case .gateResult(let gate, let passed, let evidence):
            try db.execute(sql: """
                INSERT INTO gateResult (sequence, pipeline, environment, revision, gate, passed, evidence, time)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [event.sequence, target.pipeline, target.environment, target.revision, gate, passed,
                                 String(decoding: evidence.encoded(), as: UTF8.self), event.time])
        case .syncResult(let objects, let errors):
            try db.execute(sql: "INSERT INTO syncResult (sequence, environment, revision, errors, time) VALUES (?, ?, ?, ?, ?)",
                           arguments: [event.sequence, target.environment, target.revision, Self.json(errors), event.time])
            for object in objects {
                try db.execute(sql: """
                    INSERT INTO syncObject (sequence, environment, kind, apiGroup, namespace, name, action, error)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [event.sequence, target.environment, object.kind, object.group, object.namespace, object.name,
                                     object.action, object.error])
            }
        }
    }

    static func json(_ strings: [String]) -> String {
        String(decoding: JSONValue.array(strings.map(JSONValue.string)).encoded(), as: UTF8.self)
    }

    static func strings(_ text: String?) -> [String] {
        guard let text, let value = try? JSONValue.parse(Data(text.utf8)) else { return [] }
        return value.array?.compactMap(\.string) ?? []
    }

    // MARK: Queries

    /// Promotions, oldest first, narrowed by any of the arguments.
    public func promotions(pipeline: String? = nil, environment: String? = nil, revision: String? = nil) throws(AuditError) -> [PromotionRecord] {
        try query { db in
            var sql = "SELECT * FROM promotion WHERE 1"
            var arguments: [any DatabaseValueConvertible] = []
            if let pipeline { sql += " AND pipeline = ?"; arguments.append(pipeline) }
            if let environment { sql += " AND environment = ?"; arguments.append(environment) }
            if let revision { sql += " AND revision = ?"; arguments.append(revision) }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: StatementArguments(arguments)).map(Self.promotion)
        }
    }

    /// Approvals and rejections of `revision` for `environment`, oldest first.
    public func decisions(environment: String, revision: String) throws(AuditError) -> [DecisionRecord] {
        try query { db in
            try Row.fetchAll(db, sql: "SELECT * FROM decision WHERE environment = ? AND revision = ? ORDER BY sequence",
                             arguments: [environment, revision]).map(Self.decision)
        }
    }

    /// The approvals that let `promotion` start: those of its revision for its environment
    /// given after the previous promotion of that revision there (none for a rollback).
    public func approvals(for promotion: PromotionRecord) throws(AuditError) -> [DecisionRecord] {
        guard promotion.kind != "rollback" else { return [] }
        // The approvals of this round only: given after the revision last began waiting for
        // approval there (an earlier round may have been rejected or superseded).
        let round = try query { db in
            try Int64.fetchOne(db, sql: "SELECT max(sequence) FROM event WHERE kind = 'awaiting-approval' AND pipeline = ? "
                + "AND environment = ? AND revision = ? AND sequence < ?",
                arguments: [promotion.pipeline, promotion.environment, promotion.revision, promotion.sequence])
        } ?? 0
        return try decisions(environment: promotion.environment, revision: promotion.revision)
            .filter { $0.pipeline == promotion.pipeline && $0.decision == "approve" && $0.sequence > round && $0.sequence < promotion.sequence }
    }

    /// Gate results for `revision` (in every environment), oldest first.
    public func gateResults(revision: String) throws(AuditError) -> [GateRecord] {
        try query { db in
            try Row.fetchAll(db, sql: "SELECT * FROM gateResult WHERE revision = ? ORDER BY sequence", arguments: [revision]).map(Self.gate)
        }
    }

    /// Every change syncs made in `environment` to objects named `name` whose kind is `kind`
    /// (case-insensitive; the plural resource name is accepted too), oldest first.
    public func objectChanges(environment: String, kind: String, name: String) throws(AuditError) -> [ObjectChange] {
        let kind = kind.lowercased()
        return try query { db in
            try Row.fetchAll(db, sql: """
                SELECT o.action, o.error, o.kind, r.revision, r.time, e.actor, r.sequence FROM syncObject o
                JOIN syncResult r ON r.sequence = o.sequence JOIN event e ON e.sequence = r.sequence
                WHERE o.environment = ? AND o.name = ? ORDER BY r.sequence
                """, arguments: [environment, name]).compactMap { row -> ObjectChange? in
                let objectKind = (row["kind"] as String).lowercased()
                guard objectKind == kind || objectKind + "s" == kind || objectKind + "es" == kind else { return nil }
                return ObjectChange(environment: environment, revision: row["revision"], action: row["action"], error: row["error"],
                                    time: row["time"], actor: row["actor"], sequence: row["sequence"])
            }
        }
    }

    static func promotion(_ row: Row) -> PromotionRecord {
        PromotionRecord(id: row["id"], pipeline: row["pipeline"], environment: row["environment"], revision: row["revision"],
                        from: row["fromRevision"], kind: row["kind"], phase: row["phase"], reason: row["reason"],
                        actor: row["actor"], authors: strings(row["authors"]), startedAt: row["startedAt"],
                        updatedAt: row["updatedAt"], sequence: row["sequence"])
    }

    static func decision(_ row: Row) -> DecisionRecord {
        DecisionRecord(pipeline: row["pipeline"], environment: row["environment"], revision: row["revision"],
                       decision: row["decision"], actor: row["actor"], osUser: row["osUser"], comment: row["comment"],
                       time: row["time"], sequence: row["sequence"])
    }

    static func gate(_ row: Row) -> GateRecord {
        let evidence = (row["evidence"] as String?).flatMap { try? JSONValue.parse(Data($0.utf8)) } ?? .null
        return GateRecord(pipeline: row["pipeline"], environment: row["environment"], revision: row["revision"], gate: row["gate"],
                          passed: row["passed"], evidence: evidence, time: row["time"], sequence: row["sequence"])
    }

    func query<T>(_ body: @Sendable (Database) throws -> T) throws(AuditError) -> T {
        do {
            return try reader.read(body)
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
        }
    }
}
