import BatonCore
import Foundation
import GRDB

/// The audit log in one SQLite file (WAL): append-only, hash-chained events. Several
/// processes may append at once (a CLI command while `baton run` writes): each append takes
/// the write lock up front (`BEGIN IMMEDIATE`) and waits for it, so no row is lost and no
/// "database is locked" reaches the user.
public final class AuditStore: Sendable {
    public let path: String
    private let pool: DatabasePool
    private let identity: (osUser: String, host: String)

    /// Opens (creating it and its folder when missing) and migrates the database at `path`.
    public init(path: String) throws(AuditError) {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            configuration.label = "baton-audit"
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw AuditError(path: path, message: "cannot open the audit database: \(error)")
        }
        let environment = ProcessInfo.processInfo.environment
        identity = (environment["USER"] ?? environment["LOGNAME"] ?? NSUserName(), ProcessInfo.processInfo.hostName)
    }

    /// Migrations are append-only: a shipped one is never edited, changes come as new ones.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: events") { db in
            try db.create(table: "event") { table in
                table.column("sequence", .integer).primaryKey()
                table.column("time", .text).notNull()
                table.column("actor", .text).notNull()
                table.column("osUser", .text).notNull()
                table.column("host", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("pipeline", .text)
                table.column("environment", .text)
                table.column("revision", .text)
                table.column("details", .text).notNull()
                table.column("previousHash", .text).notNull()
                table.column("hash", .text).notNull()
            }
            try db.create(index: "event_by_pipeline", on: "event", columns: ["pipeline", "sequence"])
            try db.create(index: "event_by_environment", on: "event", columns: ["environment", "sequence"])
        }
        return migrator
    }

    private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Appends one event at the end of the chain and returns it as stored.
    @discardableResult
    public func append(_ draft: EventDraft, at time: Date = Date()) throws(AuditError) -> AuditEvent {
        let identity = self.identity
        let stamp = Self.timeFormat.format(time)
        do {
            return try pool.writeWithoutTransaction { db in
                var stored: AuditEvent?
                try db.inTransaction(.immediate) {
                    let last = try Row.fetchOne(db, sql: "SELECT sequence, hash FROM event ORDER BY sequence DESC LIMIT 1")
                    var event = AuditEvent(sequence: (last?["sequence"] as Int64? ?? 0) + 1, time: stamp, actor: draft.actor,
                                           osUser: identity.osUser, host: identity.host, kind: draft.kind, pipeline: draft.pipeline,
                                           environment: draft.environment, revision: draft.revision,
                                           details: String(decoding: draft.details.encoded(), as: UTF8.self),
                                           previousHash: last?["hash"] ?? AuditEvent.genesis, hash: "")
                    event.hash = event.computedHash
                    try db.execute(sql: """
                        INSERT INTO event (sequence, time, actor, osUser, host, kind, pipeline, environment, revision, details, previousHash, hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [event.sequence, event.time, event.actor, event.osUser, event.host, event.kind, event.pipeline,
                                         event.environment, event.revision, event.details, event.previousHash, event.hash])
                    stored = event
                    return .commit
                }
                return stored!
            }
        } catch {
            throw AuditError(path: path, message: "cannot append to the audit log: \(error)")
        }
    }

    /// Events in order, optionally only those of a pipeline or environment, from `after`.
    public func events(pipeline: String? = nil, environment: String? = nil, after sequence: Int64 = 0) throws(AuditError) -> [AuditEvent] {
        do {
            return try pool.read { db in
                var sql = "SELECT * FROM event WHERE sequence > ?"
                var arguments: [any DatabaseValueConvertible] = [sequence]
                if let pipeline { sql += " AND pipeline = ?"; arguments.append(pipeline) }
                if let environment { sql += " AND environment = ?"; arguments.append(environment) }
                return try Row.fetchAll(db, sql: sql + " ORDER BY sequence", arguments: StatementArguments(arguments)).map(Self.event)
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
        }
    }

    static func event(_ row: Row) -> AuditEvent {
        AuditEvent(sequence: row["sequence"], time: row["time"], actor: row["actor"], osUser: row["osUser"], host: row["host"],
                   kind: row["kind"], pipeline: row["pipeline"], environment: row["environment"], revision: row["revision"],
                   details: row["details"], previousHash: row["previousHash"], hash: row["hash"])
    }

    /// What `verify` found.
    public enum Verification: Sendable, Equatable, CustomStringConvertible {
        case intact(rows: Int)
        /// The first row where the chain breaks, and how.
        case broken(sequence: Int64, reason: String)

        public var description: String {
            switch self {
            case .intact(let rows): "the audit log is intact: \(rows) row\(rows == 1 ? "" : "s"), every hash chained"
            case .broken(let sequence, let reason): "the audit log was tampered with at row \(sequence): \(reason)"
            }
        }
    }

    /// Recomputes the chain from the first row and names the first row that was changed,
    /// inserted or deleted. (Removing rows from the end leaves a shorter intact chain: that
    /// needs an anchor kept elsewhere.)
    public func verify() throws(AuditError) -> Verification {
        let rows: [AuditEvent]
        do {
            rows = try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM event ORDER BY sequence").map(Self.event) }
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
        }
        var previous = AuditEvent.genesis
        var expected: Int64 = 1
        for row in rows {
            if row.sequence != expected {
                return row.sequence > expected
                    ? .broken(sequence: expected, reason: "row \(expected) is missing (deleted); the next row is \(row.sequence)")
                    : .broken(sequence: row.sequence, reason: "row \(row.sequence) is out of order")
            }
            if row.previousHash != previous {
                return .broken(sequence: row.sequence, reason: "it does not follow row \(row.sequence - 1) (inserted, or the chain was rewritten)")
            }
            if row.computedHash != row.hash {
                return .broken(sequence: row.sequence, reason: "its contents do not match its hash (changed)")
            }
            previous = row.hash
            expected += 1
        }
        return .intact(rows: rows.count)
    }

    /// Every event as one JSON object per line.
    public func exportJSONL() throws(AuditError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines: [String] = []
        for event in try events() {
            guard let data = try? encoder.encode(event) else { continue }
            lines.append(String(decoding: data, as: UTF8.self))
        }
        return lines.map { $0 + "\n" }.joined()
    }
}

/// An audit database problem, naming the file.
public struct AuditError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
