import BatonCore
import Foundation

/// Routes a request to discovery, the object store or the simulation, and turns failures
/// into `Status` answers. Independent of the HTTP server library.
struct Responder: Sendable {
    let state: ClusterState
    let authenticator: Authenticator
    let simulation: Simulation
    let requests: RequestLog
    var aggregatedDiscovery = true
    /// Whether requests are authorized by RBAC (kube-apiserver's `--authorization-mode=RBAC`);
    /// off, every authenticated user may do anything.
    var rbac = true

    func respond(_ request: SimRequest) async -> SimResponse {
        // A dry run changes nothing: counted apart, so that tests can count the writes.
        // Watches are counted as WATCH (kubectl's verb), apart from the lists on the same path.
        let watch = request.method == "GET" && request.flag("watch")
        let method = watch ? "WATCH" : request.dryRun ? "DRYRUN-" + request.method : request.method
        requests.record(method: method, path: request.path)
        defer { requests.recordAnswer(method: method, path: request.path) }
        do {
            return try await route(request)
        } catch let error as APIError {
            return .json(error.code, error.status)
        } catch {
            return .json(500, APIError(code: 500, reason: "InternalError", message: "\(error)").status)
        }
    }

    /// Whether `request` is a server-side apply of an object that does not exist yet.
    private func appliesToMissingObject(_ request: SimRequest, _ attributes: RequestAttributes) async -> Bool {
        guard attributes.verb == "patch", attributes.isResourceRequest, attributes.subresource.isEmpty, !attributes.name.isEmpty,
              (request.headers["content-type"] ?? "").hasPrefix("application/apply-patch"),
              let type = await state.type(plural: attributes.resource, group: attributes.apiGroup) else { return false }
        return (try? await state.get(type, namespace: type.namespaced ? attributes.namespace : "", name: attributes.name)) == nil
    }

    private func route(_ request: SimRequest) async throws -> SimResponse {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        switch path {
        case "/healthz", "/readyz", "/livez": return .text(200, "ok", contentType: "text/plain")
        default: break
        }
        // What the simulated applications serve (their traffic and its counters) is not the API:
        // like a real service and its metrics endpoint, it needs no API token.
        if path == "/metrics" { return .text(200, await simulation.metrics(), contentType: "text/plain; version=0.0.4") }
        if path.hasPrefix("/sim/services/") {
            if let fault = await simulation.faults.take() { return fault }
            return try await simulation.serviceTraffic(path)
        }
        guard let user = await authenticator.user(authorization: request.headers["authorization"], state: state) else { throw APIError.unauthorized }
        if path.hasPrefix("/sim/") {
            // KubeSim's own controls are the cluster operator's, not an API any Role grants.
            guard user.isMaster else { throw RequestAttributes(user: user, verb: request.method.lowercased(), path: path).forbidden }
        } else if rbac, !user.isMaster {
            let attributes = RequestAttributes(user: user, request: request, path: path)
            let policy = await state.authorizationPolicy()
            guard policy.decide(attributes).allowed else { throw attributes.forbidden }
            // A server-side apply that would create its object is authorized as a create too
            // (kube-apiserver's patch handler: `createAuthorizerAttributes`), dry run or not.
            if await appliesToMissingObject(request, attributes) {
                var create = attributes
                create.verb = "create"
                guard policy.decide(create).allowed else { throw create.forbidden }
            }
        }
        if path.hasPrefix("/sim/faults") {
            let body = (try? JSONValue.parse(request.body)) ?? .null
            if body["compact"]?.bool == true { await state.compact() }
            if body["dropWatches"]?.bool == true { await state.dropWatches() }
            return try await simulation.faults.configure(request)
        }
        if let fault = await simulation.faults.take() { return fault }
        // JSON (YAML for apply). Of protobuf only what kubectl's typed create commands send for
        // namespaces, config maps and secrets; the rest gets 415.
        var request = request
        if (request.headers["content-type"] ?? "").contains("protobuf") {
            if let object = try? ProtobufEnvelope.decode(request.body) {
                request.body = object.encoded()
                request.headers["content-type"] = "application/json"
            } else {
                return .json(415, APIError(code: 415, reason: "UnsupportedMediaType",
                                       message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json").status)
            }
        }
        let unavailable = simulation.unavailableAPIs
        if unavailable.contains(where: { path == "/apis/" + $0 || path.hasPrefix("/apis/" + $0 + "/") }) {
            // What kube-apiserver 1.36's aggregator answers for an APIService with no server
            // behind it (checked on ../shared/realkube): plain text, not a Status.
            return .text(503, "service unavailable\n", contentType: "text/plain; charset=utf-8")
        }
        switch path {
        case "/version": return .json(200, Discovery.version(await simulation.version))
        case "/api", "/apis":
            if aggregatedDiscovery, Discovery.wantsAggregated(request.headers["accept"]) {
                let document = Discovery.aggregated(await state.types, core: path == "/api", unavailable: unavailable)
                return .text(200, String(decoding: document.encoded(), as: UTF8.self), contentType: Discovery.aggregatedContentType)
            }
            return .json(200, path == "/api" ? Discovery.coreVersions() : Discovery.groups(await state.types, unavailable: unavailable))
        case "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews":
            return try AccessReview.answer(request, user: user, policy: rbac ? await state.authorizationPolicy() : nil)
        case "/apis/authentication.k8s.io/v1/selfsubjectreviews":
            return try AccessReview.whoAmI(request, user: user)
        default: break
        }
        if let account = Self.tokenRequest(path), request.method == "POST" {
            return .json(201, try await authenticator.tokenRequest(namespace: account.namespace, name: account.name, body: request.body, state: state))
        }
        if path == "/openapi/v3" { return .json(200, OpenAPI.root(await state.types)) }
        if path.hasPrefix("/openapi/v3/") {
            guard let document = OpenAPI.groupVersion(await state.types, path: String(path.dropFirst("/openapi/v3/".count))) else {
                throw APIError.notFoundPath(path)
            }
            return .json(200, document)
        }
        let segments = path.split(separator: "/").map(String.init)
        let prefixLength: Int
        if segments.first == "api", segments.count >= 2 {
            prefixLength = 2
        } else if segments.first == "apis", segments.count >= 3 {
            prefixLength = 3
        } else {
            throw APIError.notFoundPath(path)
        }
        let prefix = "/" + segments.prefix(prefixLength).joined(separator: "/")
        let rest = Array(segments.dropFirst(prefixLength))
        let types = await state.types
        if rest.isEmpty {
            guard request.method == "GET", let list = Discovery.resources(types, prefix: prefix) else { throw APIError.notFoundPath(path) }
            return .json(200, list)
        }
        let response = try await ResourceHandler(state: state, request: request).handle(prefix: prefix, rest: rest, path: path)
        return await simulation.faults.deliver(response, to: request)
    }

    /// `/api/v1/namespaces/NS/serviceaccounts/NAME/token`: the ServiceAccount a TokenRequest is for.
    static func tokenRequest(_ path: String) -> (namespace: String, name: String)? {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count == 7, parts[0] == "api", parts[1] == "v1", parts[2] == "namespaces", parts[4] == "serviceaccounts", parts[6] == "token"
        else { return nil }
        return (parts[3], parts[5])
    }
}
