import BatonCore
import Foundation

/// The protobuf bodies kubectl's typed `create` commands send (`kubectl create namespace`,
/// `configmap`, `secret generic`, `serviceaccount`, `role`, `clusterrole`, `rolebinding`,
/// `clusterrolebinding`, `token`) and `kubectl auth can-i` and `auth whoami` send, read into
/// JSON. Only those kinds and the ObjectMeta fields name, generateName, namespace, labels and
/// annotations are understood; anything else is refused with 415 by the caller.
enum ProtobufEnvelope {
    struct Unsupported: Error {
        var reason: String
    }

    /// Reads `k8s\0` + `runtime.Unknown{typeMeta, raw}` into a JSON object.
    static func decode(_ data: Data) throws -> JSONValue {
        let bytes = [UInt8](data)
        guard bytes.count > 4, bytes[0..<4] == [0x6B, 0x38, 0x73, 0x00] else { throw Unsupported(reason: "not a Kubernetes protobuf envelope") }
        let unknown = try fields(bytes[4...])
        guard let typeMeta = unknown[1]?.first, let raw = unknown[2]?.first else { throw Unsupported(reason: "no type or body") }
        let meta = try fields(typeMeta[...])
        let apiVersion = string(meta[1]?.first), kind = string(meta[2]?.first)
        let body = try fields(raw[...])
        var object: [String: JSONValue] = ["apiVersion": .string(apiVersion), "kind": .string(kind)]
        if let metadata = body[1]?.first { object["metadata"] = try objectMeta(metadata) }
        switch (apiVersion, kind) {
        case ("v1", "Namespace"):
            break
        case ("v1", "ConfigMap"):
            object["data"] = try map(body[2] ?? [], base64: false)
            if let binary = body[3], !binary.isEmpty { object["binaryData"] = try map(binary, base64: true) }
        case ("v1", "Secret"):
            object["data"] = try map(body[2] ?? [], base64: true)
            if let type = body[3]?.first { object["type"] = .string(string(type)) }
        case ("v1", "ServiceAccount"):
            break
        case ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "ClusterRole"):
            // rules = 2: PolicyRule{verbs = 1, apiGroups = 2, resources = 3, resourceNames = 4, nonResourceURLs = 5}
            object["rules"] = .array(try (body[2] ?? []).map { rule in
                let fields = try fields(rule[...])
                var out: [String: JSONValue] = [:]
                for (number, key) in [(1, "verbs"), (2, "apiGroups"), (3, "resources"), (4, "resourceNames"), (5, "nonResourceURLs")] {
                    if let values = fields[number] { out[key] = .array(values.map { .string(string($0)) }) }
                }
                return .object(out)
            })
        case ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"):
            // subjects = 2: Subject{kind = 1, apiGroup = 2, name = 3, namespace = 4}; roleRef = 3: {apiGroup = 1, kind = 2, name = 3}
            object["subjects"] = .array(try (body[2] ?? []).map { try strings($0, [(1, "kind"), (2, "apiGroup"), (3, "name"), (4, "namespace")]) })
            if let roleRef = body[3]?.first { object["roleRef"] = try strings(roleRef, [(1, "apiGroup"), (2, "kind"), (3, "name")]) }
        case ("authentication.k8s.io/v1", "TokenRequest"):
            // spec = 2: TokenRequestSpec{audiences = 1, expirationSeconds = 4 (varint)}
            var spec: [String: JSONValue] = [:]
            if let bytes = body[2]?.first {
                var numbers: [Int: [UInt64]] = [:]
                let fields = try fields(bytes[...], varints: &numbers)
                if let audiences = fields[1] { spec["audiences"] = .array(audiences.map { .string(string($0)) }) }
                if let seconds = numbers[4]?.first { spec["expirationSeconds"] = .int(Int64(seconds)) }
            }
            object["spec"] = .object(spec)
        case ("authorization.k8s.io/v1", "SelfSubjectAccessReview"):
            // spec = 2: {resourceAttributes = 1: {namespace = 1, verb = 2, group = 3, version = 4, resource = 5,
            // subresource = 6, name = 7}, nonResourceAttributes = 2: {path = 1, verb = 2}}
            var spec: [String: JSONValue] = [:]
            if let bytes = body[2]?.first {
                let fields = try fields(bytes[...])
                if let resource = fields[1]?.first {
                    spec["resourceAttributes"] = try strings(resource, [(1, "namespace"), (2, "verb"), (3, "group"), (4, "version"),
                                                                        (5, "resource"), (6, "subresource"), (7, "name")])
                }
                if let nonResource = fields[2]?.first { spec["nonResourceAttributes"] = try strings(nonResource, [(1, "path"), (2, "verb")]) }
            }
            object["spec"] = .object(spec)
        case ("authentication.k8s.io/v1", "SelfSubjectReview"):
            break
        default:
            throw Unsupported(reason: "protobuf bodies of \(kind) are not understood")
        }
        return .object(object)
    }

    private static func objectMeta(_ bytes: [UInt8]) throws -> JSONValue {
        let meta = try fields(bytes[...])
        var out: [String: JSONValue] = [:]
        for (number, key) in [(1, "name"), (2, "generateName"), (3, "namespace")] {
            if let value = meta[number]?.first { out[key] = .string(string(value)) }
        }
        if let labels = meta[11] { out["labels"] = try map(labels, base64: false) }
        if let annotations = meta[12] { out["annotations"] = try map(annotations, base64: false) }
        return .object(out)
    }

    /// A protobuf `map<string, string|bytes>`: repeated entries of key = 1, value = 2.
    private static func map(_ entries: [[UInt8]], base64: Bool) throws -> JSONValue {
        var out: [String: JSONValue] = [:]
        for entry in entries {
            let pair = try fields(entry[...])
            let key = string(pair[1]?.first)
            let value = pair[2]?.first ?? []
            out[key] = .string(base64 ? Data(value).base64EncodedString() : string(value))
        }
        return .object(out)
    }

    /// A message of string fields, as a JSON object (fields absent stay absent).
    private static func strings(_ bytes: [UInt8], _ names: [(Int, String)]) throws -> JSONValue {
        let fields = try fields(bytes[...])
        var out: [String: JSONValue] = [:]
        for (number, key) in names { if let value = fields[number]?.first { out[key] = .string(string(value)) } }
        return .object(out)
    }

    private static func string(_ bytes: [UInt8]?) -> String {
        String(decoding: bytes ?? [], as: UTF8.self)
    }

    /// The length-delimited fields of a message by number (fixed fields skipped).
    private static func fields(_ bytes: ArraySlice<UInt8>) throws -> [Int: [[UInt8]]] {
        var ignored: [Int: [UInt64]] = [:]
        return try fields(bytes, varints: &ignored)
    }

    /// The length-delimited fields of a message by number, and its varint fields into `varints`.
    private static func fields(_ bytes: ArraySlice<UInt8>, varints: inout [Int: [UInt64]]) throws -> [Int: [[UInt8]]] {
        var out: [Int: [[UInt8]]] = [:]
        var i = bytes.startIndex
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < bytes.endIndex, shift < 64 else { throw Unsupported(reason: "truncated varint") }
                let byte = bytes[i]
                i += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
        }
        while i < bytes.endIndex {
            let tag = try varint()
            let number = Int(tag >> 3)
            switch tag & 7 {
            case 0: varints[number, default: []].append(try varint())
            case 1: i += 8
            case 5: i += 4
            case 2:
                let length = Int(try varint())
                guard length >= 0, i + length <= bytes.endIndex else { throw Unsupported(reason: "truncated field \(number)") }
                out[number, default: []].append(Array(bytes[i..<(i + length)]))
                i += length
            default:
                throw Unsupported(reason: "unsupported wire type in field \(number)")
            }
        }
        return out
    }
}
