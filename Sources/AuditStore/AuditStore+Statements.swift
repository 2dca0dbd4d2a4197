import BatonCore
import Foundation
import GRDB

/// Signed statements (DESIGN.md §10): each one accepted is kept whole in a `statement-verified`
/// event (statement, signature, key), and its nonce makes it usable once.
extension AuditStore {
    /// The event kind that keeps an accepted statement.
    public static let statementVerified = "statement-verified"

    /// Migration v6: finds a statement's nonce without reading every event.
    static func migrateStatementNonces(_ db: Database) throws {
        try db.execute(sql: """
            CREATE INDEX event_statement_nonce ON event (json_extract(details, '$.nonce'))
            WHERE kind = '\(statementVerified)'
            """)
    }

    /// Migration v7: the events table refuses UPDATE and DELETE, whoever asks (Baton never
    /// does either). Someone who can write the file can drop the triggers; the hash chain and
    /// checkpoints are what detect that, the triggers stop the accidental and the casual.
    static func migrateAppendOnly(_ db: Database) throws {
        for verb in ["UPDATE", "DELETE"] {
            try db.execute(sql: """
                CREATE TRIGGER event_no_\(verb.lowercased()) BEFORE \(verb) ON event
                BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: events are never changed or deleted'); END
                """)
        }
    }

    /// Whether a statement with `nonce` was accepted before.
    public func statementNonceUsed(_ nonce: String) throws(AuditError) -> Bool {
        do {
            return try reader.read { db in
                try Bool.fetchOne(db, sql: """
                    SELECT 1 FROM event WHERE kind = '\(Self.statementVerified)' AND json_extract(details, '$.nonce') = ? LIMIT 1
                    """, arguments: [nonce]) ?? false
            }
        } catch {
            throw AuditError(path: path, message: "cannot look for a statement's nonce: \(error)")
        }
    }
}
