import BatonCore
import Foundation

/// What the responder needs of one HTTP request, independent of the HTTP library.
struct SimRequest: Sendable {
    var method: String
    var path: String
    var query: [String: String]

    /// A boolean query parameter read as Go's `strconv.ParseBool` reads it (kube-apiserver's
    /// decoder): `1`, `t`, `T`, `true`, `TRUE` and `True` are true (clients send `watch=True`,
    /// `watch=1`, `watch=true`).
    func flag(_ name: String) -> Bool {
        ["1", "t", "T", "true", "TRUE", "True"].contains(query[name] ?? "")
    }
    var headers: [String: String]
    var body: Data

    /// Parses a raw query string (`a=1&b=x%20y`); `+` is a space, as Go servers read it.
    static func parseQuery(_ query: String?) -> [String: String] {
        var out: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                // Most names and values need no decoding: skip Foundation's (a hot path).
                guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(s) }
                return String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            out[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }

    var wantsTable: Bool { (headers["accept"] ?? "").contains("as=Table") }

    /// The field manager of a write that names none: the client's name, as Kubernetes takes
    /// it from the User-Agent (`kubectl/v1.32.4 …` → `kubectl`).
    var manager: String {
        if let name = query["fieldManager"], !name.isEmpty { return name }
        let agent = headers["user-agent"] ?? "unknown"
        return String(agent.split(separator: "/").first ?? "unknown")
    }

    var dryRun: Bool { query["dryRun"] == "All" }
    /// `fieldValidation=Strict`: unknown fields are refused, not dropped.
    var strictFields: Bool { query["fieldValidation"] == "Strict" }
}

/// What the responder answers.
enum SimResponse: Sendable {
    case json(Int, JSONValue)
    case text(Int, String, contentType: String)
    case watch(AsyncStream<Data>)
}
