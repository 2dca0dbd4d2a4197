import BatonCore

/// The discovery documents kubectl reads before anything else.
enum Discovery {
    /// The kinds `kubectl get all` lists, as in Kubernetes.
    static let allCategory: Set<String> = ["Pod", "Service", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"]

    static let verbs: [JSONValue] = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

    /// What `/version` answers for `gitVersion` (`vMAJOR.MINOR.PATCH…`).
    static func version(_ gitVersion: String = Simulation.defaultVersion) -> JSONValue {
        let numbers = gitVersion.dropFirst().split(separator: ".").map { String($0.prefix { $0.isNumber }) }
        return .object(["major": .string(numbers.first ?? ""), "minor": .string(numbers.dropFirst().first ?? ""),
                 "gitVersion": .string(gitVersion), "gitCommit": "kubesim",
                 "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "kubesim",
                 "compiler": "swift", "platform": "linux/amd64"])
    }

    static func coreVersions() -> JSONValue {
        .object(["kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": .array([.object(["clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"])])])
    }

    static func groups(_ types: [ResourceType], unavailable: [String] = []) -> JSONValue {
        var names: [String] = []
        for type in types where !type.group.isEmpty && !names.contains(type.group) { names.append(type.group) }
        let down = unavailable.map { $0.split(separator: "/").map(String.init) }.filter { $0.count == 2 }
        for parts in down where !names.contains(parts[0]) { names.append(parts[0]) }
        return .object(["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(names.map { name in
            let versions = types.filter { $0.group == name }.map(\.version) + down.filter { $0[0] == name }.map { $0[1] }
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

    /// The media type of aggregated discovery documents.
    static let aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

    /// Whether a client asked for aggregated discovery (kubectl 1.26+ and Baton do).
    static func wantsAggregated(_ accept: String?) -> Bool {
        (accept ?? "").contains("as=APIGroupDiscoveryList") && (accept ?? "").contains("v=v2")
    }

    /// `/api` (core) or `/apis` (every other group) as one `APIGroupDiscoveryList`
    /// (apidiscovery.k8s.io/v2): every group, version and resource in a single document.
    static func aggregated(_ types: [ResourceType], core: Bool, unavailable: [String] = []) -> JSONValue {
        let served = types.filter { $0.group.isEmpty == core }
        var groupNames: [String] = []
        for type in served where !groupNames.contains(type.group) { groupNames.append(type.group) }
        // An aggregated API whose server is down: listed, Stale, no resources (as realkube shows).
        let stale: [JSONValue] = core ? [] : unavailable.compactMap { groupVersion in
            let parts = groupVersion.split(separator: "/").map(String.init)
            guard parts.count == 2 else { return nil }
            return .object(["metadata": .object(["name": .string(parts[0])]),
                            "versions": [.object(["version": .string(parts[1]), "freshness": "Stale"])]])
        }
        let items: [JSONValue] = stale + groupNames.map { group in
            let inGroup = served.filter { $0.group == group }
            var versions: [String] = []
            for type in inGroup where !versions.contains(type.version) { versions.append(type.version) }
            return .object([
                "metadata": group.isEmpty ? .object([:]) : .object(["name": .string(group)]),
                "versions": .array(versions.map { version in
                    .object(["version": .string(version), "freshness": "Current",
                             "resources": .array(inGroup.filter { $0.version == version }.map(aggregatedResource))])
                }),
            ])
        }
        return .object(["kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": .object([:]),
                        "items": .array(items)])
    }

    private static func aggregatedResource(_ type: ResourceType) -> JSONValue {
        let responseKind: JSONValue = .object(["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)])
        return .object([
            "resource": .string(type.plural), "responseKind": responseKind, "scope": type.namespaced ? "Namespaced" : "Cluster",
            "singularResource": .string(type.singular), "verbs": .array(verbs), "shortNames": .array(type.shortNames.map(JSONValue.string)),
            "categories": allCategory.contains(type.kind) && !type.custom ? ["all"] : [],
            "subresources": type.hasStatus ? [.object(["subresource": "status", "responseKind": responseKind, "verbs": ["get", "patch", "update"]])] : [],
        ])
    }
}
