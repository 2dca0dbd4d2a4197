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
