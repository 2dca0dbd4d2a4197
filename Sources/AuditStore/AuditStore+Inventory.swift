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
        do {
            return try await reader.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT revision, entries FROM inventory WHERE environment = ? ORDER BY id DESC LIMIT 1",
                                                 arguments: [environment]) else { return nil }
                let entries = try JSONDecoder().decode([InventoryEntry].self, from: Data((row["entries"] as String).utf8))
                return Inventory(environment: environment, revision: row["revision"], entries: entries)
            }
        } catch {
            throw AuditError(path: path, message: "cannot read the inventory of \(environment): \(error)")
        }
    }

    /// Writes `inventory` unless it equals the newest one already stored.
    public func saveInventory(_ inventory: Inventory) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            let text = String(decoding: try encoder.encode(inventory.entries), as: UTF8.self)
            try await reader.write { db in
                let newest = try Row.fetchOne(db, sql: "SELECT revision, entries FROM inventory WHERE environment = ? ORDER BY id DESC LIMIT 1",
                                              arguments: [inventory.environment])
                if let newest, newest["entries"] as String == text, newest["revision"] as String == inventory.revision { return }
                try db.execute(sql: "INSERT INTO inventory (environment, revision, time, entries) VALUES (?, ?, ?, ?)",
                               arguments: [inventory.environment, inventory.revision, Date().formatted(Self.timeFormat), text])
            }
        } catch {
            throw AuditError(path: path, message: "cannot save the inventory of \(inventory.environment): \(error)")
        }
    }
}
