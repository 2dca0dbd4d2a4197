import BatonCore
import Foundation

/// Saving and restoring a cluster's objects, for `baton sim up --state DIR`.
extension ClusterState {
    struct Snapshot: Codable {
        struct Stored: Codable {
            var group: String
            var plural: String
            var namespace: String
            var name: String
            var object: JSONValue
            var owners: [Owner]
        }

        struct Owner: Codable {
            var manager: String
            var operation: String
            var fields: [[String]]
        }

        var revision: Int64
        var customTypes: [ResourceType]
        var objects: [Stored]
    }

    /// Everything needed to restore this cluster, as JSON.
    public func snapshot() -> Data {
        let stored = objects.sorted { ($0.key.group, $0.key.plural, $0.key) < ($1.key.group, $1.key.plural, $1.key) }.map { key, object in
            Snapshot.Stored(group: key.group, plural: key.plural, namespace: key.namespace, name: key.name, object: object,
                            owners: (owners[key] ?? [:]).map { Snapshot.Owner(manager: $0.key.name, operation: $0.key.operation,
                                                                              fields: $0.value.sorted { $0.lexicographicallyPrecedes($1) }) })
        }
        let snapshot = Snapshot(revision: revision, customTypes: types.filter(\.custom), objects: stored)
        return (try? JSONEncoder().encode(snapshot)) ?? Data()
    }

    /// Replaces this cluster's contents with a snapshot's. Watch history starts afresh.
    public func restore(_ data: Data) throws {
        let snapshot = try JSONDecoder().decode(Snapshot.self, from: data)
        types = ResourceType.builtIn + snapshot.customTypes
        objects = [:]
        keysByType = [:]
        rbacChanges += 1
        owners = [:]
        for stored in snapshot.objects {
            let key = ObjectKey(group: stored.group, plural: stored.plural, namespace: stored.namespace, name: stored.name)
            objects[key] = stored.object
            keysByType[key.group + "/" + key.plural, default: []].insert(key)
            owners[key] = Dictionary(uniqueKeysWithValues: stored.owners.map {
                (Manager(name: $0.manager, operation: $0.operation), Set($0.fields))
            })
        }
        revision = snapshot.revision
        history = []
        reindex()
    }
}
