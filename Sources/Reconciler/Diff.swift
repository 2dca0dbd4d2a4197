import BatonCore
import Foundation
import Manifests

/// Comparing what a revision wants with what the cluster has, on the fields Baton manages.
public enum Diff {
    /// Whether `live` has every field of `desired` with the same value (lists compared
    /// element by element and of the same length). Fields the server adds are not compared;
    /// an empty map or list in `desired` matches an absent one.
    public static func contains(_ live: JSONValue?, _ desired: JSONValue) -> Bool {
        switch desired {
        case .object(let fields):
            if fields.isEmpty { return live == nil || live == .null || live?.object != nil }
            guard case .object(let liveFields)? = live else { return false }
            return fields.allSatisfy { contains(liveFields[$0.key], $0.value) }
        case .array(let elements):
            if elements.isEmpty { return live == nil || live == .null || live?.array?.isEmpty == true }
            guard case .array(let liveElements)? = live, liveElements.count == elements.count else { return false }
            return zip(liveElements, elements).allSatisfy { contains($0, $1) }
        case .null:
            return live == nil || live == .null
        case .int(let number):
            return live == .int(number) || live == .double(Double(number))
        case .double(let number):
            return live == .double(number) || (number == number.rounded() && live == .int(Int64(number)))
        default:
            return live == desired
        }
    }

    /// `desired` without what is not compared: `status`, and the revision annotation (an
    /// unchanged object keeps the revision that last changed it).
    static func comparable(_ desired: JSONValue) -> JSONValue {
        var copy = desired
        copy["status"] = nil
        copy[path: ["metadata", "annotations", Normalizer.revisionAnnotation]] = nil
        return copy
    }

    /// Removes the RFC 6901 JSON pointer `pointer` from `value`.
    static func remove(_ pointer: String, from value: inout JSONValue) {
        let tokens = pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
        guard !tokens.isEmpty else { return }
        remove(Array(tokens)[...], from: &value)
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

    /// `live` cut down to the shape of `desired`: only the fields `desired` has, so a diff shows
    /// what Baton manages and not what the server added.
    static func project(_ live: JSONValue?, onto desired: JSONValue) -> JSONValue? {
        guard let live else { return nil }
        switch (desired, live) {
        case (.object(let fields), .object(let liveFields)):
            var out: [String: JSONValue] = [:]
            for (key, value) in fields { if let projected = project(liveFields[key], onto: value) { out[key] = projected } }
            return .object(out)
        case (.array(let elements), .array(let liveElements)) where elements.count == liveElements.count:
            return .array(zip(elements, liveElements).map { project($1, onto: $0) ?? .null })
        default:
            return live
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
