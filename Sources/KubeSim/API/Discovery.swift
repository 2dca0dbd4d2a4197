/// The discovery documents kubectl reads before anything else.
enum Discovery {
    /// The kinds `kubectl get all` lists, as in Kubernetes.
    static let allCategory: Set<String> = ["Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"]

    static let verbs: [JSONValue] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    static func version() -> JSONValue {
        .object(["major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim", "gitCommit": "kubesim",
                 "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "kubesim",
                 "compiler": "swift", "platform": "linux/amd64"])
    }

    static func coreVersions() -> JSONValue {
        .object(["kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": .array([.object(["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"])])])
    }

    static func groups(_ types: [ResourceType]) -> JSONValue {
        var names: [String] = []
        for type in types where !type.group.isEmpty && !names.contains(type.group) { names.append(type.group) }
        return .object(["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(names.map { name in
            let versions = types.filter { $0.group == name }.map(\.version)
            let unique = versions.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            let entries = unique.map { JSONValue.object(["groupVersion": .string(name + "/" + $0), "version": .string($0)]) }
            return .object(["name": .string(name), "versions": .array(entries), "preferredVersion": entries[0]])
        })])
    }

    /// The APIResourceList of one group version, or nil when nothing is served there.
    static func resources(_ types: [ResourceType], prefix: String) -> JSONValue? {
        let served = types.filter { $0.prefix == prefix }
        guard let first = served.first else { return nil }
        var resources: [JSONValue] = []
        for type in served {
            resources.append(.object([
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(verbs), "shortNames": .array(type.shortNames.map(JSONValue.string)),
                "categories": allCategory.contains(type.kind) && !type.custom ? ["all"] : [],
            ]))
            if type.hasStatus {
                resources.append(.object(["name": .string(type.plural + "/status"), "singularName": "", "namespaced": .bool(type.namespaced),
                                          "kind": .string(type.kind), "verbs": ["get", "patch", "update"]]))
            }
        }
        return .object(["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(first.groupVersion),
                        "resources": .array(resources)])
    }
}
