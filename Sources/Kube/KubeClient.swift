import BatonCore
import Foundation
import HTTP
import Synchronization

/// The server's `/version`.
public struct ServerVersion: Sendable, Hashable {
    public var major: String
    public var minor: String
    public var gitVersion: String
    public var platform: String
}

/// Objects of one list, and the resourceVersion to watch from.
public struct ObjectList: Sendable {
    public var items: [JSONValue]
    public var resourceVersion: String
}

/// How `delete` treats dependents (`ownerReferences`).
public enum PropagationPolicy: String, Sendable {
    case foreground = "Foreground"
    case background = "Background"
    case orphan = "Orphan"
}

/// A Kubernetes API client for one cluster: discovery, get, list, server-side apply, delete,
/// watch and access reviews, with credentials from a kubeconfig context (or a pod's service
/// account) and retries for throttling, server errors and broken connections.
public final class KubeClient: Sendable {
    /// The API server's URL, without a trailing slash.
    public let server: String
    /// The context's namespace, or `default`: where namespaced objects without one go.
    public let defaultNamespace: String
    /// The kind of credential used, for reports.
    public var identity: Identity { credentials.identity }
    public let retry: RetryPolicy
    /// How fast requests may go (shared by everything using this client).
    public let budget: RequestBudget

    let http: HTTPClient
    /// Watches, apart: each holds its exchange open for minutes, and a few hundred of them must
    /// never use up the slots that requests wait for.
    let streams: HTTPClient
    let credentials: Credentials
    let discovery = DiscoveryCache()
    let tls: TLSConfiguration
    /// When a request last failed to get through (a transport failure): watches that heard
    /// nothing since are suspected dead sooner (`suspectSilence`).
    let troubleSince = Mutex<ContinuousClock.Instant?>(nil)

    public init(_ config: Kubeconfig.Resolved, retry: RetryPolicy = RetryPolicy(),
                http configuration: HTTPClient.Configuration = HTTPClient.Configuration(),
                budget: RequestBudget = RequestBudget(qps: ClusterTarget.defaultQPS, burst: ClusterTarget.defaultBurst)) throws(KubeError) {
        self.budget = budget
        var server = config.cluster.server
        while server.hasSuffix("/") { server.removeLast() }
        guard let parts = URLComponents(string: server), ["https", "http"].contains(parts.scheme ?? ""), parts.host?.isEmpty == false else {
            throw .configuration("context \"\(config.contextName)\": server \"\(config.cluster.server)\" is not an http(s) URL")
        }
        // Credentials cross the network only encrypted: plain HTTP is for a loopback address
        // (a local simulator), never for a token, a password or an exec plugin's credential
        // on its way to another machine.
        let user = config.user
        let carriesSecret = user.token != nil || user.tokenFile != nil || user.password != nil || user.exec != nil || config.serviceAccount
        if parts.scheme == "http", carriesSecret, !["127.0.0.1", "::1", "[::1]", "localhost"].contains(parts.host ?? "") {
            throw .configuration("context \"\(config.contextName)\": refusing to send credentials over plain HTTP to \(HTTPError.redacted(server)); "
                + "use https (plain HTTP is allowed only to a loopback address)")
        }
        self.server = server
        defaultNamespace = config.namespace ?? "default"
        self.retry = retry
        func pem(_ source: PEMSource?) -> PEM? {
            switch source {
            case .data(let data)?: .data(data)
            case .file(let path)?: .file(path)
            case nil: nil
            }
        }
        tls = TLSConfiguration(certificateAuthority: pem(config.cluster.certificateAuthority), clientCertificate: pem(config.user.clientCertificate),
                               clientKey: pem(config.user.clientKey), insecureSkipVerify: config.cluster.insecureSkipTLSVerify,
                               serverName: config.cluster.tlsServerName)
        var httpConfiguration = configuration
        httpConfiguration.tls = tls
        httpConfiguration.userAgent = "baton (kube client)"
        http = HTTPClient(configuration: httpConfiguration)
        var streamConfiguration = httpConfiguration
        streamConfiguration.maxConcurrentRequests = 100_000
        streams = HTTPClient(configuration: streamConfiguration)
        credentials = config.serviceAccount ? Credentials(serviceAccountTokenFile: config.user.tokenFile ?? "")
                                            : Credentials(user: config.user, userName: config.userName)
    }

    deinit {
        http.shutdown()
        streams.shutdown()
    }

    // MARK: Version and discovery

    public func version() async throws(KubeError) -> ServerVersion {
        let value = try await json("GET", "/version")
        return ServerVersion(major: value["major"]?.string ?? "", minor: value["minor"]?.string ?? "",
                             gitVersion: value["gitVersion"]?.string ?? "", platform: value["platform"]?.string ?? "")
    }

    /// Every kind the server serves, read anew.
    @discardableResult
    public func discover() async throws(KubeError) -> [APIResource] {
        try await discovery.refresh { [self] in
            do throws(KubeError) {
                return .success(try await fetchDiscovery())
            } catch {
                return .failure(error)
            }
        }
    }

    /// Reads the server's version; when it differs from the one read before (the server was
    /// upgraded or replaced), discovery is read again and `discoveryGeneration` moves on, so
    /// nothing learnt from the old server (a dry run's verdict) is trusted. `ClusterCache`
    /// calls it when its watches come back after an interruption or a 410 — what a restarting
    /// server causes — so a cluster at rest is not polled. At most one check per `interval`.
    /// Returns whether the version changed; a failed read changes nothing.
    @discardableResult
    public func checkServerVersion(interval: Duration = .seconds(5)) async -> Bool {
        guard await discovery.beginVersionCheck(interval: interval) else { return false }
        guard let version = try? await version(), !version.gitVersion.isEmpty else { return false }
        return await discovery.note(serverVersion: version.gitVersion)
    }

    /// Changes whenever discovery finds the served kinds changed (a CRD added, removed or
    /// given new versions): what was learnt from the server before may no longer hold.
    public var discoveryGeneration: Int {
        get async { await discovery.generation }
    }

    /// Whether the last discovery used the aggregated documents.
    public var usedAggregatedDiscovery: Bool {
        get async { await discovery.aggregated }
    }

    /// Where objects of `kind` in `apiVersion` live; refreshes discovery once when the kind is
    /// not known yet (a CRD applied a moment ago).
    public func resource(apiVersion: String, kind: String) async throws(KubeError) -> APIResource {
        if let known = await discovery.lookup(apiVersion: apiVersion, kind: kind) { return known }
        try await discover()
        guard let found = await discovery.lookup(apiVersion: apiVersion, kind: kind) else {
            throw .unknownKind(apiVersion: apiVersion, kind: kind)
        }
        return found
    }

    /// Whether `kind` is namespaced, for callers that must not import this module's types.
    public func isNamespaced(apiVersion: String, kind: String) async throws(KubeError) -> Bool {
        try await resource(apiVersion: apiVersion, kind: kind).namespaced
    }

    private func fetchDiscovery() async throws(KubeError) -> (resources: [APIResource], aggregated: Bool) {
        let accept = DiscoveryDocuments.aggregatedAccept
        let core = try await perform("GET", "/api", accept: accept)
        let groups = try await perform("GET", "/apis", accept: accept)
        let coreValue = try decode(core.body, path: "/api"), groupsValue = try decode(groups.body, path: "/apis")
        if coreValue["kind"]?.string == "APIGroupDiscoveryList", groupsValue["kind"]?.string == "APIGroupDiscoveryList" {
            return (DiscoveryDocuments.aggregated(coreValue) + DiscoveryDocuments.aggregated(groupsValue), true)
        }
        // Classic discovery: one document per group version, fetched concurrently.
        let groupVersions = DiscoveryDocuments.groupVersions(coreValue) + DiscoveryDocuments.groupVersions(groupsValue)
        let lists = await withTaskGroup(of: (Int, Result<[APIResource], KubeError>).self) { group in
            for (index, groupVersion) in groupVersions.enumerated() {
                group.addTask { [self] in
                    let path = groupVersion.contains("/") ? "/apis/\(groupVersion)" : "/api/\(groupVersion)"
                    do throws(KubeError) {
                        // A group version whose (aggregated) server is down answers 503 for as long
                        // as it is down: skipped below at once, as client-go's partial discovery does.
                        let list = try await json("GET", path, retryServerErrors: false)
                        return (index, .success(DiscoveryDocuments.resources(list, groupVersion: groupVersion)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results: [(Int, Result<[APIResource], KubeError>)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
        var resources: [APIResource] = []
        for list in lists {
            switch list {
            case .success(let found): resources += found
            // A group version that went away between the two requests (a CRD deleted), or an
            // aggregated API that is down (metrics.k8s.io answering 503), is skipped, as
            // client-go's partial discovery does; its kinds are unknown until it answers.
            case .failure(let error) where error.isNotFound || (error.statusCode ?? 0) >= 500: continue
            case .failure(let error): throw error
            }
        }
        return (resources, false)
    }

    // MARK: Reading

    /// One object; `KubeError.api` with 404 when it does not exist.
    public func get(apiVersion: String, kind: String, name: String, namespace: String? = nil) async throws(KubeError) -> JSONValue {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let path = resource.path(namespace: resource.namespaced ? namespace ?? defaultNamespace : nil, name: name)
        return try await json("GET", path)
    }

    /// Every object of `kind` (in `namespace`, or in all namespaces when nil), read in pages.
    /// Items carry their `apiVersion` and `kind`.
    public func list(apiVersion: String, kind: String, namespace: String? = nil, labelSelector: String? = nil,
                     fieldSelector: String? = nil, pageSize: Int = 500) async throws(KubeError) -> ObjectList {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let path = resource.path(namespace: resource.namespaced ? namespace : nil)
        var items: [JSONValue] = []
        var token: String?
        var restarted = false
        while true {
            var query: [(String, String)] = [("limit", String(pageSize))]
            if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
            if let fieldSelector, !fieldSelector.isEmpty { query.append(("fieldSelector", fieldSelector)) }
            if let token { query.append(("continue", token)) }
            let page: JSONValue
            do {
                page = try await json("GET", path, query: query)
            } catch let error where error.statusCode == 410 && token != nil && !restarted {
                // The continue token expired (the server compacted): start the list again, once.
                restarted = true
                token = nil
                items = []
                continue
            }
            for var item in page["items"]?.array ?? [] {
                item["apiVersion"] = .string(resource.apiVersion)
                item["kind"] = .string(resource.kind)
                items.append(item)
            }
            let next = page[path: ["metadata", "continue"]]?.string ?? ""
            if next.isEmpty {
                return ObjectList(items: items, resourceVersion: page[path: ["metadata", "resourceVersion"]]?.string ?? "")
            }
            token = next
        }
    }

    // MARK: Writing

    /// Server-side apply of `object` as `fieldManager`. `force` takes over fields another
    /// manager owns; `dryRun` asks the server what would happen without storing it. Sent with
    /// `fieldValidation=Strict`: a field the server does not know is an error naming it, not
    /// silently dropped.
    @discardableResult
    public func apply(_ object: JSONValue, fieldManager: String = "baton", force: Bool = false, dryRun: Bool = false) async throws(KubeError) -> JSONValue {
        let (response, path) = try await sendApply(object, fieldManager: fieldManager, force: force, dryRun: dryRun)
        return try decode(response.body, path: path)
    }

    /// The server's verdict on a forced server-side apply of `object`, asked as a dry run: it
    /// throws what the real apply would (invalid, forbidden, unknown field …) and changes
    /// nothing. What the server would store is not read (a cold sync checks every create this
    /// way before writing any).
    public func checkApply(_ object: JSONValue, fieldManager: String = "baton") async throws(KubeError) {
        _ = try await sendApply(object, fieldManager: fieldManager, force: true, dryRun: true)
    }

    private func sendApply(_ object: JSONValue, fieldManager: String, force: Bool, dryRun: Bool) async throws(KubeError) -> (HTTPResponse, String) {
        guard let apiVersion = object["apiVersion"]?.string, !apiVersion.isEmpty else { throw .invalidObject("apiVersion is missing") }
        guard let kind = object["kind"]?.string, !kind.isEmpty else { throw .invalidObject("kind is missing (apiVersion \(apiVersion))") }
        guard let name = object[path: ["metadata", "name"]]?.string, !name.isEmpty else {
            throw .invalidObject("\(kind): metadata.name is missing")
        }
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        var body = object
        var namespace: String?
        if resource.namespaced {
            namespace = object[path: ["metadata", "namespace"]]?.string ?? defaultNamespace
            body[path: ["metadata", "namespace"]] = .string(namespace ?? defaultNamespace)
        }
        var query: [(String, String)] = [("fieldManager", fieldManager), ("fieldValidation", "Strict")]
        if force { query.append(("force", "true")) }
        if dryRun { query.append(("dryRun", "All")) }
        let path = resource.path(namespace: namespace, name: name)
        let response = try await perform("PATCH", path, query: query, body: body.encoded(), contentType: "application/apply-patch+yaml")
        return (response, path)
    }

    /// Deletes one object. Returns false when it was already gone. With `uid`, only that
    /// object (`DeleteOptions.preconditions`): one created anew under the same name answers 409.
    @discardableResult
    public func delete(apiVersion: String, kind: String, name: String, namespace: String? = nil,
                       propagationPolicy: PropagationPolicy = .background, uid: String? = nil, dryRun: Bool = false) async throws(KubeError) -> Bool {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let path = resource.path(namespace: resource.namespaced ? namespace ?? defaultNamespace : nil, name: name)
        var options: [String: JSONValue] = ["apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": .string(propagationPolicy.rawValue)]
        if dryRun { options["dryRun"] = ["All"] }
        if let uid { options["preconditions"] = .object(["uid": .string(uid)]) }
        do {
            _ = try await perform("DELETE", path, body: JSONValue.object(options).encoded(), contentType: "application/json")
            return true
        } catch where error.isNotFound {
            return false
        }
    }

    /// Whether this client may `verb` `resource` (plural, in `group`) in `namespace`, by a
    /// `SelfSubjectAccessReview`; nil when the server does not serve those.
    public func canI(_ verb: String, group: String, resource: String, namespace: String?) async throws(KubeError) -> (allowed: Bool, reason: String)? {
        var attributes: [String: JSONValue] = ["verb": .string(verb), "group": .string(group), "resource": .string(resource)]
        if let namespace { attributes["namespace"] = .string(namespace) }
        let review: JSONValue = .object(["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                                         "spec": .object(["resourceAttributes": .object(attributes)])])
        let answer: JSONValue
        do {
            answer = try await json("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body: review.encoded(),
                                    contentType: "application/json")
        } catch where error.isNotFound {
            return nil
        }
        return (answer[path: ["status", "allowed"]]?.bool ?? false, answer[path: ["status", "reason"]]?.string ?? "")
    }
}
