import BatonCore
import Foundation

extension ClusterState {
    /// POST: a new object. `manager` owns every field it sets.
    public func create(_ type: ResourceType, namespace: String, body: JSONValue, manager: String,
                       dryRun: Bool = false, strict: Bool = false) throws(APIError) -> JSONValue {
        var object = try validate(type, namespace: namespace, body: Self.typed(body, as: type), name: nil)
        let key = key(type, namespace, Self.name(of: object))
        guard objects[key] == nil else { throw APIError.alreadyExists(type, key.name) }
        if type.hasStatus { object["status"] = nil }
        try prepare(type, &object, strict: strict)
        let fields = FieldSet.paths(of: Self.userFields(type, object))
        return try commitCreate(type, key, object, owners: [Manager(name: manager, operation: "Update"): fields], dryRun: dryRun)
    }

    /// PUT: the whole object, guarded by `metadata.resourceVersion` when the body has one.
    public func replace(_ type: ResourceType, namespace: String, name: String, body: JSONValue, manager: String,
                        subresource: String? = nil, dryRun: Bool = false, strict: Bool = false) throws(APIError) -> JSONValue {
        let key = key(type, namespace, name)
        guard let live = objects[key] else { throw APIError.notFound(type, name) }
        var object = try validate(type, namespace: namespace, body: Self.typed(body, as: type), name: name)
        if let expected = body[path: ["metadata", "resourceVersion"]]?.string, !expected.isEmpty,
           expected != live[path: ["metadata", "resourceVersion"]]?.string {
            throw APIError.conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        try decode(type, &object, strict: strict)
        object = Self.scope(object, to: subresource, of: type, live: live)
        return try commitUpdate(type, key, live: live, new: object, manager: manager, operation: "Update", dryRun: dryRun)
    }

    /// PATCH with a JSON merge patch, a strategic merge patch (merged as server-side apply
    /// merges lists) or a JSON patch.
    public func patch(_ type: ResourceType, namespace: String, name: String, contentType: String, body: Data,
                      manager: String, subresource: String? = nil, dryRun: Bool = false, strict: Bool = false) throws(APIError) -> JSONValue {
        let key = key(type, namespace, name)
        guard let live = objects[key] else { throw APIError.notFound(type, name) }
        let patched: JSONValue
        do {
            switch contentType {
            case "application/json-patch+json":
                patched = try JSONPatch.apply(try JSONValue.parse(body), to: live)
            case "application/merge-patch+json":
                patched = JSONPatch.mergePatch(try JSONValue.parse(body), into: live)
            case "application/strategic-merge-patch+json":
                patched = FieldSet.merge(live, try JSONValue.parse(body))
            default:
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
            }
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("the patch could not be applied: \(error)")
        }
        var object = patched
        if let expected = patched[path: ["metadata", "resourceVersion"]]?.string,
           expected != live[path: ["metadata", "resourceVersion"]]?.string {
            throw APIError.conflict(type, name, "the object has been modified; please apply your changes to the latest version and try again")
        }
        object = try validate(type, namespace: namespace, body: object, name: name)
        try decode(type, &object, strict: strict)
        object = Self.scope(object, to: subresource, of: type, live: live)
        return try commitUpdate(type, key, live: live, new: object, manager: manager, operation: "Update", dryRun: dryRun)
    }

    /// `body` with `apiVersion` and `kind` taken from the URL when it leaves them out, as
    /// kube-apiserver's decoder does for a POST or PUT (typed clients send objects without
    /// them). A server-side apply gets no such help.
    static func typed(_ body: JSONValue, as type: ResourceType) -> JSONValue {
        guard var object = body.object else { return body }
        if (object["apiVersion"]?.string ?? "").isEmpty { object["apiVersion"] = .string(type.apiVersion) }
        if (object["kind"]?.string ?? "").isEmpty { object["kind"] = .string(type.kind) }
        return .object(object)
    }

    /// DELETE. A namespace takes what is in it along; objects that name the deleted one in
    /// `ownerReferences` go too unless `propagation` is `Orphan`.
    /// `uid` and `resourceVersion` are `DeleteOptions.preconditions`: a 409 Conflict when the
    /// object is no longer that one.
    public func delete(_ type: ResourceType, namespace: String, name: String, propagation: String? = nil,
                       dryRun: Bool = false, uid expectedUID: String? = nil, resourceVersion expectedVersion: String? = nil) throws(APIError) -> JSONValue {
        let key = key(type, namespace, name)
        guard var live = objects[key] else { throw APIError.notFound(type, name) }
        if let expectedUID, let actual = live[path: ["metadata", "uid"]]?.string, expectedUID != actual {
            throw APIError.preconditionFailed(type, name, field: "UID", expected: expectedUID, actual: actual)
        }
        if let expectedVersion, let actual = live[path: ["metadata", "resourceVersion"]]?.string, expectedVersion != actual {
            throw APIError.preconditionFailed(type, name, field: "ResourceVersion", expected: expectedVersion, actual: actual)
        }
        let namespace = type.group.isEmpty && type.plural == "namespaces"
        if namespace, live[path: ["metadata", "deletionTimestamp"]] != nil { return live }  // already terminating
        live[path: ["metadata", "deletionTimestamp"]] = .string(timestamp)
        if namespace {
            // As kube-apiserver: the namespace is Terminating (its `kubernetes` finalizer holds
            // it) until the namespace controller has removed what is in it
            // (`finishTerminatingNamespaces`); meanwhile nothing new may be created in it.
            live[path: ["status", "phase"]] = "Terminating"
            if dryRun { return live }
            live[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
            record(.modified, key, live)
            return live
        }
        if dryRun { return live }
        let uid = live[path: ["metadata", "uid"]]?.string
        live[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        record(.deleted, key, live)
        if type.plural == "customresourcedefinitions" { unregisterCustomResource(live) }
        var dependents: [ObjectKey] = []
        if propagation != "Orphan", let uid {
            dependents += dependentsByOwner[uid] ?? []
        }
        for dependent in Set(dependents).sorted() where Self.ownerUIDs(objects[dependent]).contains(where: { $0 == uid }) {
            guard let dependentType = types.first(where: { $0.group == dependent.group && $0.plural == dependent.plural }) else { continue }
            _ = try? delete(dependentType, namespace: dependent.namespace, name: dependent.name, propagation: propagation)
        }
        return live
    }

    /// The namespace controller: every namespace being deleted loses what is in it, then goes.
    public func finishTerminatingNamespaces() {
        let terminating = objectsOf(group: "", plural: "namespaces").filter { $0.value[path: ["metadata", "deletionTimestamp"]] != nil }
        for (key, namespace) in terminating {
            for content in objects.keys.filter({ $0.namespace == key.name }) where objects[content] != nil {
                guard let contentType = types.first(where: { $0.group == content.group && $0.plural == content.plural }) else { continue }
                _ = try? delete(contentType, namespace: content.namespace, name: content.name)
            }
            var gone = namespace
            gone[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
            record(.deleted, key, gone)
        }
    }

    // MARK: - Shared steps

    func key(_ type: ResourceType, _ namespace: String, _ name: String) -> ObjectKey {
        ObjectKey(group: type.group, plural: type.plural, namespace: type.namespaced ? namespace : "", name: name)
    }

    static func name(of object: JSONValue) -> String {
        object[path: ["metadata", "name"]]?.string ?? ""
    }

    func commitCreate(_ type: ResourceType, _ key: ObjectKey, _ object: JSONValue, owners fields: [Manager: Set<FieldPath>],
                      dryRun: Bool) throws(APIError) -> JSONValue {
        // The NamespaceLifecycle admission plugin: nothing new in a namespace being deleted.
        if type.namespaced, objects[ObjectKey(group: "", plural: "namespaces", namespace: "", name: key.namespace)]?[
            path: ["metadata", "deletionTimestamp"]] != nil {
            let resource = type.plural + (type.group.isEmpty ? "" : "." + type.group)
            throw APIError(code: 403, reason: "Forbidden",
                           message: "\(resource) \"\(key.name)\" is forbidden: unable to create new content in namespace \(key.namespace) "
                               + "because it is being terminated",
                           details: .object(["name": .string(key.name), "kind": .string(type.plural), "causes": .array([.object([
                               "reason": "NamespaceTerminating", "field": "metadata.namespace",
                               "message": .string("namespace \(key.namespace) is being terminated"),
                           ])])]))
        }
        var object = object
        object[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
        object[path: ["metadata", "creationTimestamp"]] = .string(timestamp)
        object[path: ["metadata", "generation"]] = .int(1)
        if type.namespaced { object[path: ["metadata", "namespace"]] = .string(key.namespace) }
        prepareForCreate(type, &object)
        if dryRun {
            object[path: ["metadata", "managedFields"]] = nil
            return object
        }
        owners[key] = fields
        object[path: ["metadata", "managedFields"]] = managedFields(key, apiVersion: type.apiVersion)
        object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        if type.plural == "customresourcedefinitions" { object = registerCustomResource(object) }
        record(.added, key, object)
        return object
    }

    func commitUpdate(_ type: ResourceType, _ key: ObjectKey, live: JSONValue, new: JSONValue, manager: String,
                      operation: String, dryRun: Bool, ownership: [Manager: Set<FieldPath>]? = nil) throws(APIError) -> JSONValue {
        var object = new
        for field in ["uid", "creationTimestamp", "generation", "resourceVersion", "namespace", "deletionTimestamp"] {
            object[path: ["metadata", field]] = live[path: ["metadata", field]]
        }
        try prepare(type, &object)
        Self.keepAllocated(type, live: live, new: &object)
        try Self.checkImmutable(type, live: live, new: object)
        if Self.specChanged(live, object) {
            object[path: ["metadata", "generation"]] = .int((live[path: ["metadata", "generation"]]?.int ?? 0) + 1)
        }
        var newOwners = ownership ?? owners[key] ?? [:]
        if ownership == nil {
            let before = Self.userFields(type, live), after = Self.userFields(type, object)
            let (changed, removed) = FieldSet.changes(from: before, to: after)
            for owner in newOwners.keys { newOwners[owner]?.subtract(changed); newOwners[owner]?.subtract(removed) }
            if !changed.isEmpty { newOwners[Manager(name: manager, operation: operation), default: []].formUnion(changed) }
        }
        object[path: ["metadata", "managedFields"]] = nil
        var unchanged = live
        unchanged[path: ["metadata", "managedFields"]] = nil
        if object == unchanged && newOwners == (owners[key] ?? [:]) { return live }
        if dryRun { return object }
        owners[key] = newOwners.filter { !$0.value.isEmpty }
        object[path: ["metadata", "managedFields"]] = managedFields(key, apiVersion: type.apiVersion)
        object[path: ["metadata", "resourceVersion"]] = .string(String(nextRevision()))
        if type.plural == "customresourcedefinitions" {
            // The new schema and versions serve from now on (kube-apiserver's CRD handler takes
            // an update as it takes a create); the conditions keep their transition times.
            let status = object["status"]
            object = registerCustomResource(object)
            if let status, status.object?.isEmpty == false { object["status"] = status }
        }
        record(.modified, key, object)
        return object
    }

    /// A write to the `status` subresource changes only `status`; a write to the object itself
    /// never changes the status of a kind that has the subresource.
    static func scope(_ object: JSONValue, to subresource: String?, of type: ResourceType, live: JSONValue) -> JSONValue {
        if subresource == "status" {
            var updated = live
            updated["status"] = object["status"]
            return updated
        }
        var object = object
        if type.hasStatus { object["status"] = live["status"] }
        return object
    }

    /// Whether anything outside `metadata` and `status` changed: what bumps `generation`.
    static func specChanged(_ a: JSONValue, _ b: JSONValue) -> Bool {
        var a = a, b = b
        for key in ["metadata", "status", "apiVersion", "kind"] {
            a[key] = nil
            b[key] = nil
        }
        return a != b
    }

    /// The part of an object people write: without server-set metadata and status.
    static func userFields(_ type: ResourceType, _ object: JSONValue) -> JSONValue {
        var fields = object
        fields["apiVersion"] = nil
        fields["kind"] = nil
        if type.hasStatus { fields["status"] = nil }
        for key in ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
                    "deletionTimestamp", "selfLink"] {
            fields[path: ["metadata", key]] = nil
        }
        if fields["metadata"]?.object?.isEmpty == true { fields["metadata"] = nil }
        return fields
    }
}
