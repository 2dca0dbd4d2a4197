import BatonCore
import Foundation

/// Field paths in the `FieldsV1` notation of managed fields: each step is `f:NAME` for a map
/// key or `k:{...}` for an element of an associative list (identified by its key fields).
/// Lists that Kubernetes does not key are atomic: the list is one leaf.
typealias FieldPath = [String]

enum FieldSet {
    /// The keys by which Kubernetes merges the elements of a list field, or nil for an
    /// atomic list.
    static func listKeys(field: String, elements: [JSONValue]) -> [String]? {
        switch field {
        case "containers", "initContainers", "ephemeralContainers", "env", "volumes", "imagePullSecrets":
            return ["name"]
        case "hostAliases": return ["ip"]
        case "volumeMounts": return ["mountPath"]
        case "conditions": return ["type"]
        case "ports":
            return elements.contains { $0["containerPort"] != nil } ? ["containerPort", "protocol"] : ["port", "protocol"]
        default: return nil
        }
    }

    /// The step naming `element` of a keyed list.
    static func keyStep(_ element: JSONValue, keys: [String]) -> String {
        var fields: [String: JSONValue] = [:]
        for key in keys {
            if let value = element[key] {
                fields[key] = value
            } else if key == "protocol" {
                fields[key] = "TCP"
            }
        }
        return "k:" + String(decoding: JSONValue.object(fields).encoded(), as: UTF8.self)
    }

    /// Every leaf path in `value` (maps are walked, keyed lists are walked by element,
    /// scalars, atomic lists and empty maps are leaves). Keyed list elements are paths too.
    static func paths(of value: JSONValue, prefix: FieldPath = []) -> Set<FieldPath> {
        var out: Set<FieldPath> = []
        var path = prefix
        collect(value, path: &path, into: &out)
        return out
    }

    /// `paths` into one set, with one path buffer (a hot path of every write: no set per level).
    private static func collect(_ value: JSONValue, path: inout FieldPath, into out: inout Set<FieldPath>) {
        guard case .object(let object) = value, !object.isEmpty else {
            if !path.isEmpty { out.insert(path) }
            return
        }
        for (key, child) in object {
            path.append("f:" + key)
            if case .array(let elements) = child, let keys = listKeys(field: key, elements: elements) {
                if elements.isEmpty { out.insert(path) }
                for element in elements {
                    path.append(keyStep(element, keys: keys))
                    out.insert(path)
                    collect(element, path: &path, into: &out)
                    path.removeLast()
                }
            } else {
                collect(child, path: &path, into: &out)
            }
            path.removeLast()
        }
    }

    /// What an update changed, as managed fields count it: the paths of `after` whose value
    /// differs in `before` (`changed`), and the paths of `before` that `after` lacks
    /// (`removed`). The same sets as filtering `paths(of:)` through `value(in:at:)`, in one
    /// walk of each side (every write of a controller comes through here).
    static func changes(from before: JSONValue, to after: JSONValue) -> (changed: Set<FieldPath>, removed: Set<FieldPath>) {
        var changed: Set<FieldPath> = [], removed: Set<FieldPath> = []
        var path: FieldPath = []
        walk(after, other: before, path: &path, into: &changed, differing: true)
        walk(before, other: after, path: &path, into: &removed, differing: false)
        return (changed, removed)
    }

    /// Walks `value` as `collect` does, with `other` the node at the same path on the other
    /// side (nil where it has none); a path is kept when the other side differs there
    /// (`differing`) or lacks it.
    private static func walk(_ value: JSONValue, other: JSONValue?, path: inout FieldPath, into out: inout Set<FieldPath>, differing: Bool) {
        guard case .object(let object) = value, !object.isEmpty else {
            if !path.isEmpty, differing ? other != value : other == nil { out.insert(path) }
            return
        }
        for (key, child) in object {
            path.append("f:" + key)
            let counterpart = other?[key]
            if case .array(let elements) = child, let keys = listKeys(field: key, elements: elements) {
                if elements.isEmpty, differing ? counterpart != child : counterpart == nil { out.insert(path) }
                // The other side's elements by their own key step (its list may key differently).
                var others: [String: JSONValue] = [:]
                if let otherElements = counterpart?.array, let otherKeys = listKeys(field: key, elements: otherElements) {
                    for element in otherElements {
                        let step = keyStep(element, keys: otherKeys)
                        if others[step] == nil { others[step] = element }
                    }
                }
                // A key listed twice is looked up as its first element, on both sides.
                var seen: Set<String> = []
                for element in elements {
                    let step = keyStep(element, keys: keys)
                    guard seen.insert(step).inserted else { continue }
                    let match = others[step]
                    path.append(step)
                    if differing ? match != element : match == nil { out.insert(path) }
                    walk(element, other: match, path: &path, into: &out, differing: differing)
                    path.removeLast()
                }
            } else {
                walk(child, other: counterpart, path: &path, into: &out, differing: differing)
            }
            path.removeLast()
        }
    }

    /// The value at `path`, or nil.
    static func value(in root: JSONValue, at path: FieldPath) -> JSONValue? {
        var current: JSONValue? = root
        var field = ""
        for step in path {
            if step.hasPrefix("f:") {
                field = String(step.dropFirst(2))
                current = current?[field]
            } else if step.hasPrefix("k:"), let elements = current?.array,
                      let keys = listKeys(field: field, elements: elements) {
                current = elements.first { keyStep($0, keys: keys) == step }
            } else {
                return nil
            }
        }
        return current
    }

    /// `root` without the value at `path`.
    static func removing(_ path: FieldPath, from root: JSONValue) -> JSONValue {
        guard let step = path.first else { return root }
        if step.hasPrefix("f:") {
            let key = String(step.dropFirst(2))
            guard var object = root.object, let child = object[key] else { return root }
            if path.count == 1 {
                object[key] = nil
            } else if case .array(let elements) = child, let next = path.dropFirst().first, next.hasPrefix("k:"),
                      let keys = listKeys(field: key, elements: elements) {
                var kept: [JSONValue] = []
                for element in elements {
                    if keyStep(element, keys: keys) == next {
                        if path.count > 2 { kept.append(removing(Array(path.dropFirst(2)), from: element)) }
                    } else {
                        kept.append(element)
                    }
                }
                object[key] = kept.isEmpty ? nil : .array(kept)
            } else {
                object[key] = removing(Array(path.dropFirst()), from: child)
            }
            return .object(object)
        }
        return root
    }

    /// `applied` merged into `live` as server-side apply merges: maps recursively, keyed lists
    /// element by element, everything else replaced. A null in `applied` removes the field.
    static func merge(_ live: JSONValue?, _ applied: JSONValue, field: String = "") -> JSONValue {
        switch applied {
        case .object(let appliedObject):
            var result = live?.object ?? [:]
            for (key, value) in appliedObject {
                if value == .null {
                    result[key] = nil
                } else {
                    result[key] = merge(result[key], value, field: key)
                }
            }
            return .object(result)
        case .array(let appliedElements):
            guard let keys = listKeys(field: field, elements: appliedElements), let liveElements = live?.array else {
                return applied
            }
            var result = liveElements
            for element in appliedElements {
                let step = keyStep(element, keys: keys)
                if let index = result.firstIndex(where: { keyStep($0, keys: keys) == step }) {
                    result[index] = merge(result[index], element, field: "")
                } else {
                    result.append(element)
                }
            }
            return .array(result)
        default:
            return applied
        }
    }

    /// `path` as people read it: `.spec.template.spec.containers[name="web"].image`.
    static func describe(_ path: FieldPath) -> String {
        path.map { step -> String in
            if step.hasPrefix("f:") { return "." + step.dropFirst(2) }
            guard let data = step.dropFirst(2).data(using: .utf8), let keys = (try? JSONValue.parse(data))?.object else {
                return "[" + step + "]"
            }
            let inner = keys.sorted { $0.key < $1.key }.map { key, value -> String in
                switch value {
                case .string(let text): return "\(key)=\"\(text)\""
                default: return "\(key)=\(String(decoding: value.encoded(), as: UTF8.self))"
                }
            }
            return "[" + inner.joined(separator: ",") + "]"
        }.joined()
    }

    /// The `fieldsV1` tree for a set of paths.
    static func fieldsV1(_ paths: Set<FieldPath>) -> JSONValue {
        var root: [String: JSONValue] = [:]
        for path in paths.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            insert(path[...], into: &root)
        }
        return .object(root)
    }

    private static func insert(_ path: ArraySlice<String>, into node: inout [String: JSONValue]) {
        guard let first = path.first else { return }
        var child = node[first]?.object ?? [:]
        if path.count == 1 {
            if !child.isEmpty { child["."] = .object([:]) }
        } else {
            if node[first] != nil && child.isEmpty && path.count > 1 { child["."] = .object([:]) }
            insert(path.dropFirst(), into: &child)
        }
        node[first] = .object(child)
    }
}
