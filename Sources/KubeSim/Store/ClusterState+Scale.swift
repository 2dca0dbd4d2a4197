import BatonCore
import Foundation

extension ResourceType {
    /// Whether it has a `scale` subresource (an `autoscaling/v1` Scale): Deployments,
    /// StatefulSets and ReplicaSets, as kube-apiserver serves them.
    public var hasScale: Bool { group == "apps" && ["deployments", "statefulsets", "replicasets"].contains(plural) }
}

extension ClusterState {
    /// GET `.../NAME/scale`: the object's replicas as an `autoscaling/v1` Scale.
    public func scale(_ type: ResourceType, namespace: String, name: String) throws(APIError) -> JSONValue {
        guard let live = objects[key(type, namespace, name)] else { throw APIError.notFound(type, name) }
        return Self.scale(of: live)
    }

    /// PUT `.../NAME/scale` with a Scale: sets `spec.replicas` (409 on a stale resourceVersion).
    public func replaceScale(_ type: ResourceType, namespace: String, name: String, body: JSONValue, manager: String,
                             dryRun: Bool = false) throws(APIError) -> JSONValue {
        let key = key(type, namespace, name)
        guard let live = objects[key] else { throw APIError.notFound(type, name) }
        if let expected = body[path: ["metadata", "resourceVersion"]]?.string, !expected.isEmpty,
           expected != live[path: ["metadata", "resourceVersion"]]?.string {
            throw APIError.conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        return try setReplicas(type, key, live: live, scale: body, manager: manager, dryRun: dryRun)
    }

    /// PATCH `.../NAME/scale` (merge, strategic merge or JSON patch of the Scale).
    public func patchScale(_ type: ResourceType, namespace: String, name: String, contentType: String, body: Data, manager: String,
                           dryRun: Bool = false) throws(APIError) -> JSONValue {
        let key = key(type, namespace, name)
        guard let live = objects[key] else { throw APIError.notFound(type, name) }
        let current = Self.scale(of: live)
        let patched: JSONValue
        do {
            switch contentType {
            case "application/json-patch+json": patched = try JSONPatch.apply(try JSONValue.parse(body), to: current)
            case "application/merge-patch+json", "application/strategic-merge-patch+json":
                patched = JSONPatch.mergePatch(try JSONValue.parse(body), into: current)
            default:
                throw APIError(code: 415, reason: "UnsupportedMediaType",
                               message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("the patch could not be applied: \(error)")
        }
        return try setReplicas(type, key, live: live, scale: patched, manager: manager, dryRun: dryRun)
    }

    private func setReplicas(_ type: ResourceType, _ key: ObjectKey, live: JSONValue, scale: JSONValue, manager: String,
                             dryRun: Bool) throws(APIError) -> JSONValue {
        let replicas = scale[path: ["spec", "replicas"]]?.int ?? 0
        guard replicas >= 0 else {
            throw APIError.invalid(Self.scaleType, key.name, [("spec.replicas", "Invalid value: \(replicas): must be greater than or equal to 0")])
        }
        var object = live
        object[path: ["spec", "replicas"]] = .int(replicas)
        return Self.scale(of: try commitUpdate(type, key, live: live, new: object, manager: manager, operation: "Update", dryRun: dryRun))
    }

    /// What a 422 about a Scale names: `Scale.autoscaling "web" is invalid: …`.
    static let scaleType = ResourceType.grouped("autoscaling", "v1", "Scale", "scale")

    /// The Scale kube-apiserver renders for a workload: its name, namespace, uid, version and
    /// creation time; `spec.replicas`; the replicas it has and its selector as a string.
    static func scale(of object: JSONValue) -> JSONValue {
        var metadata: [String: JSONValue] = [:]
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let value = object[path: ["metadata", field]] { metadata[field] = value }
        }
        var status: [String: JSONValue] = ["replicas": .int(object[path: ["status", "replicas"]]?.int ?? 0)]
        if let selector = object[path: ["spec", "selector"]] { status["selector"] = .string(selectorString(selector)) }
        return .object(["kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": .object(metadata),
                        "spec": .object(["replicas": .int(object[path: ["spec", "replicas"]]?.int ?? 1)]), "status": .object(status)])
    }

    /// A label selector written as `labels.Selector.String()` writes it: requirements sorted by
    /// key, `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
    static func selectorString(_ selector: JSONValue) -> String {
        var requirements: [(key: String, text: String)] = []
        for (key, value) in selector["matchLabels"]?.object ?? [:] {
            requirements.append((key, "\(key)=\(value.string ?? "")"))
        }
        for expression in selector["matchExpressions"]?.array ?? [] {
            let key = expression["key"]?.string ?? ""
            let values = (expression["values"]?.array ?? []).compactMap(\.string).sorted().joined(separator: ",")
            switch expression["operator"]?.string ?? "" {
            case "In": requirements.append((key, "\(key) in (\(values))"))
            case "NotIn": requirements.append((key, "\(key) notin (\(values))"))
            case "Exists": requirements.append((key, key))
            case "DoesNotExist": requirements.append((key, "!" + key))
            default: break
            }
        }
        return requirements.sorted { $0.key < $1.key }.map(\.text).joined(separator: ",")
    }
}
