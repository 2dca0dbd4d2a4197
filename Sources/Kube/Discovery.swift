import BatonCore
import Foundation

/// One kind the server serves: where its objects live and whether they are namespaced.
public struct APIResource: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    /// The plural resource name in paths (`deployments`).
    public var name: String
    public var namespaced: Bool
    public var verbs: [String]

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/GROUP/VERSION`.
    var prefix: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The collection's path (in `namespace` when the kind is namespaced and one is given).
    func path(namespace: String?) -> String {
        if namespaced, let namespace { return "\(prefix)/namespaces/\(KubeClient.pathSegment(namespace))/\(name)" }
        return "\(prefix)/\(name)"
    }

    func path(namespace: String?, name object: String) -> String {
        path(namespace: namespace) + "/" + KubeClient.pathSegment(object)
    }
}

/// Reads what the server serves: aggregated discovery (`apidiscovery.k8s.io/v2`, one
/// request for `/api` and one for `/apis`) where the server offers it, the classic documents
/// (`/api`, `/apis`, then one per group version) otherwise.
enum DiscoveryDocuments {
    static let aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        + "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

    /// The resources of an `APIGroupDiscoveryList`.
    static func aggregated(_ list: JSONValue) -> [APIResource] {
        var out: [APIResource] = []
        for group in list["items"]?.array ?? [] {
            let groupName = group[path: ["metadata", "name"]]?.string ?? ""
            for version in group["versions"]?.array ?? [] {
                guard let versionName = version["version"]?.string else { continue }
                for resource in version["resources"]?.array ?? [] {
                    guard let name = resource["resource"]?.string, let kind = resource[path: ["responseKind", "kind"]]?.string else { continue }
                    out.append(APIResource(group: groupName, version: versionName, kind: kind, name: name,
                                           namespaced: resource["scope"]?.string == "Namespaced",
                                           verbs: (resource["verbs"]?.array ?? []).compactMap(\.string)))
                }
            }
        }
        return out
    }

    /// The group versions an `APIVersions` (`/api`) or `APIGroupList` (`/apis`) names.
    static func groupVersions(_ document: JSONValue) -> [String] {
        if document["kind"]?.string == "APIVersions" { return (document["versions"]?.array ?? []).compactMap(\.string) }
        return (document["groups"]?.array ?? []).flatMap { group in
            (group["versions"]?.array ?? []).compactMap { $0["groupVersion"]?.string }
        }
    }

    /// The resources of one `APIResourceList`, without subresources (`deployments/status`).
    static func resources(_ list: JSONValue, groupVersion: String) -> [APIResource] {
        let parts = groupVersion.split(separator: "/", maxSplits: 1).map(String.init)
        let (group, version) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts.first ?? "")
        return (list["resources"]?.array ?? []).compactMap { resource in
            guard let name = resource["name"]?.string, !name.contains("/"), let kind = resource["kind"]?.string else { return nil }
            return APIResource(group: group, version: version, kind: kind, name: name, namespaced: resource["namespaced"]?.bool ?? false,
                               verbs: (resource["verbs"]?.array ?? []).compactMap(\.string))
        }
    }
}

/// Discovery results by apiVersion and kind; replaced whole on refresh, and refreshed when a
/// kind is unknown (a CRD applied a moment ago). Concurrent refreshes share one round.
actor DiscoveryCache {
    private var byKey: [String: APIResource] = [:]
    private(set) var all: [APIResource] = []
    private(set) var loaded = false
    private(set) var aggregated = false
    /// Counts the refreshes that changed what is served: a verdict cached under an older
    /// generation may rest on a schema that is gone.
    private(set) var generation = 0
    private var refreshing: Task<Result<[APIResource], KubeError>, Never>?
    /// The server's `gitVersion` as last read, and when a check last began.
    private var serverVersion: String?
    private var versionCheckedAt: ContinuousClock.Instant?

    /// Whether a version check may start now: at most one per `interval`, however many
    /// watches come back at once.
    func beginVersionCheck(interval: Duration) -> Bool {
        if let versionCheckedAt, ContinuousClock.now - versionCheckedAt < interval { return false }
        versionCheckedAt = .now
        return true
    }

    /// Notes the server's version. A version other than the one seen before (the server was
    /// upgraded or replaced) makes everything learnt from it stale: discovery is forgotten
    /// (read again at the next lookup) and the generation moves on. True when it changed.
    func note(serverVersion version: String) -> Bool {
        defer { serverVersion = version }
        guard let known = serverVersion, known != version else { return false }
        generation += 1
        byKey = [:]
        all = []
        loaded = false
        return true
    }

    static func key(apiVersion: String, kind: String) -> String { apiVersion + "|" + kind }

    func lookup(apiVersion: String, kind: String) -> APIResource? { byKey[Self.key(apiVersion: apiVersion, kind: kind)] }

    /// Loads discovery anew with `fetch`, sharing a round already running.
    func refresh(_ fetch: @escaping @Sendable () async -> Result<(resources: [APIResource], aggregated: Bool), KubeError>) async throws(KubeError) -> [APIResource] {
        if let refreshing { return try await refreshing.value.get() }
        let task = Task<Result<[APIResource], KubeError>, Never> { [weak self] in
            let result = await fetch()
            if case .success(let found) = result { await self?.store(found.resources, aggregated: found.aggregated) }
            return result.map { $0.resources }
        }
        refreshing = task
        let result = await task.value
        refreshing = nil
        return try result.get()
    }

    private func store(_ resources: [APIResource], aggregated: Bool) {
        var map: [String: APIResource] = [:]
        for resource in resources where map[Self.key(apiVersion: resource.apiVersion, kind: resource.kind)] == nil {
            map[Self.key(apiVersion: resource.apiVersion, kind: resource.kind)] = resource
        }
        if map != byKey { generation += 1 }
        byKey = map
        all = resources
        loaded = true
        self.aggregated = aggregated
    }
}
