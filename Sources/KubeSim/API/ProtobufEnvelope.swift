import BatonCore
import Foundation

/// The protobuf bodies kubectl's typed `create` commands send (`kubectl create namespace`,
/// `create configmap`, `create secret generic`), read into JSON. Only those kinds and the
/// ObjectMeta fields name, generateName, namespace, labels and annotations are understood;
/// anything else is refused with 415 by the caller.
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

    private static func string(_ bytes: [UInt8]?) -> String {
        String(decoding: bytes ?? [], as: UTF8.self)
    }

    /// The length-delimited fields of a message by number (varint and fixed fields skipped).
    private static func fields(_ bytes: ArraySlice<UInt8>) throws -> [Int: [[UInt8]]] {
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
            case 0: _ = try varint()
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
