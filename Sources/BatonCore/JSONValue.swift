import Foundation
import Yams

/// A JSON document: Kubernetes objects as the client sends and reads them and as KubeSim stores them.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON only (RFC 8259): for answers that must be JSON, such as an HTTP gate's body
    /// or Prometheus's API.
    public static func parseJSON(_ data: Data) throws -> JSONValue {
        try JSONText.parse(data)
    }

    /// Parses JSON, or YAML (apply patches and manifests may be either).
    public static func parse(_ data: Data) throws -> JSONValue {
        if let value = try? JSONText.parse(data) { return value }
        guard let text = String(data: data, encoding: .utf8) else { throw JSONValueError.notUTF8 }
        // The basic resolver: `init(yaml:)` types plain scalars itself, and the default
        // resolver's regular expressions cost more than the rest of the parse.
        guard let node = try Yams.compose(yaml: text, .basic, .default, .utf8) else { return .null }
        return try JSONValue(yaml: node)
    }

    /// Converts a composed YAML node. An alias the parser has already resolved shares the
    /// anchored node, so a small document can stand for an exponential tree (a "billion laughs"
    /// bomb): `budget` is how many nodes may still be made, and conversion stops with
    /// `JSONValueError.tooManyNodes` once it is spent, in bounded time and memory.
    public init(yaml node: Node, budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else { throw JSONValueError.tooManyNodes }
        switch node {
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = try JSONValue(yaml: value, budget: &budget) }
            self = .object(object)
        case .sequence(let sequence):
            var array: [JSONValue] = []
            array.reserveCapacity(sequence.count)
            for element in sequence { array.append(try JSONValue(yaml: element, budget: &budget)) }
            self = .array(array)
        case .scalar, .alias:
            self = try JSONValue(yaml: node)
        }
    }

    public init(yaml node: Node) throws {
        switch node {
        case .scalar(let scalar):
            if scalar.style != .plain || Self.plainlyText(scalar.string) {
                self = .string(scalar.string)
            } else if let bool = Bool.construct(from: scalar) {
                self = .bool(bool)
            } else if let int = Int.construct(from: scalar) {
                self = .int(Int64(int))
            } else if let double = Double.construct(from: scalar), scalar.string.contains(where: { $0.isNumber }) {
                // JSON has no infinity: `replicas: 1e999` must not quietly become null.
                guard double.isFinite else { throw JSONValueError.numberOutOfRange(scalar.string, line: node.mark?.line) }
                self = .double(double)
            } else if ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                self = .null
            } else {
                self = .string(scalar.string)
            }
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = try JSONValue(yaml: value) }
            self = .object(object)
        case .sequence(let sequence):
            self = .array(try sequence.map(JSONValue.init(yaml:)))
        case .alias:
            throw JSONValueError.alias
        }
    }

    /// Whether a plain YAML scalar can only be a string: it starts with a letter that begins
    /// none of YAML 1.1's booleans (`true`, `false`, `yes`, `no`, `on`, `off`, `y`, `n`) or
    /// nulls. Most values in manifests are such names; the full typing rules are costly.
    static func plainlyText(_ text: String) -> Bool {
        guard let first = text.utf8.first else { return false }
        switch first {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return !"tfynoTFYNO".utf8.contains(first)
        case UInt8(ascii: "/"), UInt8(ascii: "\""), UInt8(ascii: "$"), UInt8(ascii: "@"):
            return true
        default:
            return false
        }
    }

    /// JSON text with keys sorted (compact unless `pretty`).
    public func encoded(pretty: Bool = false) -> Data {
        if !pretty { return JSONText.serialize(self) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    // MARK: Access

    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let object) = self else { return nil }
            return object[key]
        }
        set {
            guard case .object(var object) = self else { return }
            object[key] = newValue
            self = .object(object)
        }
    }

    /// The value at a path of keys, such as `["metadata", "name"]`.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            var value: JSONValue? = self
            for key in path { value = value?[key] }
            return value
        }
        set {
            guard let first = path.first else {
                self = newValue ?? .null
                return
            }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first] ?? .object([:])
            if child.object == nil { child = .object([:]) }
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var int: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value == value.rounded(): return Int64(value)
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }
}

// Literals, so objects read as they print: ["kind": "Status", "code": 404].
extension JSONValue: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

public enum JSONValueError: Error {
    case notUTF8
    case alias
    /// More nodes than the budget allows (`init(yaml:budget:)`).
    case tooManyNodes
    /// A number JSON cannot hold (`1e999`, `.inf`), as written, and its line.
    case numberOutOfRange(String, line: Int?)
}
