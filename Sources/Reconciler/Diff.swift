import BatonCore
import Foundation
import Manifests

/// Comparing what a revision wants with what the cluster has, on the fields Baton manages.
public enum Diff {
    /// An object as compared: without what the server keeps for itself (`managedFields`,
    /// `resourceVersion`, `generation`, `status`) and without Baton's revision annotation (an
    /// object a revision did not change keeps the revision that last changed it), as
    /// fluxcd/pkg's ssa does.
    public static func storedForm(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy["status"] = nil
        for field in ["managedFields", "resourceVersion", "generation"] { copy[path: ["metadata", field]] = nil }
        copy[path: ["metadata", "annotations", Normalizer.revisionAnnotation]] = nil
        if copy[path: ["metadata", "annotations"]]?.object?.isEmpty == true { copy[path: ["metadata", "annotations"]] = nil }
        return copy
    }

    /// Whether the server would store `stored` as `live` has it: the whole objects compared,
    /// so a field removed from git (and dropped by the dry run) counts too.
    public static func same(_ stored: JSONValue, _ live: JSONValue) -> Bool {
        storedForm(stored) == storedForm(live)
    }

    /// The value at RFC 6901 `pointer` in `value`, if any.
    static func value(at pointer: String, in value: JSONValue) -> JSONValue? {
        var current: JSONValue? = value
        for token in tokens(pointer) {
            switch current {
            case .object(let fields)?: current = fields[token]
            case .array(let elements)?: current = Int(token).flatMap { elements.indices.contains($0) ? elements[$0] : nil }
            default: return nil
            }
        }
        return current
    }

    /// Sets the value at `pointer` (objects along the way are created; array indices must exist).
    static func set(_ pointer: String, to newValue: JSONValue, in value: inout JSONValue) {
        let path = tokens(pointer)
        guard !path.isEmpty else { return }
        set(path[...], newValue, &value)
    }

    private static func set(_ path: ArraySlice<String>, _ newValue: JSONValue, _ value: inout JSONValue) {
        guard let first = path.first else {
            value = newValue
            return
        }
        switch value {
        case .array(var elements):
            guard let index = Int(first), elements.indices.contains(index) else { return }
            set(path.dropFirst(), newValue, &elements[index])
            value = .array(elements)
        default:
            var fields = value.object ?? [:]
            var child = fields[first] ?? .object([:])
            set(path.dropFirst(), newValue, &child)
            fields[first] = child
            value = .object(fields)
        }
    }

    static func tokens(_ pointer: String) -> [String] {
        pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    /// Removes the RFC 6901 JSON pointer `pointer` from `value`.
    static func remove(_ pointer: String, from value: inout JSONValue) {
        let path = tokens(pointer)
        guard !path.isEmpty else { return }
        remove(path[...], from: &value)
    }

    private static func remove(_ tokens: ArraySlice<String>, from value: inout JSONValue) {
        guard let first = tokens.first else { return }
        switch value {
        case .object(var fields):
            if tokens.count == 1 {
                fields[first] = nil
            } else if var child = fields[first] {
                remove(tokens.dropFirst(), from: &child)
                fields[first] = child
            }
            value = .object(fields)
        case .array(var elements):
            guard let index = Int(first), elements.indices.contains(index) else { return }
            if tokens.count == 1 {
                elements.remove(at: index)
            } else {
                remove(tokens.dropFirst(), from: &elements[index])
            }
            value = .array(elements)
        default:
            return
        }
    }

    /// Secret values replaced by a mask, so that a diff never shows them.
    static func masked(_ value: JSONValue?) -> JSONValue? {
        guard var value, value["kind"]?.string == "Secret" else { return value }
        for key in ["data", "stringData"] {
            if let fields = value[key]?.object { value[key] = .object(fields.mapValues { _ in .string("++++++++") }) }
        }
        return value
    }

    /// A line diff of two objects as YAML: `-` lines only in the cluster, `+` lines only in the
    /// revision, two spaces for lines in both.
    public static func text(live: JSONValue?, desired: JSONValue?) -> String {
        let old = live.map { YAMLText.lines(masked($0)!) } ?? []
        let new = desired.map { YAMLText.lines(masked($0)!) } ?? []
        let changes = new.difference(from: old)
        var removed = Set<Int>(), inserted = Set<Int>()
        for change in changes {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        var out: [String] = []
        var oldIndex = 0, newIndex = 0
        while oldIndex < old.count || newIndex < new.count {
            if oldIndex < old.count, removed.contains(oldIndex) {
                out.append("- " + old[oldIndex])
                oldIndex += 1
            } else if newIndex < new.count, inserted.contains(newIndex) {
                out.append("+ " + new[newIndex])
                newIndex += 1
            } else {
                if newIndex < new.count { out.append("  " + new[newIndex]) }
                oldIndex += 1
                newIndex += 1
            }
        }
        return out.joined(separator: "\n")
    }
}

/// JSON values as block YAML, keys sorted, strings quoted when YAML would read them otherwise.
enum YAMLText {
    static func lines(_ value: JSONValue) -> [String] {
        var out: [String] = []
        write(value, indent: "", into: &out, prefix: nil)
        return out
    }

    private static func scalar(_ value: JSONValue) -> String? {
        switch value {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .double(let number): "\(number)"
        case .string(let text): quoted(text)
        case .object(let fields) where fields.isEmpty: "{}"
        case .array(let elements) where elements.isEmpty: "[]"
        default: nil
        }
    }

    private static func quoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) }
            && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased())
            && Double(text) == nil && !text.hasPrefix("-")
        return plain ? text : String(decoding: JSONValue.string(text).encoded(), as: UTF8.self)
    }

    private static func write(_ value: JSONValue, indent: String, into out: inout [String], prefix: String?) {
        if let text = scalar(value) {
            out.append(indent + (prefix ?? "") + text)
            return
        }
        switch value {
        case .object(let fields):
            var first = true
            for key in fields.keys.sorted() {
                let child = fields[key]!
                let head = (first && prefix != nil) ? indent + prefix! : indent + String(repeating: " ", count: prefix?.count ?? 0)
                first = false
                if let text = scalar(child) {
                    out.append(head + quoted(key) + ": " + text)
                } else {
                    out.append(head + quoted(key) + ":")
                    write(child, indent: indent + String(repeating: " ", count: prefix?.count ?? 0) + "  ", into: &out, prefix: nil)
                }
            }
        case .array(let elements):
            for element in elements { write(element, indent: indent, into: &out, prefix: "- ") }
        default:
            break
        }
    }
}
