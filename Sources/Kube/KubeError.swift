import BatonCore
import Foundation
import HTTP

/// A Kubernetes `Status` answer: what the API server said when it refused a request.
public struct KubeStatus: Sendable, Hashable, CustomStringConvertible {
    public struct Cause: Sendable, Hashable {
        public var reason: String
        public var message: String
        public var field: String
    }

    public var code: Int
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Forbidden`, `Unauthorized`, …
    public var reason: String
    public var message: String
    public var causes: [Cause]

    public init(code: Int, reason: String, message: String, causes: [Cause] = []) {
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes
    }

    /// Reads a `Status` body; a body that is not one becomes a status with the code and the
    /// start of the body as its message.
    init(code: Int, body: Data) {
        if let value = try? JSONValue.parse(body), value["kind"]?.string == "Status" {
            self.init(code: Int(value["code"]?.int ?? Int64(code)), reason: value["reason"]?.string ?? "", message: value["message"]?.string ?? "",
                      causes: (value[path: ["details", "causes"]]?.array ?? []).map {
                          Cause(reason: $0["reason"]?.string ?? "", message: $0["message"]?.string ?? "", field: $0["field"]?.string ?? "")
                      })
        } else {
            let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            self.init(code: code, reason: KubeStatus.reason(for: code), message: text)
        }
    }

    /// A 500 that is an answer about the request, not a server in trouble: kube-apiserver
    /// refuses a server-side apply with a field the kind does not declare as a 500 ("failed to
    /// create typed patch object …: .spec.x: field not declared in schema"), whatever the
    /// field validation asked. Asking again gets the same answer.
    public var isDefiniteServerError: Bool {
        code == 500 && message.hasPrefix("failed to create typed patch object")
    }

    static func reason(for code: Int) -> String {
        switch code {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 405: "MethodNotAllowed"
        case 409: "Conflict"
        case 410: "Expired"
        case 415: "UnsupportedMediaType"
        case 422: "Invalid"
        case 429: "TooManyRequests"
        case 500: "InternalError"
        case 503: "ServiceUnavailable"
        case 504: "Timeout"
        default: "Unknown"
        }
    }

    public var description: String {
        var text = "\(code) \(reason)" + (message.isEmpty ? "" : ": \(message)")
        for cause in causes where !cause.field.isEmpty && !text.contains(cause.field) {
            text += "; \(cause.field): \(cause.message)"
        }
        return text
    }
}

/// Why a Kubernetes API call failed.
public enum KubeError: Error, Sendable, CustomStringConvertible {
    /// The API server refused: its `Status`, with the method and path asked.
    case api(KubeStatus, method: String, path: String)
    /// The server could not be reached or the exchange broke (after the retries allowed).
    case transport(HTTPError)
    /// Discovery does not know the kind, even after a refresh.
    case unknownKind(apiVersion: String, kind: String)
    /// The kubeconfig or client settings cannot work (a server URL that is not one).
    case configuration(String)
    /// The object given cannot be sent (no kind, no name, …).
    case invalidObject(String)
    /// No credential could be obtained (an exec plugin failed, a token file is unreadable).
    case credentials(String)
    /// The server's answer was not what the API promises.
    case unexpectedResponse(path: String, detail: String)

    public var description: String {
        switch self {
        case .api(let status, let method, let path): "\(method) \(path): \(status)"
        case .transport(let error): "\(error)"
        case .unknownKind(let apiVersion, let kind): "the server does not serve kind \(kind) in \(apiVersion.isEmpty ? "\"\"" : apiVersion)"
        case .configuration(let detail): detail
        case .invalidObject(let detail): "invalid object: \(detail)"
        case .credentials(let detail): "no credentials: \(detail)"
        case .unexpectedResponse(let path, let detail): "unexpected answer from \(path): \(detail)"
        }
    }

    /// The server's status code, when the server answered.
    public var statusCode: Int? {
        if case .api(let status, _, _) = self { return status.code }
        return nil
    }

    public var isNotFound: Bool { statusCode == 404 }

    public var isUnknownKind: Bool {
        if case .unknownKind = self { return true }
        return false
    }
    public var isConflict: Bool { statusCode == 409 }

    /// The cluster did not answer definitely, and asking again later may succeed: the
    /// connection failed or timed out (after the client's own retries), 429 or 5xx (a webhook
    /// that could not be called included), 401 (an expired credential), a 403 because the
    /// namespace is being deleted, a kind not served yet (its CRD is not Established), an
    /// answer that was not the API's, or no credential for now (an exec plugin failing).
    public var isTransient: Bool {
        switch self {
        case .transport, .unexpectedResponse, .credentials, .unknownKind:
            return true
        case .api(let status, _, _):
            if status.isDefiniteServerError { return false }
            if status.code == 429 || status.code >= 500 || status.code == 401 { return true }
            if status.code == 403, status.message.contains("because it is being terminated") { return true }
            // The path itself is not served (yet): a CRD created a moment ago and not yet
            // Established, or an aggregated API coming back. An object that does not exist is a
            // 404 naming it ("configmaps \"x\" not found"), which stays definite.
            if status.code == 404, status.message.hasPrefix("the server could not find the requested resource") { return true }
            return false
        case .configuration, .invalidObject:
            return false
        }
    }

    /// A 422 because the change touches a field that cannot change once set (a Deployment's
    /// selector, a Job's template, a Service's cluster IP, a StatefulSet's claim templates):
    /// only deleting and recreating the object can apply it.
    public var isImmutableField: Bool {
        guard case .api(let status, _, _) = self, status.code == 422 else { return false }
        let texts = [status.message] + status.causes.map(\.message)
        return texts.contains { $0.contains("field is immutable") || $0.contains("may not change once set")
            || $0.contains("updates to statefulset spec for fields other than") || $0.contains("spec is immutable after creation") }
    }
}
