import Foundation

/// One object Baton applied to an environment: what it is and, once the server answered, its uid.
public struct InventoryEntry: Sendable, Hashable, Codable, Comparable {
    public var key: ResourceKey
    public var apiVersion: String
    /// nil while the object is only intended (written before the apply that creates it).
    public var uid: String?

    public init(key: ResourceKey, apiVersion: String, uid: String? = nil) {
        self.key = key
        self.apiVersion = apiVersion
        self.uid = uid
    }

    public static func < (a: InventoryEntry, b: InventoryEntry) -> Bool { a.key < b.key }
}

/// What Baton has applied to one environment and not yet pruned: the only source of prune
/// candidates (labels are copied by controllers, so they never decide ownership). Written as
/// intended before a sync applies anything, and as applied after it.
public struct Inventory: Sendable, Hashable, Codable {
    public var environment: String
    /// The revision whose sync wrote this inventory.
    public var revision: String
    public var entries: [InventoryEntry]

    public init(environment: String, revision: String, entries: [InventoryEntry]) {
        self.environment = environment
        self.revision = revision
        self.entries = entries.sorted()
    }

    public var keys: Set<ResourceKey> { Set(entries.map(\.key)) }
}

/// Where inventories are kept (the audit database, in `baton run` and `baton sync`).
public protocol InventoryStore: Sendable {
    /// The newest inventory of `environment`, or nil when none was written yet.
    func inventory(environment: String) async throws -> Inventory?
    /// Records `inventory` as the environment's newest.
    func saveInventory(_ inventory: Inventory) async throws
    /// The revision the newest recorded sync of `environment` applied, or nil when none is
    /// recorded: what an environment synced before inventories existed runs.
    func lastSyncedRevision(environment: String) async throws -> String?
}
