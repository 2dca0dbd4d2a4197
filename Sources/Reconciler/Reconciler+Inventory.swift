import BatonCore
import Crypto
import Foundation
import Kube
import Manifests
import Synchronization

extension Reconciler {
    /// The environment's inventory. An environment synced before inventories existed gets one
    /// seeded from the desired objects of `revision` and of the revision it runs, never from a
    /// label query (labels are copied by controllers). The revision it runs is the one its
    /// newest recorded sync applied (the audit log); with none recorded, the one most of its
    /// live objects' revision annotations name. When that revision cannot be rendered any more,
    /// only `revision`'s objects are seeded: what the old revision alone applied is left in
    /// place, never deleted on a guess.
    func currentInventory(desired: [Manifest], revision: String) async throws(Failure) -> (Inventory, saved: Bool) {
        let stored: Inventory?
        let recorded: String?
        do {
            stored = try await inventory.inventory(environment: environment.name)
            recorded = stored == nil ? try await inventory.lastSyncedRevision(environment: environment.name) : nil
        } catch {
            throw .inventory("\(error)")
        }
        if let stored { return (stored, true) }
        var entries = desired.map { InventoryEntry(key: $0.key, apiVersion: $0.apiVersion) }
        var deployed = recorded
        if deployed == nil {
            let live = try await existing(desired.map { Lookup(key: $0.key, apiVersion: $0.apiVersion) })
            var counts: [String: Int] = [:]
            for object in live.values {
                if let annotated = object[path: ["metadata", "annotations", Normalizer.revisionAnnotation]]?.string { counts[annotated, default: 0] += 1 }
            }
            deployed = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key
        }
        if let deployed, deployed != revision, let previous = try? await self.desired(revision: deployed) {
            entries = Self.merged(previous.map { InventoryEntry(key: $0.key, apiVersion: $0.apiVersion) }, entries)
        }
        return (Inventory(environment: environment.name, revision: revision, entries: entries), false)
    }
}

/// What the server stores for an applied object: for each (hash of the object sent, the
/// CRD's resourceVersion for a custom resource of the same revision, discovery generation),
/// the server's last answer (a dry run's or an apply's). Applying the same object again to a
/// live object that still equals that answer (ignoring `status`, `managedFields`,
/// `resourceVersion`) gives the same answer — server-side apply is idempotent — so no request
/// is needed: a controller updating `status` does not cost a dry run, and the pass after a
/// write sends nothing. Only a SHA-256 digest of each answer is kept (not the object: at
/// 1,500 environments the answers were most of `baton run`'s memory); a cryptographic digest,
/// so that no change to the cluster can be made to look like the answer.
final class VerdictCache: Sendable {
    struct Key: Hashable, Sendable {
        var object: String
        var schema: String
        var discovery: Int
    }

    /// The digest of the server's answer in stored form, and the resourceVersion of the live
    /// object last found equal to it (an object whose resourceVersion is unchanged is
    /// unchanged: no comparison needed).
    private struct Entry {
        var digest: Data
        var version: String?
    }

    private let entries = Mutex<[Key: Entry]>([:])
    private let limit = 20_000

    static func digest(_ object: JSONValue) -> Data {
        Data(SHA256.hash(data: Diff.storedForm(object).encoded()))
    }

    /// Whether `live` still equals the answer kept for `key` (false when none is kept).
    func matches(_ key: Key, live: JSONValue) -> Bool {
        guard let entry = entries.withLock({ $0[key] }) else { return false }
        let version = live[path: ["metadata", "resourceVersion"]]?.string
        if let version, version == entry.version { return true }
        guard Self.digest(live) == entry.digest else { return false }
        if let version { entries.withLock { $0[key]?.version = version } }
        return true
    }

    func put(_ key: Key, _ stored: JSONValue) {
        let digest = Self.digest(stored)
        entries.withLock { map in
            if map.count >= limit { map.removeAll(keepingCapacity: true) }
            map[key] = Entry(digest: digest, version: nil)
        }
    }
}
