import BatonCore
import Foundation
import Manifests

/// What syncing a revision would do to one object.
public struct Change: Sendable {
    public var key: ResourceKey
    public var apiVersion: String
    public var action: SyncAction
    /// The live object differs from the revision on a field Baton manages although the
    /// revision did not change it: someone changed the cluster.
    public var drifted: Bool
    /// What the revision wants (nil for a prune).
    public var desired: JSONValue?
    /// What the cluster has (nil for a create).
    public var live: JSONValue?
    /// Where the desired object is defined.
    public var source: String?
    /// What the server said it would store (its dry run of the apply) for an update or an
    /// unchanged object; nil for a create and a prune.
    public var stored: JSONValue?
    /// A create the server's dry run accepted; false while it cannot be asked yet (its
    /// namespace or CRD comes with the revision: `sync` asks after that step).
    public var checked = false
    /// An update whose dry run waits until after the revision's CRD step: the revision changes
    /// the CRD of this custom resource (a new field, say), and the server would judge it by
    /// the old schema until then.
    public var postponed = false
    /// The server refuses the change in place (an immutable field) and the object allows
    /// Baton to delete and recreate it (`baton.dev/sync-options: Replace=true`).
    public var recreate = false
    /// Under what the server's answer to applying `desired` is kept (nil: not kept, a custom
    /// resource whose CRD could not be read).
    var verdictKey: VerdictCache.Key?

    /// A YAML line diff of the whole object as the cluster has it and as the server would store
    /// the revision's version (Secret values masked; server bookkeeping and Baton's revision
    /// annotations left out).
    public var diff: String {
        switch action {
        case .create: return Diff.text(live: nil, desired: desired.map(Self.shown))
        case .prune: return Diff.text(live: live.map(Self.shown), desired: nil)
        case .update, .unchanged: return Diff.text(live: live.map(Self.shown), desired: (stored ?? desired).map(Self.shown))
        }
    }

    static func shown(_ object: JSONValue) -> JSONValue {
        var copy = Diff.storedForm(object)
        for field in ["uid", "creationTimestamp"] { copy[path: ["metadata", field]] = nil }
        for annotation in [Normalizer.contentHashAnnotation, Normalizer.trackingAnnotation] {
            copy[path: ["metadata", "annotations", annotation]] = nil
        }
        if copy[path: ["metadata", "annotations"]]?.object?.isEmpty == true { copy[path: ["metadata", "annotations"]] = nil }
        return copy
    }
}

/// Every change a revision needs in one environment's cluster.
public struct Plan: Sendable {
    public var revision: String
    public var changes: [Change]
    /// The environment's inventory before this sync (prune candidates come from it only).
    public var inventory: Inventory
    /// Whether `inventory` is the one the store holds (false: seeded, for an environment
    /// synced before inventories existed).
    var inventorySaved = false

    public var needsSync: Bool { changes.contains { $0.action != .unchanged } }
}

/// The order objects are applied in: Namespaces, CRDs, then by `baton.dev/sync-wave`, then by
/// kind as Argo CD (and Helm) order them; prune goes the other way.
enum ApplyOrder {
    static let kinds = [
        "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount",
        "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
        "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
        "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
        "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    ]

    /// Namespaces and CRDs: the steps everything else may depend on.
    static func isFoundation(_ key: ResourceKey) -> Bool {
        (key.kind == "Namespace" && key.group.isEmpty) || key.kind == "CustomResourceDefinition"
    }

    static func kindRank(_ kind: String) -> Int { kinds.firstIndex(of: kind) ?? kinds.count }

    static func wave(_ object: JSONValue?) -> Int {
        Int(object?[path: ["metadata", "annotations", Normalizer.syncWaveAnnotation]]?.string ?? "") ?? 0
    }

    /// The steps of a sync: each a set of changes applied together. Namespaces first, then
    /// CRDs, then (wave, kind) groups in order.
    static func steps(_ changes: [Change]) -> [[Change]] {
        let namespaces = changes.filter { $0.key.kind == "Namespace" && $0.key.group.isEmpty }
        let crds = changes.filter { $0.key.kind == "CustomResourceDefinition" }
        let rest = changes.filter { !($0.key.kind == "Namespace" && $0.key.group.isEmpty) && $0.key.kind != "CustomResourceDefinition" }
        var groups: [[Int]: [Change]] = [:]
        for change in rest { groups[[wave(change.desired), kindRank(change.key.kind)], default: []].append(change) }
        let ordered = groups.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { groups[$0]! }
        return ([namespaces, crds] + ordered).filter { !$0.isEmpty }
    }
}
