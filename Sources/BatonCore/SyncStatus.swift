import Foundation

/// Which object: group, kind, namespace (empty for cluster-scoped kinds) and name. The
/// version is not part of it: one object may be served in several versions.
public struct ResourceKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var group: String
    public var kind: String
    public var namespace: String
    public var name: String

    public init(group: String, kind: String, namespace: String, name: String) {
        self.group = group
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// `Deployment.apps guestbook/web`, `Namespace guestbook`.
    public var description: String {
        let type = group.isEmpty ? kind : "\(kind).\(group)"
        return namespace.isEmpty ? "\(type) \(name)" : "\(type) \(namespace)/\(name)"
    }

    public static func < (a: ResourceKey, b: ResourceKey) -> Bool {
        (a.group, a.kind, a.namespace, a.name) < (b.group, b.kind, b.namespace, b.name)
    }

    /// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → "").
    public static func group(ofAPIVersion apiVersion: String) -> String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }
}

/// Health as Argo CD users know it. `Comparable` orders by badness: the aggregate of several
/// is the worst, `Healthy < Suspended < Progressing < Missing < Degraded < Unknown`.
public enum HealthStatus: String, Sendable, Hashable, Codable, Comparable, CaseIterable {
    case healthy = "Healthy"
    case suspended = "Suspended"
    case progressing = "Progressing"
    case missing = "Missing"
    case degraded = "Degraded"
    case unknown = "Unknown"

    private var rank: Int { Self.allCases.firstIndex(of: self) ?? Self.allCases.count }

    public static func < (a: HealthStatus, b: HealthStatus) -> Bool { a.rank < b.rank }

    /// The worst of `statuses`; Healthy when there are none.
    public static func aggregate(_ statuses: some Sequence<HealthStatus>) -> HealthStatus {
        statuses.max() ?? .healthy
    }
}

/// What a sync does (or would do) to one object.
public enum SyncAction: String, Sendable, Hashable, Codable {
    case create
    case update
    case unchanged
    case prune
}

/// One object in a status report.
public struct ObjectStatus: Sendable, Hashable, Codable {
    public var key: ResourceKey
    public var apiVersion: String
    public var action: SyncAction
    public var health: HealthStatus
    /// Why the health is what it is ("2 of 3 replicas available").
    public var healthMessage: String
    /// Whether the live object differed from the revision on a field Baton manages.
    public var drifted: Bool
    /// What went wrong applying or pruning it, if anything.
    public var error: String?

    public init(key: ResourceKey, apiVersion: String, action: SyncAction, health: HealthStatus, healthMessage: String = "",
                drifted: Bool = false, error: String? = nil) {
        self.key = key
        self.apiVersion = apiVersion
        self.action = action
        self.health = health
        self.healthMessage = healthMessage
        self.drifted = drifted
        self.error = error
    }
}

/// What one reconcile pass of an environment found and did: the seam between the reconciler
/// and its readers (the coordinator's gates, the CLI).
public struct StatusReport: Sendable, Hashable, Codable {
    public var environment: String
    /// The commit the pass rendered.
    public var revision: String
    /// Every desired object exists and matches on the fields Baton manages, and nothing owned
    /// is left to prune.
    public var synced: Bool
    public var health: HealthStatus
    public var objects: [ObjectStatus]
    /// Whether the pass found live objects changed behind Baton's back.
    public var driftFound: Bool
    /// Whether the pass applied or pruned (false for a dry run or a report without self-heal).
    public var applied: Bool
    public var errors: [String]
    public var startedAt: Date
    public var duration: TimeSpan
    /// Every error of the pass was the cluster not answering for now (a timeout, a refused
    /// connection, 429, 5xx, an expired credential, a namespace being deleted, a CRD not yet
    /// served): nothing was learnt, health is Unknown, and it fails no revision by itself (the
    /// environment's `sync.timeout` does). False when a definite answer (invalid, forbidden,
    /// immutable field, admission refusal, a render error) is among the errors.
    public var unavailable: Bool

    public init(environment: String, revision: String, synced: Bool, health: HealthStatus, objects: [ObjectStatus], driftFound: Bool,
                applied: Bool, errors: [String], startedAt: Date, duration: TimeSpan, unavailable: Bool = false) {
        self.unavailable = unavailable
        self.environment = environment
        self.revision = revision
        self.synced = synced
        self.health = health
        self.objects = objects
        self.driftFound = driftFound
        self.applied = applied
        self.errors = errors
        self.startedAt = startedAt
        self.duration = duration
    }
}
