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
        let storage = versions.first { $0["name"]?.string == version }
        schemas[group + "/" + plural] = storage?[path: ["schema", "openAPIV3Schema"]]
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
        schemas[group + "/" + plural] = nil
        for key in keys(group: group, plural: plural) {
            noteChange(key, previous: objects[key], current: nil)
            objects[key] = nil
            owners[key] = nil
        }
        keysByType[group + "/" + plural] = nil
    }
}

extension ClusterState {
    /// A custom resource as kube-apiserver stores it under a structural schema: `default`s filled
    /// in where a field is absent, and fields the schema does not declare pruned (or, with
    /// `strict`, refused as kube-apiserver refuses them under `fieldValidation=Strict`) unless
    /// `x-kubernetes-preserve-unknown-fields` keeps them.
    static func applySchema(_ schema: JSONValue, to value: inout JSONValue, at path: [String], strict: Bool,
                            defaults: Bool) throws(APIError) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.bool == true && schema["properties"] == nil { return }
        switch value {
        case .object(var fields):
            let properties = schema["properties"]?.object
            let additional = schema["additionalProperties"]
            for (name, child) in properties ?? [:] where defaults && fields[name] == nil {
                if let fallback = child["default"] { fields[name] = fallback }
            }
            for name in fields.keys.sorted() {
                // apiVersion, kind and metadata are the API's, not the schema's.
                if path.isEmpty, ["apiVersion", "kind", "metadata"].contains(name) { continue }
                if let child = properties?[name] {
                    try applySchema(child, to: &fields[name]!, at: path + [name], strict: strict, defaults: defaults)
                } else if let additional, additional.object != nil {
                    try applySchema(additional, to: &fields[name]!, at: path + [name], strict: strict, defaults: defaults)
                } else if additional?.bool == true || schema["x-kubernetes-preserve-unknown-fields"]?.bool == true {
                    continue
                } else if strict {
                    throw APIError.badRequest(".\((path + [name]).joined(separator: ".")): field not declared in schema")
                } else {
                    fields[name] = nil
                }
            }
            value = .object(fields)
        case .array(var elements):
            guard let items = schema["items"] else { return }
            for index in elements.indices {
                try applySchema(items, to: &elements[index], at: path + ["[\(index)]"], strict: strict, defaults: defaults)
            }
            value = .array(elements)
        default:
            return
        }
    }
}
