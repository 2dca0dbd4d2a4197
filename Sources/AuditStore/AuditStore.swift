import BatonCore
import Foundation
import GRDB
import Synchronization

/// The audit log in one SQLite file (WAL): append-only, hash-chained events. Several
/// processes may append at once (a CLI command while `baton run` writes): each append takes
/// the write lock up front (`BEGIN IMMEDIATE`) and waits for it, so no row is lost and no
/// "database is locked" reaches the user.
public final class AuditStore: Sendable {
    public let path: String
    private let pool: DatabasePool
    var reader: DatabasePool { pool }
    /// Who writes from this process (OS user and host, in every event): looked up once, and only
    /// by a process that appends (a reader never asks the user database or the host name).
    private static let identity: (osUser: String, host: String) = {
        // The password database's name for this process's user, not `$USER` (which anyone sets).
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? NSUserName()
        return (user, ProcessInfo.processInfo.hostName)
    }()
    /// The newest inventory row of each environment read so far, decoded (by row id).
    let inventories = Mutex<[String: (id: Int64, inventory: Inventory)]>([:])

    /// Opens (creating it and its folder when missing) and migrates the database at `path`.
    /// `readOnly` (the audit commands, which only read) opens an up-to-date database without
    /// writing to it at all — no migration check under the write lock, no checkpoint when it
    /// closes — and falls back to the ordinary open when it needs migrating.
    public init(path: String, readOnly: Bool = false) throws(AuditError) {
        self.path = path
        do {
            if readOnly, FileManager.default.fileExists(atPath: path), let pool = try Self.openReadOnly(path) {
                self.pool = pool
            } else {
                // A bare file name ("baton.db") is in the current folder, which exists.
                let folder = (path as NSString).deletingLastPathComponent
                if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                var configuration = Configuration()
                configuration.busyMode = .timeout(30)
                configuration.label = "baton-audit"
                pool = try DatabasePool(path: path, configuration: configuration)
                // Processes opening a new database at once (`baton run` and `baton status`) migrate
                // one after the other: GRDB checks which migrations ran outside the write lock.
                let lock = open(path + ".migrate.lock", O_CREAT | O_RDWR, 0o644)
                if lock >= 0 { flock(lock, LOCK_EX) }
                defer { if lock >= 0 { close(lock) } }
                try Self.migrator.migrate(pool)
                // Looked up now, not while a write holds the database (the host name may ask DNS).
                _ = Self.identity
            }
        } catch {
            throw AuditError(path: path, message: "cannot open the audit database: \(error)")
        }
    }

    /// A read-only pool on `path` when its schema is current (nil: it needs migrating). Reads
    /// go through a memory map instead of one system call per page.
    static func openReadOnly(_ path: String) throws -> DatabasePool? {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(30)
        configuration.label = "baton-audit-reader"
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA mmap_size = 268435456") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        return try pool.read { db in try migrator.hasCompletedMigrations(db) } ? pool : nil
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
        migrator.registerMigration("v2: head, state and records", migrate: migrateRecords)
        migrator.registerMigration("v3: inventories", migrate: migrateInventories)
        migrator.registerMigration("v4: inbox", migrate: migrateInbox)
        migrator.registerMigration("v5: events by revision", migrate: migrateRevisionIndex)
        migrator.registerMigration("v6: statement nonces", migrate: migrateStatementNonces)
        migrator.registerMigration("v7: events append-only", migrate: migrateAppendOnly)
        return migrator
    }

    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Appends one event at the end of the chain and returns it as stored.
    @discardableResult
    public func append(_ draft: EventDraft, at time: Date = Date()) throws(AuditError) -> AuditEvent {
        do {
            return try pool.writeWithoutTransaction { db in
                var stored: AuditEvent?
                try db.inTransaction(.immediate) {
                    stored = try self.insert(draft, at: time, in: db)
                    return .commit
                }
                return stored!
            }
        } catch {
            throw AuditError(path: path, message: "cannot append to the audit log: \(error)")
        }
    }

    /// Reads the state blob stored under `key`, lets `body` change it and say what to record,
    /// and writes both in one transaction that holds the write lock throughout: two processes
    /// updating the same state take turns, and a crash leaves either all of it or none.
    /// An error thrown by `body` is rethrown as it is, and nothing is written.
    @discardableResult
    public func update(state key: String, at time: Date = Date(),
                       _ body: (inout Data?) throws -> [EventDraft]) throws -> [AuditEvent] {
        var failure: (any Error)?
        do {
            return try pool.writeWithoutTransaction { db in
                var stored: [AuditEvent] = []
                try db.inTransaction(.immediate) {
                    let before: Data? = try Data.fetchOne(db, sql: "SELECT state FROM state WHERE key = ?", arguments: [key])
                    var state = before
                    let drafts: [EventDraft]
                    do {
                        drafts = try body(&state)
                    } catch {
                        failure = error
                        return .rollback
                    }
                    for draft in drafts { stored.append(try self.insert(draft, at: time, in: db)) }
                    if state != before {
                        try db.execute(sql: "INSERT OR REPLACE INTO state (key, state, updated) VALUES (?, ?, ?)",
                                       arguments: [key, state, Self.timeFormat.format(time)])
                    }
                    return .commit
                }
                if let failure { throw failure }
                return stored
            }
        } catch {
            if let failure { throw failure }
            throw AuditError(path: path, message: "cannot write to the audit log: \(error)")
        }
    }

    /// Writes what one input to a driver produced, in one transaction that holds the write
    /// lock: the state blob under `key` (when it changed), `drafts` as events, and the inbox
    /// items it handled. The stored blob must still be `previous` (compare-and-swap): when
    /// another process changed it meanwhile, nothing is written and `StateConflict` is thrown.
    @discardableResult
    public func save(state key: String, replacing previous: Data?, with state: Data, events drafts: [EventDraft],
                     handled: [Int64: InboxOutcome] = [:], at time: Date = Date()) throws -> [AuditEvent] {
        try transact(events: drafts, handled: handled, at: time) { db in
            let current: Data? = try Data.fetchOne(db, sql: "SELECT state FROM state WHERE key = ?", arguments: [key])
            guard current == previous else { throw StateConflict(key: key) }
            if state != current {
                try db.execute(sql: "INSERT OR REPLACE INTO state (key, state, updated) VALUES (?, ?, ?)",
                               arguments: [key, state, Self.timeFormat.format(time)])
            }
        }
    }

    /// Marks inbox items handled and writes the events that say so (a refusal), in one
    /// transaction.
    @discardableResult
    public func handle(inbox handled: [Int64: InboxOutcome], events drafts: [EventDraft], at time: Date = Date()) throws -> [AuditEvent] {
        try transact(events: drafts, handled: handled, at: time) { _ in }
    }

    private func transact(events drafts: [EventDraft], handled: [Int64: InboxOutcome], at time: Date,
                          _ body: (Database) throws -> Void) throws -> [AuditEvent] {
        do {
            return try pool.writeWithoutTransaction { db in
                var stored: [AuditEvent] = []
                try db.inTransaction(.immediate) {
                    try body(db)
                    try markHandled(handled, at: time, in: db)
                    for draft in drafts { stored.append(try self.insert(draft, at: time, in: db)) }
                    return .commit
                }
                return stored
            }
        } catch let error as StateConflict {
            throw error
        } catch let error as InboxConflict {
            throw error
        } catch {
            throw AuditError(path: path, message: "cannot write to the audit log: \(error)")
        }
    }

    /// The state blob stored under `key`, as the last `update` left it.
    public func state(_ key: String) throws(AuditError) -> Data? {
        do {
            return try pool.read { db in try Data.fetchOne(db, sql: "SELECT state FROM state WHERE key = ?", arguments: [key]) }
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
        }
    }

    /// Writes one event, its records and the new chain head; the caller holds the write lock.
    private func insert(_ draft: EventDraft, at time: Date, in db: Database) throws -> AuditEvent {
        let stamp = Self.timeFormat.format(time)
        let last = try Row.fetchOne(db, sql: "SELECT sequence, hash FROM event ORDER BY sequence DESC LIMIT 1")
        var event = AuditEvent(sequence: (last?["sequence"] as Int64? ?? 0) + 1, time: stamp, actor: draft.actor,
                               osUser: Self.identity.osUser, host: Self.identity.host, kind: draft.kind, pipeline: draft.pipeline,
                               environment: draft.environment, revision: draft.revision,
                               details: String(decoding: draft.details.encoded(), as: UTF8.self),
                               previousHash: last?["hash"] ?? AuditEvent.genesis, hash: "")
        event.hash = event.computedHash
        try db.execute(sql: """
            INSERT INTO event (sequence, time, actor, osUser, host, kind, pipeline, environment, revision, details, previousHash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [event.sequence, event.time, event.actor, event.osUser, event.host, event.kind, event.pipeline,
                             event.environment, event.revision, event.details, event.previousHash, event.hash])
        try db.execute(sql: "INSERT OR REPLACE INTO head (id, sequence, hash) VALUES (1, ?, ?)", arguments: [event.sequence, event.hash])
        for record in draft.records { try write(record, of: event, in: db) }
        return event
    }

    /// The sequence of the last event (0 for an empty log).
    public func lastSequence() throws(AuditError) -> Int64 {
        do {
            return try pool.read { db in try Int64.fetchOne(db, sql: "SELECT max(sequence) FROM event") ?? 0 }
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
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
    /// inserted or deleted. Rows removed from the end are found through the chain's head (the
    /// last sequence and hash, rewritten with every append); someone able to rewrite the whole
    /// file consistently can still hide that, which only a copy of the head kept elsewhere
    /// would reveal.
    public func verify() throws(AuditError) -> Verification {
        // Streamed: one row at a time through a cursor, never the whole log in memory.
        // The walk and the head are read in one snapshot: rows appended meanwhile (by `baton
        // run`) are in neither, so they cannot look like rows added behind the head's back.
        let walked: (broken: Verification?, previous: String, expected: Int64, head: Row?)
        do {
            walked = try pool.read { db in
                var previous = AuditEvent.genesis
                var expected: Int64 = 1
                let rows = try Row.fetchCursor(db, sql: "SELECT * FROM event ORDER BY sequence")
                while let next = try rows.next() {
                    let row = Self.event(next)
                    if row.sequence != expected {
                        return (row.sequence > expected
                            ? .broken(sequence: expected, reason: "row \(expected) is missing (deleted); the next row is \(row.sequence)")
                            : .broken(sequence: row.sequence, reason: "row \(row.sequence) is out of order"), previous, expected, nil)
                    }
                    if row.previousHash != previous {
                        return (.broken(sequence: row.sequence, reason: "it does not follow row \(row.sequence - 1) (inserted, or the chain was rewritten)"),
                                previous, expected, nil)
                    }
                    if row.computedHash != row.hash {
                        return (.broken(sequence: row.sequence, reason: "its contents do not match its hash (changed)"), previous, expected, nil)
                    }
                    previous = row.hash
                    expected += 1
                }
                return (nil, previous, expected, try Row.fetchOne(db, sql: "SELECT sequence, hash FROM head WHERE id = 1"))
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the audit log: \(error)")
        }
        if let broken = walked.broken { return broken }
        let previous = walked.previous, expected = walked.expected, head = walked.head
        if let head, let sequence = head["sequence"] as Int64? {
            if sequence > expected - 1 {
                return .broken(sequence: expected, reason: "row \(expected) is missing (deleted): the log once reached row \(sequence)")
            }
            if sequence == expected - 1, sequence > 0, head["hash"] != previous {
                return .broken(sequence: sequence, reason: "its hash is not the one recorded when it was written (changed)")
            }
            if sequence < expected - 1 {
                return .broken(sequence: sequence + 1, reason: "the log was written up to row \(sequence); rows from \(sequence + 1) were added behind its back")
            }
        } else if expected > 1 {
            return .broken(sequence: expected - 1, reason: "the record of the last row written is missing")
        }
        return .intact(rows: Int(expected - 1))
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

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
