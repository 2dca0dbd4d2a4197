import BatonCore

/// `SelfSubjectAccessReview`: "may I VERB RESOURCE in NAMESPACE?". KubeSim has one identity
/// (its token) and no RBAC; it answers yes except for what its configuration lists as denied.
enum AccessReview {
    static func answer(_ request: SimRequest, denied: Set<String>) throws -> SimResponse {
        guard request.method == "POST" else { throw APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource") }
        var review: JSONValue
        do {
            review = try JSONValue.parse(request.body)
        } catch {
            throw APIError(code: 400, reason: "BadRequest", message: "the body is not a SelfSubjectAccessReview")
        }
        guard review["kind"]?.string == "SelfSubjectAccessReview", let attributes = review[path: ["spec", "resourceAttributes"]] else {
            throw APIError(code: 400, reason: "BadRequest", message: "spec.resourceAttributes is required")
        }
        let verb = attributes["verb"]?.string ?? "", resource = attributes["resource"]?.string ?? ""
        let refused = denied.contains("\(verb) \(resource)") || denied.contains("\(verb) *")
        review["status"] = .object(["allowed": .bool(!refused),
                                    "reason": .string(refused ? "KubeSim is configured to deny \(verb) \(resource)" : "KubeSim allows its token everything")])
        return .json(201, review)
    }
}
