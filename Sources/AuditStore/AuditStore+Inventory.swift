import BatonCore
import Foundation
import GRDB

/// Each environment's inventory (what Baton applied there and has not pruned), kept beside the
/// audit log: one row per change, the newest row is the current inventory, older rows are the
/// history of what each revision applied.
extension AuditStore: InventoryStore {
    static func migrateInventories(_ db: Database) throws {
        try db.create(table: "inventory") { table in
            table.autoIncrementedPrimaryKey("id")
            table.column("environment", .text).notNull()
            table.column("revision", .text).notNull()
            table.column("time", .text).notNull()
            table.column("entries", .text).notNull()
        }
        try db.create(index: "inventory_by_environment", on: "inventory", columns: ["environment", "id"])
    }

    public func inventory(environment: String) async throws -> Inventory? {
        try loadInventory(environment: environment)
    }

    /// Synchronous, as every other read of this store: GRDB's async reads hold a reader until
    /// their task resumes, and with the cooperative threads blocked in synchronous reads waiting
    /// for a reader (100 pipelines in one baton run) nothing moved again.
    ///
    /// The newest row of each environment is kept decoded: while its id is still the newest, a
    /// read costs one index lookup, not a decode (every pass of every environment reads it).
    func loadInventory(environment: String) throws(AuditError) -> Inventory? {
        do {
            return try reader.read { db in
                // A statement kept compiled: every pass of every environment asks this.
                guard let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(id) FROM inventory WHERE environment = ?"),
                                                  arguments: [environment])
                else { return nil }
                if let kept = inventories.withLock({ $0[environment] }), kept.id == id { return kept.inventory }
                guard let row = try Row.fetchOne(db, sql: "SELECT revision, entries FROM inventory WHERE id = ?", arguments: [id]) else { return nil }
                let entries = try JSONDecoder().decode([InventoryEntry].self, from: Data((row["entries"] as String).utf8))
                let inventory = Inventory(environment: environment, revision: row["revision"], entries: entries)
                inventories.withLock { $0[environment] = (id, inventory) }
                return inventory
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the inventory of \(environment): \(error)")
        }
    }

    public func lastSyncedRevision(environment: String) async throws -> String? {
        try loadLastSyncedRevision(environment: environment)
    }

    /// Synchronous, as `loadInventory` (and for the same reason).
    func loadLastSyncedRevision(environment: String) throws(AuditError) -> String? {
        do {
            return try reader.read { db in
                try String.fetchOne(db, sql: "SELECT revision FROM syncResult WHERE environment = ? ORDER BY sequence DESC LIMIT 1",
                                    arguments: [environment])
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the syncs of \(environment): \(error)")
        }
    }

    /// Writes `inventory` unless it equals the newest one already stored.
    public func saveInventory(_ inventory: Inventory) async throws {
        try storeInventory(inventory)
    }

    /// A row only when the inventory differs from the newest one; the row written is kept
    /// decoded, so the next pass's read of it decodes nothing. (The reconciler does not save an
    /// inventory its pass left as it was.)
    func storeInventory(_ inventory: Inventory) throws(AuditError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            let text = String(decoding: try encoder.encode(inventory.entries), as: UTF8.self)
            try reader.write { db in
                let newest = try Row.fetchOne(db, sql: "SELECT revision, entries FROM inventory WHERE environment = ? ORDER BY id DESC LIMIT 1",
                                              arguments: [inventory.environment])
                if let newest, newest["entries"] as String == text, newest["revision"] as String == inventory.revision { return }
                try db.execute(sql: "INSERT INTO inventory (environment, revision, time, entries) VALUES (?, ?, ?, ?)",
                               arguments: [inventory.environment, inventory.revision, Date().formatted(Self.timeFormat), text])
                let id = db.lastInsertedRowID
                inventories.withLock { $0[inventory.environment] = (id, inventory) }
            }
        } catch {
            throw AuditError(path: path, message: "cannot save the inventory of \(inventory.environment): \(error)")
        }
    }
}
