import BatonCore
import Foundation
import GRDB

/// A decision waiting for the pipeline's driver (an approval, a rejection, a promotion, a
/// rollback, a release), or one it has handled and what came of it.
public struct InboxItem: Sendable, Hashable {
    public var id: Int64
    public var pipeline: String
    /// Who asked, as the command that wrote it knew them.
    public var actor: String
    /// The decision, as the coordinator encodes it (JSON).
    public var body: Data
    public var created: String
    /// nil while it waits; then `accepted`, or why it was refused.
    public var outcome: InboxOutcome?
}

/// What the driver made of an inbox item.
public enum InboxOutcome: Sendable, Hashable {
    case accepted
    case refused(String)

    var stored: String {
        switch self {
        case .accepted: "accepted"
        case .refused(let reason): "refused: " + reason
        }
    }

    init?(stored: String?) {
        guard let stored else { return nil }
        if stored == "accepted" { self = .accepted } else { self = .refused(String(stored.dropFirst("refused: ".count))) }
    }
}

/// The inbox: decisions made by CLI commands reach the pipeline's driver through the database,
/// never by a command changing the saved machine itself. A row is handled in the same
/// transaction that saves what it changed, so a crash neither loses nor repeats a decision.
extension AuditStore {
    /// Migration v4: the inbox. Rows are kept after they are handled (with their outcome): the
    /// command that wrote one waits for it, and they show what was asked of the coordinator.
    static func migrateInbox(_ db: Database) throws {
        try db.create(table: "inbox") { table in
            table.autoIncrementedPrimaryKey("id")
            table.column("pipeline", .text).notNull()
            table.column("actor", .text).notNull()
            table.column("body", .blob).notNull()
            table.column("created", .text).notNull()
            table.column("handled", .text)
            table.column("outcome", .text)
        }
        try db.execute(sql: "CREATE INDEX inbox_waiting ON inbox (pipeline, id) WHERE handled IS NULL")
    }

    /// Adds a decision for `pipeline`'s driver; returns its id.
    public func enqueue(pipeline: String, actor: String, body: Data, at time: Date = Date()) throws(AuditError) -> Int64 {
        do {
            return try reader.write { db in
                try db.execute(sql: "INSERT INTO inbox (pipeline, actor, body, created) VALUES (?, ?, ?, ?)",
                               arguments: [pipeline, actor, body, Self.timeFormat.format(time)])
                return db.lastInsertedRowID
            }
        } catch {
            throw AuditError(path: path, message: "cannot write to the inbox: \(error)")
        }
    }

    /// The decisions not yet handled, oldest first; all pipelines' when `pipeline` is nil.
    public func waitingInbox(pipeline: String? = nil) throws(AuditError) -> [InboxItem] {
        try inboxQuery(pipeline.map { ("WHERE handled IS NULL AND pipeline = ?", [$0]) } ?? ("WHERE handled IS NULL", []))
    }

    /// One inbox item, with its outcome once handled.
    public func inboxItem(_ id: Int64) throws(AuditError) -> InboxItem? {
        try inboxQuery(("WHERE id = ?", [id])).first
    }

    /// The id of the newest inbox item (0 when there is none): a cheap look for new decisions.
    public func lastInboxID() throws(AuditError) -> Int64 {
        do {
            return try reader.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM inbox") ?? 0 }
        } catch {
            throw AuditError(path: path, message: "cannot read the inbox: \(error)")
        }
    }

    private func inboxQuery(_ filter: (String, [any DatabaseValueConvertible])) throws(AuditError) -> [InboxItem] {
        do {
            return try reader.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM inbox \(filter.0) ORDER BY id", arguments: StatementArguments(filter.1)).map { row in
                    InboxItem(id: row["id"], pipeline: row["pipeline"], actor: row["actor"], body: row["body"], created: row["created"],
                              outcome: InboxOutcome(stored: row["outcome"]))
                }
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the inbox: \(error)")
        }
    }

    /// Marks inbox items handled, inside a write transaction; an item already handled (by a
    /// process that got there first) is an error, so the transaction writes nothing.
    func markHandled(_ outcomes: [Int64: InboxOutcome], at time: Date, in db: Database) throws {
        for (id, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
            try db.execute(sql: "UPDATE inbox SET handled = ?, outcome = ? WHERE id = ? AND handled IS NULL",
                           arguments: [Self.timeFormat.format(time), outcome.stored, id])
            if db.changesCount != 1 { throw InboxConflict(id: id) }
        }
    }
}

/// An inbox item another process handled first.
public struct InboxConflict: Error, CustomStringConvertible {
    public var id: Int64
    public var description: String { "inbox item \(id) was already handled" }
}

/// The saved state changed under a writer that expected it unchanged.
public struct StateConflict: Error, CustomStringConvertible {
    public var key: String
    public var description: String { "the saved state \(key) was changed by another process" }
}
