import BatonCore
import Foundation

/// A failure answered as a Kubernetes `Status` object with the code and reason clients
/// branch on (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, …).
public struct APIError: Error, Sendable {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: JSONValue?

    public init(code: Int, reason: String, message: String, details: JSONValue? = nil) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" not found",
                 details: .object(["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)]))
    }

    static func alreadyExists(_ type: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" already exists",
                 details: .object(["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)]))
    }

    static func conflict(_ type: ResourceType, _ name: String, _ why: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\": \(why)",
                 details: .object(["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)]))
    }

    /// 409 for a failed `DeleteOptions.precondition`, worded as kube-apiserver's storage layer
    /// words it: the object named by its kind (`ConfigMap`, `Deployment.apps`), not its resource.
    static func preconditionFailed(_ type: ResourceType, _ name: String, field: String, expected: String, actual: String) -> APIError {
        let qualified = type.group.isEmpty ? type.kind : type.kind + "." + type.group
        let why = field == "UID" ? "The object might have been deleted and then recreated" : "The object might have been modified"
        var details: [String: JSONValue] = ["name": .string(name), "kind": .string(type.kind)]
        if !type.group.isEmpty { details["group"] = .string(type.group) }
        return APIError(code: 409, reason: "Conflict",
                        message: "Operation cannot be fulfilled on \(qualified) \"\(name)\": the \(field) in the precondition (\(expected)) does not match the \(field) in record (\(actual)). \(why)",
                        details: .object(details))
    }

    /// 422 with one cause per invalid field.
    static func invalid(_ type: ResourceType, _ name: String, _ causes: [(field: String, message: String)]) -> APIError {
        let text = causes.map { "\($0.field): \($0.message)" }.joined(separator: ", ")
        // The kind qualified by its group, as `errors.NewInvalid` writes it: `Deployment.apps`.
        return APIError(code: 422, reason: "Invalid", message: "\(type.kind)\(type.group.isEmpty ? "" : "." + type.group) \"\(name)\" is invalid: \(text)",
                        details: .object([
                            "name": .string(name), "group": .string(type.group), "kind": .string(type.kind),
                            "causes": .array(causes.map { .object(["reason": "FieldValueInvalid", "message": .string($0.message), "field": .string($0.field)]) }),
                        ]))
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")

    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource (\(method))")
    }

    static func notFoundPath(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(path))")
    }

    static let gone = APIError(code: 410, reason: "Expired", message: "too old resource version")

    /// The `Status` object.
    public var status: JSONValue {
        var object: [String: JSONValue] = [
            "kind": "Status", "apiVersion": "v1", "metadata": .object([:]), "status": "Failure",
            "message": .string(message), "code": .int(Int64(code)),
        ]
        // kube-apiserver leaves `reason` out when it has none (a typed patch it cannot build).
        if !reason.isEmpty { object["reason"] = .string(reason) }
        if let details { object["details"] = details }
        return .object(object)
    }
}
