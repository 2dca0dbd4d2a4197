import BatonCore
import Foundation

/// What the simulated controllers must look at: the keys of each kind ("group/plural") changed
/// since their last pass, the way kube-controller-manager's informers put a changed object's
/// key — and its owner's — on a work queue instead of walking the cluster. nil means every
/// object (the first pass, and after a snapshot was restored).
struct ControllerWork: Sendable {
    var changed: [String: Set<ObjectKey>]?

    /// Whether this pass must look at everything.
    var isFull: Bool { changed == nil }

    /// The same work in parts of at most `size` keys (a full pass stays whole). The
    /// controllers treat each key on its own, so running them part by part does what one pass
    /// over everything does, while requests get the store between parts: a pass over 300 new
    /// Deployments held it for 100–150 ms at a time, as no controller manager holds an API server.
    func parts(of size: Int) -> [ControllerWork] {
        guard let changed else { return [self] }
        var parts: [ControllerWork] = []
        var current: [String: Set<ObjectKey>] = [:], count = 0
        for (kind, keys) in changed.sorted(by: { $0.key < $1.key }) {
            for key in keys.sorted() {
                current[kind, default: []].insert(key)
                count += 1
                if count == size {
                    parts.append(ControllerWork(changed: current))
                    current = [:]
                    count = 0
                }
            }
        }
        if count > 0 || parts.isEmpty { parts.append(ControllerWork(changed: current)) }
        return parts
    }
}

extension ClusterState {
    /// Indexes a change to one object (its owners, a Service's EndpointSlice) and queues its
    /// key for the controllers, with the keys of the objects whose controller cares about it:
    /// a ReplicaSet's Deployment, an Endpoints' or EndpointSlice's Service, a ServiceAccount's
    /// Namespace. `previous` is what was stored before, `current` nil when it was deleted.
    func noteChange(_ key: ObjectKey, previous: JSONValue?, current: JSONValue?) {
        for uid in Self.ownerUIDs(previous) { dependentsByOwner[uid]?.remove(key) }
        for uid in Self.ownerUIDs(current) { dependentsByOwner[uid, default: []].insert(key) }
        let object = current ?? previous
        var queued = [key]
        switch (key.group, key.plural) {
        case ("", "endpoints"):
            queued.append(ObjectKey(group: "", plural: "services", namespace: key.namespace, name: key.name))
        case ("discovery.k8s.io", "endpointslices"):
            if let service = previous?[path: ["metadata", "labels", "kubernetes.io/service-name"]]?.string,
               sliceByService[key.namespace + "/" + service] == key {
                sliceByService[key.namespace + "/" + service] = nil
            }
            if let service = object?[path: ["metadata", "labels", "kubernetes.io/service-name"]]?.string {
                if current != nil { sliceByService[key.namespace + "/" + service] = key }
                queued.append(ObjectKey(group: "", plural: "services", namespace: key.namespace, name: service))
            }
        case ("apps", "replicasets"):
            for owner in object?[path: ["metadata", "ownerReferences"]]?.array ?? [] where owner["kind"]?.string == "Deployment" {
                queued.append(ObjectKey(group: "apps", plural: "deployments", namespace: key.namespace, name: owner["name"]?.string ?? ""))
            }
        case ("", "serviceaccounts"):
            queued.append(ObjectKey(group: "", plural: "namespaces", namespace: "", name: key.namespace))
        case ("autoscaling", "horizontalpodautoscalers"):
            if let target = Self.autoscalerTarget(previous, namespace: key.namespace) { autoscalersByTarget[target]?.remove(key) }
            if current != nil, let target = Self.autoscalerTarget(current, namespace: key.namespace) {
                autoscalersByTarget[target, default: []].insert(key)
            }
        default:
            break
        }
        if key.group == "apps", let kind = object?["kind"]?.string {
            // A workload's HPAs look again when it changes (its replicas may be out of bounds).
            queued += autoscalersByTarget[key.namespace + "/" + kind + "/" + key.name] ?? []
        }
        guard unseenChanges != nil else { return }
        for queuedKey in queued { unseenChanges?[queuedKey.group + "/" + queuedKey.plural, default: []].insert(queuedKey) }
    }

    /// The work queued since the last call; the queue starts again empty.
    func takeWork() -> ControllerWork {
        defer { unseenChanges = [:] }
        return ControllerWork(changed: unseenChanges)
    }

    /// The keys of one kind a controller pass must look at, sorted: those queued in `work`
    /// (some may be gone: a deletion is a change too), or every one on a full pass.
    func pending(_ work: ControllerWork, group: String, plural: String) -> [ObjectKey] {
        guard let changed = work.changed else { return keys(group: group, plural: plural).sorted() }
        return (changed[group + "/" + plural] ?? []).sorted()
    }

    /// Rebuilds the indexes `noteChange` keeps, from the stored objects (after a restore).
    func reindex() {
        dependentsByOwner = [:]
        sliceByService = [:]
        autoscalersByTarget = [:]
        for (key, object) in objects { noteChange(key, previous: nil, current: object) }
        unseenChanges = nil
    }

    static func ownerUIDs(_ object: JSONValue?) -> [String] {
        (object?[path: ["metadata", "ownerReferences"]]?.array ?? []).compactMap { $0["uid"]?.string }
    }
}
