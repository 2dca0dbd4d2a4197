import Foundation
import Yams

/// Collects the issues found in one file while its document is decoded.
final class IssueLog {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
    }

    func add(_ node: Node, _ path: ConfigPath, _ message: String) {
        add(YAMLSource.position(of: node), path, message)
    }

    func add(_ position: SourcePosition, _ path: ConfigPath, _ message: String) {
        issues.append(ConfigIssue(file: file, position: position, keyPath: path.text, message: message))
    }
}

/// A key path inside a document: `stages[2].gates[0].prometheus.max`.
struct ConfigPath: Sendable, Hashable {
    var text = ""

    func key(_ name: String) -> ConfigPath {
        ConfigPath(text: text.isEmpty ? name : text + "." + name)
    }

    func index(_ i: Int) -> ConfigPath {
        ConfigPath(text: text + "[\(i)]")
    }
}

/// One YAML value at a known path, read as the type a key expects. A value of the wrong type
/// logs an issue naming the path and what was found, and reads as nil.
struct ValueReader {
    let node: Node
    let path: ConfigPath
    let log: IssueLog

    /// Logs `message` at this value.
    func fail(_ message: String) {
        log.add(node, path, message)
    }

    /// How a value looks in a message: a scalar's text in quotes, else its kind.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return quote(scalar.string)
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    private var plainText: String? {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return nil }
        return scalar.string
    }

    func string() -> String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a string, got \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    /// A scalar of any type (string, number, boolean, null) as it is written.
    func scalarText() -> String? {
        guard case .scalar(let scalar) = node else {
            fail("expected a string, number, true, false or null, got \(Self.describe(node))")
            return nil
        }
        return scalar.string
    }

    /// A string that must not be empty.
    func nonEmptyString() -> String? {
        guard let text = string() else { return nil }
        if text.trimmingCharacters(in: .whitespaces).isEmpty {
            fail("must not be empty")
            return nil
        }
        return text
    }

    func bool() -> Bool? {
        switch plainText {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            fail("expected true or false, got \(Self.describe(node))")
            return nil
        }
    }

    func int() -> Int? {
        guard let text = plainText, let value = Int(text) else {
            fail("expected a whole number, got \(Self.describe(node))")
            return nil
        }
        return value
    }

    /// An int no smaller than `minimum`.
    func int(atLeast minimum: Int) -> Int? {
        guard let value = int() else { return nil }
        if value < minimum {
            fail("must be at least \(minimum), got \(value)")
            return nil
        }
        return value
    }

    func number() -> Double? {
        guard let text = plainText, let value = Double(text), value.isFinite,
              text.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true else {
            fail("expected a number, got \(Self.describe(node))")
            return nil
        }
        return value
    }

    /// A duration such as `30s`; zero only where `allowZero`, never negative.
    func duration(allowZero: Bool = false) -> TimeSpan? {
        guard case .scalar(let scalar) = node, let value = Duration(config: scalar.string) else {
            fail("expected a duration such as \"30s\", \"5m\" or \"1h30m\", got \(Self.describe(node))")
            return nil
        }
        if value < .zero {
            fail("must not be negative, got \(Self.quote(scalar.string))")
            return nil
        }
        if value == .zero && !allowZero {
            fail("must be longer than 0s")
            return nil
        }
        return TimeSpan(value)
    }

    /// One of `choices`, with a suggestion when the value is close to one.
    func choice(_ choices: [String]) -> String? {
        guard let text = string() else { return nil }
        if choices.contains(text) { return text }
        let list = choices.joined(separator: ", ")
        if let near = Spelling.closest(to: text, in: choices) {
            fail("expected one of \(list), got \(Self.quote(text)); did you mean \(Self.quote(near))?")
        } else {
            fail("expected one of \(list), got \(Self.quote(text))")
        }
        return nil
    }

    func mapping(keys: [String], nullIsEmpty: Bool = false) -> MappingReader? {
        MappingReader(self, keys: keys, nullIsEmpty: nullIsEmpty)
    }

    /// The elements of a list, each at its indexed path.
    func list() -> [ValueReader]? {
        guard case .sequence(let sequence) = node else {
            fail("expected a list, got \(Self.describe(node))")
            return nil
        }
        return sequence.enumerated().map { ValueReader(node: $1, path: path.index($0), log: log) }
    }

    /// A list, or a single value read as a list of one (as `expectStatus: 200`).
    func oneOrMany() -> [ValueReader] {
        if case .sequence = node { return list() ?? [] }
        return [self]
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// One YAML mapping whose keys are known: unknown keys are reported (with the closest valid
/// key), and values are looked up by key. A key whose value is null counts as absent.
struct MappingReader {
    let value: ValueReader
    private let entries: [String: (key: Node, value: Node)]
    /// The valid keys the mapping has, in file order, including those whose value is null.
    let keys: [String]

    /// Reads `value` as a mapping with the `allowed` keys; with `nullIsEmpty`, a null value
    /// (`health:` with nothing after it) reads as an empty mapping.
    init?(_ value: ValueReader, keys allowed: [String], nullIsEmpty: Bool = false) {
        self.value = value
        var entries: [String: (key: Node, value: Node)] = [:]
        var keys: [String] = []
        var pairs: [(Node, Node)] = []
        if case .mapping(let mapping) = value.node {
            pairs = Array(mapping)
        } else if !(nullIsEmpty && YAMLSource.isNull(value.node)) {
            value.fail("expected a mapping, got \(ValueReader.describe(value.node))")
            return nil
        }
        for (keyNode, valueNode) in pairs {
            guard case .scalar(let scalar) = keyNode else {
                value.log.add(keyNode, value.path, "a key must be a string, got \(ValueReader.describe(keyNode))")
                continue
            }
            let key = scalar.string
            guard allowed.contains(key) else {
                let path = value.path.key(key)
                if let near = Spelling.closest(to: key, in: allowed) {
                    value.log.add(keyNode, path, "unknown key \(ValueReader.quote(key)); did you mean \(ValueReader.quote(near))?")
                } else {
                    value.log.add(keyNode, path, "unknown key \(ValueReader.quote(key)); expected one of \(allowed.joined(separator: ", "))")
                }
                continue
            }
            entries[key] = (keyNode, valueNode)
            keys.append(key)
        }
        self.entries = entries
        self.keys = keys
    }

    var path: ConfigPath { value.path }
    var log: IssueLog { value.log }

    /// The keys present with a non-null value.
    var presentKeys: [String] {
        entries.filter { !YAMLSource.isNull($0.value.value) }.map(\.key)
    }

    /// The value of `key`, or nil when it is absent or null.
    func optional(_ key: String) -> ValueReader? {
        guard let entry = entries[key], !YAMLSource.isNull(entry.value) else { return nil }
        return ValueReader(node: entry.value, path: path.key(key), log: log)
    }

    /// The value of `key`; when absent, logs that it is required.
    func required(_ key: String) -> ValueReader? {
        if let value = optional(key) { return value }
        let at = entries[key]?.value ?? value.node
        log.add(at, path.key(key), "is required")
        return nil
    }

    /// The value of `key` even when it is null; nil only when the key is absent.
    func raw(_ key: String) -> ValueReader? {
        entries[key].map { ValueReader(node: $0.value, path: path.key(key), log: log) }
    }

    /// The node of the key itself (for issues about the key rather than its value).
    func keyNode(_ key: String) -> Node? {
        entries[key]?.key
    }
}
