import BatonCore
import Foundation

extension ClusterState {
    /// Checks what the real API server checks before it stores an object: the body is an
    /// object of the URL's kind, the name is valid, the namespace matches and exists.
    func validate(_ type: ResourceType, namespace: String, body: JSONValue, name expected: String?) throws(APIError) -> JSONValue {
        guard var object = body.object.map(JSONValue.object) else {
            throw APIError.badRequest("the body of the request is not a JSON object")
        }
        let apiVersion = object["apiVersion"]?.string ?? "", kind = object["kind"]?.string ?? ""
        if apiVersion != type.apiVersion {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(type.apiVersion))")
        }
        if kind != type.kind {
            throw APIError.badRequest("the kind in the data (\(kind)) does not match the expected kind (\(type.kind))")
        }
        var name = object[path: ["metadata", "name"]]?.string ?? ""
        if name.isEmpty, expected == nil, let prefix = object[path: ["metadata", "generateName"]]?.string, !prefix.isEmpty {
            name = prefix + String(UUID().uuidString.lowercased().prefix(5))
            object[path: ["metadata", "name"]] = .string(name)
        }
        if let expected, name != expected {
            if name.isEmpty {
                object[path: ["metadata", "name"]] = .string(expected)
                name = expected
            } else {
                throw APIError.badRequest("the name of the object (\(name)) does not match the name on the URL (\(expected))")
            }
        }
        var causes: [(field: String, message: String)] = []
        if name.isEmpty {
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        } else if let problem = Self.nameProblem(name, label: type.plural == "namespaces") {
            causes.append(("metadata.name", "Invalid value: \"\(name)\": \(problem)"))
        }
        for field in ["labels", "annotations"] {
            if let map = object[path: ["metadata", field]], map != .null {
                guard let entries = map.object, entries.values.allSatisfy({ $0.string != nil }) else {
                    causes.append(("metadata.\(field)", "Invalid value: must be a map of strings"))
                    continue
                }
            }
        }
        if !causes.isEmpty { throw APIError.invalid(type, name, causes) }
        if type.namespaced {
            let bodyNamespace = object[path: ["metadata", "namespace"]]?.string ?? ""
            if !bodyNamespace.isEmpty && bodyNamespace != namespace {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            guard objects[ObjectKey(group: "", plural: "namespaces", namespace: "", name: namespace)] != nil else {
                throw APIError.notFound(.namespace, namespace)
            }
        } else {
            object[path: ["metadata", "namespace"]] = nil
        }
        return object
    }

    /// Why `name` is not a DNS-1123 subdomain (or label, for namespaces), or nil.
    static func nameProblem(_ name: String, label: Bool) -> String? {
        let limit = label ? 63 : 253
        let allowed = label ? "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
            : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        guard name.count <= limit else { return "must be no more than \(limit) characters" }
        let bytes = Array(name.utf8)
        func alphanumeric(_ b: UInt8) -> Bool { (0x61...0x7A).contains(b) || (0x30...0x39).contains(b) }
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last),
              bytes.allSatisfy({ alphanumeric($0) || $0 == UInt8(ascii: "-") || (!label && $0 == UInt8(ascii: ".")) }) else {
            return allowed
        }
        return nil
    }
}
