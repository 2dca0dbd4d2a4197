import BatonCore
import Foundation

/// What a request asks to do, read from its path and method as kube-apiserver's
/// `RequestInfoFactory` reads it: a resource request (verb, API group, resource, subresource,
/// name, namespace) or a non-resource one (verb and path: discovery, `/version`, …).
struct RequestAttributes: Sendable, Equatable {
    var user: UserInfo
    var verb: String
    var isResourceRequest: Bool
    var apiGroup = ""
    var resource = ""
    var subresource = ""
    var name = ""
    var namespace = ""
    var path = ""

    init(user: UserInfo, verb: String, apiGroup: String, resource: String, subresource: String = "", name: String = "", namespace: String = "") {
        self.user = user
        self.verb = verb
        self.isResourceRequest = true
        self.apiGroup = apiGroup
        self.resource = resource
        self.subresource = subresource
        self.name = name
        self.namespace = namespace
    }

    init(user: UserInfo, verb: String, path: String) {
        self.user = user
        self.verb = verb
        self.isResourceRequest = false
        self.path = path
    }

    /// The attributes of `request` on `path` (trailing slash removed).
    init(user: UserInfo, request: SimRequest, path: String) {
        self.init(user: user, verb: request.method.lowercased(), path: path)
        var parts = path.split(separator: "/").map(String.init)
        // `/api/v1/...` (the core group) or `/apis/GROUP/VERSION/...`; anything shorter is discovery.
        guard parts.count >= 3, parts[0] == "api" || parts[0] == "apis" else { return }
        if parts[0] == "apis" {
            guard parts.count >= 4 else { return }
            apiGroup = parts[1]
            parts = Array(parts.dropFirst(3))
        } else {
            parts = Array(parts.dropFirst(2))
        }
        isResourceRequest = true
        self.path = ""
        var watchPrefix = false
        if parts.first == "watch" {
            watchPrefix = true
            parts.removeFirst()
        }
        if parts.first == "namespaces", parts.count > 1 {
            namespace = parts[1]
            // `namespaces/NAME/status` and `/finalize` are the Namespace's own subresources.
            if parts.count > 2, !["status", "finalize"].contains(parts[2]) { parts = Array(parts.dropFirst(2)) }
        }
        resource = parts.first ?? ""
        name = parts.count > 1 ? parts[1] : ""
        subresource = parts.count > 2 ? parts[2] : ""
        switch request.method {
        case "GET", "HEAD":
            verb = name.isEmpty ? "list" : "get"
            if watchPrefix || request.flag("watch") { verb = "watch" }
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = name.isEmpty ? "deletecollection" : "delete"
        default: verb = request.method.lowercased()
        }
        // A list or watch narrowed to one name by `fieldSelector=metadata.name=X` is about that name.
        if verb == "list" || verb == "watch", name.isEmpty, let selector = request.query["fieldSelector"] {
            let terms = selector.split(separator: ",").map(String.init)
            if terms.count == 1, terms[0].hasPrefix("metadata.name=") { name = String(terms[0].dropFirst("metadata.name=".count)) }
        }
    }

    /// kube-apiserver's wording of a refusal (`forbiddenMessage` and `NewForbidden`).
    var forbidden: APIError {
        let who = "User \(Self.quoted(user.name))"
        guard isResourceRequest else {
            return APIError(code: 403, reason: "Forbidden", message: "forbidden: \(who) cannot \(verb) path \(Self.quoted(path))",
                            details: .object([:]))
        }
        let combined = subresource.isEmpty ? resource : resource + "/" + subresource
        let scope = namespace.isEmpty ? "at the cluster scope" : "in the namespace \(Self.quoted(namespace))"
        let detail = "\(who) cannot \(verb) resource \(Self.quoted(combined)) in API group \(Self.quoted(apiGroup)) \(scope)"
        let qualified = apiGroup.isEmpty ? resource : resource + "." + apiGroup
        let message = name.isEmpty ? "\(qualified) is forbidden: \(detail)" : "\(qualified) \(Self.quoted(name)) is forbidden: \(detail)"
        var details: [String: JSONValue] = ["kind": .string(resource)]
        if !apiGroup.isEmpty { details["group"] = .string(apiGroup) }
        if !name.isEmpty { details["name"] = .string(name) }
        return APIError(code: 403, reason: "Forbidden", message: message, details: .object(details))
    }

    /// Go's `%q` for the plain names these messages carry.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
