import BatonCore
import Foundation

extension ClusterState {
    /// Sets an object's `status` as a controller does; a change bumps `resourceVersion` and
    /// is a MODIFIED event, no change is nothing.
    func setStatus(_ key: ObjectKey, _ status: JSONValue) {
        guard var object = objects[key], object["status"] != status else { return }
        object["status"] = status
        object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        record(.modified, key, object)
    }

    /// The objects stored under `keys`, in that order (nil for one that is gone).
    func objects(_ keys: [ObjectKey]) -> [(ObjectKey, JSONValue?)] {
        keys.map { ($0, objects[$0]) }
    }

    /// Objects of one kind, for the simulated controllers.
    func objects(group: String, plural: String) -> [(ObjectKey, JSONValue)] {
        objectsOf(group: group, plural: plural).sorted { $0.key < $1.key }
    }
}
