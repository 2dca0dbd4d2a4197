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
