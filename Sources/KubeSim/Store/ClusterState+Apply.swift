import BatonCore
import Foundation

extension ClusterState {
    /// PATCH with `application/apply-patch+yaml`: server-side apply by `manager`.
    ///
    /// The manager owns exactly the fields of its applied configuration. A field another
    /// manager owns with a different value is a conflict unless `force` (which takes it over);
    /// fields the manager applied before and no longer applies are removed when nobody else
    /// owns them. Keyed lists merge element by element; other lists are replaced whole.
    public func apply(_ type: ResourceType, namespace: String, name: String, body: Data, manager: String?,
                      force: Bool, dryRun: Bool = false, strict: Bool = false) throws(APIError) -> JSONValue {
        guard let manager, !manager.isEmpty else {
            throw APIError.badRequest("PATCH requests with apply content type require a fieldManager")
        }
        let applied: JSONValue
        do {
            applied = try JSONValue.parse(body)
        } catch {
            throw APIError.badRequest("error decoding YAML: \(error)")
        }
        let version = applied["apiVersion"]?.string ?? ""
        guard version == type.apiVersion else {
            throw APIError.badRequest("Incorrect version specified in apply patch. Specified patch version: \(version), expected: \(type.apiVersion)")
        }
        var config = try validate(type, namespace: namespace, body: applied, name: name)
        // The applied configuration is decoded (stringData folded, quantities canonical, unknown
        // fields of a custom resource dropped or refused) but not defaulted: the manager owns
        // what it sent, not what the server filled in.
        try decode(type, &config, strict: strict, applying: true)
        let key = key(type, namespace, name)
        let me = Manager(name: manager, operation: "Apply")
        let mine = FieldSet.paths(of: Self.userFields(type, config))

        guard let live = objects[key] else {
            var object = config
            if type.hasStatus { object["status"] = nil }
            try prepare(type, &object)
            return try commitCreate(type, key, object, owners: [me: mine], dryRun: dryRun)
        }

        var ownership = owners[key] ?? [:]
        var conflicts: [(manager: String, path: FieldPath)] = []
        for (other, fields) in ownership where other != me {
            // An element marker (`k:{...}`) records that the element exists; its fields are compared.
            for path in fields.intersection(mine) where !(path.last ?? "").hasPrefix("k:")
                && FieldSet.value(in: live, at: path) != FieldSet.value(in: config, at: path) {
                conflicts.append((other.name, path))
            }
        }
        if !conflicts.isEmpty && !force {
            conflicts.sort { FieldSet.describe($0.path) < FieldSet.describe($1.path) }
            let lines = conflicts.map { "conflict with \"\($0.manager)\" using \(type.apiVersion): \(FieldSet.describe($0.path))" }
            let message = conflicts.count == 1 ? "Apply failed with 1 conflict: \(lines[0])"
                : "Apply failed with \(conflicts.count) conflicts: \(lines.joined(separator: "\n"))"
            throw APIError(code: 409, reason: "Conflict", message: message, details: .object([
                "name": .string(name), "group": .string(type.group), "kind": .string(type.plural),
                "causes": .array(conflicts.map { .object(["reason": "FieldManagerConflict", "message": .string("conflict with \"\($0.manager)\" using \(type.apiVersion)"), "field": .string(FieldSet.describe($0.path))]) }),
            ]))
        }
        // Forcing takes over the conflicting fields only; fields applied with the same value
        // stay shared with their other owners.
        for (other, path) in conflicts {
            for key in ownership.keys where key.name == other && key != me { ownership[key]?.remove(path) }
        }
        let previous = ownership[me] ?? []
        ownership[me] = mine

        var object = FieldSet.merge(live, config)
        let ownedByOthers = ownership.filter { $0.key != me }.values.reduce(into: Set<FieldPath>()) { $0.formUnion($1) }
        // Shortest first, so that a removed list element takes its fields along.
        var removed: [FieldPath] = []
        for path in previous.subtracting(mine).sorted(by: { $0.count < $1.count }) where !ownedByOthers.contains(path) {
            if removed.contains(where: { path.starts(with: $0) }) { continue }
            object = FieldSet.removing(path, from: object)
            removed.append(path)
        }
        if type.hasStatus { object["status"] = live["status"] }
        return try commitUpdate(type, key, live: live, new: object, manager: manager, operation: "Apply", dryRun: dryRun,
                                ownership: ownership.filter { !$0.value.isEmpty })
    }
}
