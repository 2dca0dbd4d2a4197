import BatonCore
import Foundation

/// Where one object lives.
struct ObjectKey: Hashable, Sendable, Comparable {
    var group: String
    var plural: String
    /// "" for cluster-scoped objects.
    var namespace: String
    var name: String

    static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

/// A change to one object, as watchers receive it.
public struct WatchEvent: Sendable {
    /// `bookmark` carries no object, only the resourceVersion the watch has reached.
    public enum Kind: String, Sendable { case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK" }
    public var kind: Kind
    public var object: JSONValue
    var key: ObjectKey
    var revision: Int64
}

/// Everything one simulated cluster holds: the kinds it serves, its objects, the single
/// resourceVersion counter, field ownership for server-side apply, recent events for
/// watches. An actor: every change is serialised, as etcd serialises a real cluster's.
public actor ClusterState {
    public internal(set) var types: [ResourceType] = ResourceType.builtIn
    var objects: [ObjectKey: JSONValue] = [:]
    /// Field ownership per object: manager → (operation, fields).
    var owners: [ObjectKey: [Manager: Set<FieldPath>]] = [:]
    public internal(set) var revision: Int64 = 0
    /// The newest events, oldest first; a watch may resume from any of them.
    var history: [WatchEvent] = []
    /// Watches resuming from before this version get 410 (`compact`).
    var compactedRevision: Int64 = 0
    let historyLimit: Int
    var watchers: [UUID: Watcher] = [:]
    let now: @Sendable () -> Date
    /// The storage version's `openAPIV3Schema` of each served CRD, by "group/plural".
    var schemas: [String: JSONValue] = [:]
    /// Cluster IPs and node ports handed out so far.
    var allocatedAddresses = 0
    /// Each Deployment's pod-template-hash at a generation, by uid (the Deployment controller's).
    var templateHashes: [String: (generation: Int64, hash: String)] = [:]
    /// The keys of each kind's objects ("group/plural"): controllers and lists walk one kind,
    /// not every object of the cluster (they run ten times a second).
    var keysByType: [String: Set<ObjectKey>] = [:]
    /// Counts changes to RBAC objects; the policy read from them is kept until the next one.
    var rbacChanges: Int64 = 0
    var rbacPolicy: (changes: Int64, policy: RBACPolicy)?
    /// Keys the controllers have not looked at since they changed (`noteChange`); nil: all.
    var unseenChanges: [String: Set<ObjectKey>]?
    /// The objects naming each uid in their `ownerReferences`.
    var dependentsByOwner: [String: Set<ObjectKey>] = [:]
    /// Each Service's EndpointSlice, by "namespace/name".
    var sliceByService: [String: ObjectKey] = [:]
    /// The HPAs naming each workload, by "namespace/Kind/name".
    var autoscalersByTarget: [String: Set<ObjectKey>] = [:]

    struct Manager: Hashable, Sendable {
        var name: String
        var operation: String // "Apply" or "Update"
    }

    struct Watcher {
        var group: String
        var plural: String
        var namespace: String?
        var labels: LabelSelector
        var fields: FieldSelector?
        var continuation: AsyncStream<WatchEvent>.Continuation
        /// Set for a watch that asked for bookmarks (`allowWatchBookmarks`): the type they
        /// name, and when the last one was sent (or the watch began).
        var bookmarks: (apiVersion: String, kind: String, last: ContinuousClock.Instant)?
    }

    public init(now: @escaping @Sendable () -> Date = Date.init, historyLimit: Int = 10_000) {
        self.now = now
        self.historyLimit = historyLimit
        var initial: [(key: ObjectKey, value: JSONValue)] = []
        for name in ["default", "kube-system", "kube-public"] {
            initial.append((ObjectKey(group: "", plural: "namespaces", namespace: "", name: name),
                            ["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(name)]), "status": ["phase": "Active"]]))
        }
        for (key, object) in initial + BootstrapPolicy.objects {
            revision += 1
            var stored = object
            stored[path: ["metadata", "uid"]] = .string(UUID().uuidString.lowercased())
            stored[path: ["metadata", "resourceVersion"]] = .string(String(revision))
            stored[path: ["metadata", "creationTimestamp"]] = .string(Timestamp.format(now()))
            if key.plural == "namespaces" { stored[path: ["metadata", "generation"]] = .int(1) }
            objects[key] = stored
            keysByType[key.group + "/" + key.plural, default: []].insert(key)
        }
    }

    /// The keys of one kind's objects.
    func keys(group: String, plural: String) -> Set<ObjectKey> { keysByType[group + "/" + plural] ?? [] }

    /// One kind's objects.
    func objectsOf(group: String, plural: String) -> [(key: ObjectKey, value: JSONValue)] {
        keys(group: group, plural: plural).compactMap { key in objects[key].map { (key, $0) } }
    }

    /// The served kind with this group and plural (or kind, singular, short name).
    public func type(plural: String, group: String) -> ResourceType? {
        types.first { $0.group == group && $0.plural == plural }
    }

    /// The served kind for an API path: `prefix` such as `/apis/apps/v1`, `resource` as in the URL.
    func type(prefix: String, resource: String) -> ResourceType? {
        types.first { $0.prefix == prefix && $0.plural == resource }
    }

    func nextRevision() -> Int64 {
        revision += 1
        return revision
    }

    var timestamp: String { Timestamp.format(now()) }

    /// Stores `object` under `key` (nil deletes it) and tells watchers.
    func record(_ kind: WatchEvent.Kind, _ key: ObjectKey, _ object: JSONValue) {
        let revision = Int64(object[path: ["metadata", "resourceVersion"]]?.string ?? "") ?? self.revision
        if key.group == "rbac.authorization.k8s.io" { rbacChanges += 1 }
        noteChange(key, previous: objects[key], current: kind == .deleted ? nil : object)
        if kind == .deleted {
            objects[key] = nil
            owners[key] = nil
            keysByType[key.group + "/" + key.plural]?.remove(key)
        } else {
            objects[key] = object
            keysByType[key.group + "/" + key.plural, default: []].insert(key)
        }
        let event = WatchEvent(kind: kind, object: object, key: key, revision: revision)
        history.append(event)
        // Trim in batches so that each event does not shift the whole history.
        if history.count > historyLimit + historyLimit / 10 { history.removeFirst(history.count - historyLimit) }
        for watcher in watchers.values where Self.matches(watcher, event) {
            watcher.continuation.yield(event)
        }
    }

    static func matches(_ watcher: Watcher, _ event: WatchEvent) -> Bool {
        guard watcher.group == event.key.group, watcher.plural == event.key.plural else { return false }
        if let namespace = watcher.namespace, namespace != event.key.namespace { return false }
        if let fields = watcher.fields, !fields.matches(name: event.key.name, namespace: event.key.namespace) { return false }
        return watcher.labels.matches(labels(of: event.object))
    }

    static func labels(of object: JSONValue) -> [String: String] {
        (object[path: ["metadata", "labels"]]?.object ?? [:]).compactMapValues(\.string)
    }

    /// `managedFields` as Kubernetes renders them.
    func managedFields(_ key: ObjectKey, apiVersion: String) -> JSONValue {
        let entries = (owners[key] ?? [:]).filter { !$0.value.isEmpty }.sorted { ($0.key.name, $0.key.operation) < ($1.key.name, $1.key.operation) }
        return .array(entries.map { manager, fields in
            .object([
                "manager": .string(manager.name), "operation": .string(manager.operation), "apiVersion": .string(apiVersion),
                "time": .string(timestamp), "fieldsType": "FieldsV1", "fieldsV1": FieldSet.fieldsV1(fields),
            ])
        })
    }
}
