import BatonCore

/// `SelfSubjectAccessReview` ("may I VERB RESOURCE in NAMESPACE?", what `kubectl auth can-i`
/// asks) answered from the same RBAC policy that authorizes requests, and
/// `SelfSubjectReview` (`kubectl auth whoami`).
enum AccessReview {
    /// `policy` nil: RBAC is off and everything is allowed.
    static func answer(_ request: SimRequest, user: UserInfo, policy: RBACPolicy?) throws -> SimResponse {
        var review = try body(request, kind: "SelfSubjectAccessReview")
        let attributes: RequestAttributes
        if let resource = review[path: ["spec", "resourceAttributes"]] {
            func field(_ key: String) -> String { resource[key]?.string ?? "" }
            attributes = RequestAttributes(user: user, verb: field("verb"), apiGroup: field("group"), resource: field("resource"),
                                           subresource: field("subresource"), name: field("name"), namespace: field("namespace"))
        } else if let nonResource = review[path: ["spec", "nonResourceAttributes"]] {
            attributes = RequestAttributes(user: user, verb: nonResource["verb"]?.string ?? "", path: nonResource["path"]?.string ?? "")
        } else {
            throw APIError(code: 422, reason: "Invalid", message: "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: "
                + "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")
        }
        let decision = policy?.decide(attributes) ?? (allowed: true, reason: "")
        var status: [String: JSONValue] = ["allowed": .bool(decision.allowed)]
        if !decision.reason.isEmpty { status["reason"] = .string(decision.reason) }
        review["status"] = .object(status)
        return .json(201, review)
    }

    static func whoAmI(_ request: SimRequest, user: UserInfo) throws -> SimResponse {
        var review = try body(request, kind: "SelfSubjectReview")
        review["status"] = ["userInfo": .object(["username": .string(user.name), "groups": .array(user.groups.map { .string($0) })])]
        return .json(201, review)
    }

    private static func body(_ request: SimRequest, kind: String) throws -> JSONValue {
        guard request.method == "POST" else { throw APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource") }
        var review: JSONValue
        do {
            review = try JSONValue.parse(request.body)
        } catch {
            throw APIError(code: 400, reason: "BadRequest", message: "the body is not a \(kind)")
        }
        guard review.object != nil, review["kind"] == nil || review["kind"]?.string == kind else {
            throw APIError(code: 400, reason: "BadRequest", message: "the body is not a \(kind)")
        }
        // Typed clients leave TypeMeta out; the URL says it, as for every other kind.
        review["kind"] = .string(kind)
        review["apiVersion"] = .string(kind == "SelfSubjectReview" ? "authentication.k8s.io/v1" : "authorization.k8s.io/v1")
        return review
    }
}
