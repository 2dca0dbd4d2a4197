import BatonCore
import Foundation

extension ClusterState {
    /// Serves the kind a CustomResourceDefinition declares and marks it Established.
    func registerCustomResource(_ crd: JSONValue) -> JSONValue {
        guard let group = crd[path: ["spec", "group"]]?.string,
              let plural = crd[path: ["spec", "names", "plural"]]?.string,
              let kind = crd[path: ["spec", "names", "kind"]]?.string else { return crd }
        let versions = crd[path: ["spec", "versions"]]?.array ?? []
        let version = versions.first { $0["storage"]?.bool == true }?["name"]?.string
            ?? versions.first?["name"]?.string ?? "v1"
        let namespaced = crd[path: ["spec", "scope"]]?.string != "Cluster"
        let hasStatus = versions.contains { $0[path: ["subresources", "status"]] != nil }
        types.removeAll { $0.group == group && $0.plural == plural }
        types.append(ResourceType(group: group, version: version, kind: kind, plural: plural,
                                  singular: crd[path: ["spec", "names", "singular"]]?.string ?? kind.lowercased(),
                                  namespaced: namespaced,
                                  shortNames: (crd[path: ["spec", "names", "shortNames"]]?.array ?? []).compactMap(\.string),
                                  hasStatus: hasStatus, custom: true))
        var established = crd
        let now = JSONValue.string(timestamp)
        established["status"] = .object([
            "conditions": .array([
                .object(["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "lastTransitionTime": now,
                         "message": "no conflicts found"]),
                .object(["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "lastTransitionTime": now,
                         "message": "the initial names have been accepted"]),
            ]),
            "acceptedNames": crd[path: ["spec", "names"]] ?? .object([:]),
            "storedVersions": .array([.string(version)]),
        ])
        return established
    }

    /// Stops serving a deleted CRD's kind and drops its objects.
    func unregisterCustomResource(_ crd: JSONValue) {
        guard let group = crd[path: ["spec", "group"]]?.string,
              let plural = crd[path: ["spec", "names", "plural"]]?.string else { return }
        types.removeAll { $0.group == group && $0.plural == plural && $0.custom }
        for key in objects.keys where key.group == group && key.plural == plural {
            objects[key] = nil
            owners[key] = nil
        }
    }
}
