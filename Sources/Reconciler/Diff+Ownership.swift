import BatonCore
import Foundation

extension Diff {
    /// Whether `stored` (the server's dry run of Baton's apply) differs from `live` only where
    /// no field manager owns the field in `stored` — what a mutating admission webhook sets:
    /// kube-apiserver runs mutating admission after it has recorded field ownership, so a
    /// webhook's fields belong to nobody, and a webhook that writes something new each time (a
    /// timestamp, an injected sidecar's hash) would otherwise keep the object OutOfSync for
    /// ever. Ownership is used for nothing else: a field in `live` that the dry run removed
    /// (taken out of git) always counts, and so does any owned field that differs.
    public static func differsOnlyInUnownedFields(_ stored: JSONValue, _ live: JSONValue) -> Bool {
        var owned: JSONValue = .object([:])
        for entry in stored[path: ["metadata", "managedFields"]]?.array ?? [] {
            if let fields = entry["fieldsV1"] { merge(fields, into: &owned) }
        }
        return !ownedDifference(storedForm(stored), storedForm(live), owned: owned)
    }

    /// The union of field sets (FieldsV1 tries).
    static func merge(_ fields: JSONValue, into owned: inout JSONValue) {
        guard case .object(let entries) = fields, case .object(var target) = owned else { return }
        for (key, child) in entries {
            var merged = target[key] ?? .object([:])
            merge(child, into: &merged)
            target[key] = merged
        }
        owned = .object(target)
    }

    /// Whether `stored` and `live` differ somewhere `owned` (the FieldsV1 node of this value;
    /// nil: nobody owns it) covers, or where the dry run removed something.
    static func ownedDifference(_ stored: JSONValue?, _ live: JSONValue?, owned: JSONValue?) -> Bool {
        guard stored != live else { return false }
        guard let stored else { return true }  // removed by the dry run: what an apply would do
        guard let owned else { return false }  // nobody's: admission's
        // A leaf owns the whole value; `.` owns only the field's presence, its members stay apart.
        let children = owned.object ?? [:]
        if children.isEmpty { return true }
        switch (stored, live) {
        case (.object(let a), .object(let b)?):
            for key in Set(a.keys).union(b.keys) where ownedDifference(a[key], b[key], owned: children["f:" + key]) { return true }
            return false
        case (.array(let a), .array(let b)?):
            // Elements are owned by key (`k:{"name":"web"}`) or value (`v:"x"`); they are matched across the two lists that way.
            var unmatchedLive = Array(b.indices)
            for element in a {
                let node = elementNode(element, in: children)
                let match = unmatchedLive.firstIndex { sameElement(element, b[$0], node: node) }
                let counterpart = match.map { b[unmatchedLive.remove(at: $0)] }
                if ownedDifference(element, counterpart, owned: node?.value) { return true }
            }
            // What only the live list has, the dry run removed (an element taken out of git):
            // an apply keeps elements it does not own.
            return !unmatchedLive.isEmpty
        default:
            return true
        }
    }

    /// The FieldsV1 entry (key and node) owning list `element`, if any.
    static func elementNode(_ element: JSONValue, in children: [String: JSONValue]) -> (key: String, value: JSONValue)? {
        for (key, node) in children {
            if key.hasPrefix("k:"), let selector = try? JSONValue.parse(Data(key.dropFirst(2).utf8)), case .object(let fields) = selector,
               fields.allSatisfy({ element[$0.key] == $0.value }) {
                return (key, node)
            }
            if key.hasPrefix("v:"), let value = try? JSONValue.parse(Data(key.dropFirst(2).utf8)), value == element { return (key, node) }
        }
        return nil
    }

    /// Whether `b` is the same list element as `a`: the same key fields when `a` is owned by
    /// key, the same `name` otherwise, or equal.
    static func sameElement(_ a: JSONValue, _ b: JSONValue, node: (key: String, value: JSONValue)?) -> Bool {
        if let node, node.key.hasPrefix("k:"), let selector = try? JSONValue.parse(Data(node.key.dropFirst(2).utf8)), case .object(let fields) = selector {
            return fields.allSatisfy { b[$0.key] == $0.value }
        }
        if let name = a["name"], b["name"] != nil { return b["name"] == name }
        return a == b
    }
}
