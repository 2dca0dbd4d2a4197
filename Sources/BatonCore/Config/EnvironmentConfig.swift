/// One environment: a cluster, a namespace, a path in the config repository and how it is
/// reconciled (DESIGN.md §4). Loaded from `Environments/NAME.yaml`.
public struct EnvironmentConfig: Sendable, Hashable, Codable {
    public var name: String
    public var cluster: ClusterTarget
    /// The namespace for namespaced objects that name none; nil means the kubeconfig
    /// context's namespace, else `default`, as kubectl does.
    public var namespace: String?
    public var source: ManifestSource
    /// The git ref that holds the environment's revision: `env/NAME` unless set. A short name
    /// is a branch (`refs/heads/env/NAME`); a name starting with `refs/` is used as it is.
    public var ref: String
    public var sync: SyncPolicy
    public var ignoreDifferences: [IgnoreDifference]
    /// Where its objects may go: namespaces and cluster-scoped kinds.
    public var scope: DeployScope
    /// The install's name (`instance.yaml` of the configuration folder), if it has one.
    public var instance: String?
    /// The file this environment was loaded from, as the user named it.
    public var file: String

    public init(name: String, cluster: ClusterTarget = ClusterTarget(kubeconfig: []), namespace: String? = nil,
                source: ManifestSource, ref: String? = nil, sync: SyncPolicy = SyncPolicy(),
                ignoreDifferences: [IgnoreDifference] = [], scope: DeployScope = DeployScope(), instance: String? = nil, file: String = "") {
        self.name = name
        self.cluster = cluster
        self.namespace = namespace
        self.source = source
        self.ref = ref ?? "env/\(name)"
        self.sync = sync
        self.ignoreDifferences = ignoreDifferences
        self.scope = scope
        self.instance = instance
        self.file = file
    }

    /// The full name of the environment's ref: `refs/heads/env/NAME` for `env/NAME`.
    public var fullRef: String {
        ref.hasPrefix("refs/") ? ref : "refs/heads/" + ref
    }
}

/// Which cluster an environment deploys to.
public struct ClusterTarget: Sendable, Hashable, Codable {
    /// The kubeconfig files to merge, first wins (as `KUBECONFIG` lists them), with `~` and
    /// environment variables expanded and relative paths made absolute.
    public var kubeconfig: [String]
    /// The context to use; nil means the kubeconfig's `current-context`.
    public var context: String?
    /// The cluster's request budget: requests per second on average, and how many may go at
    /// once after a quiet spell (client-go's QPS and burst). Shared by every environment on the
    /// cluster; nil: Baton's defaults (`ClusterTarget.defaultQPS`, `defaultBurst`).
    public var qps: Double?
    public var burst: Int?

    /// High enough for a cold sync of a thousand objects in about a second (a dry run and an
    /// apply each), low enough that hundreds of environments starting together cannot flood a
    /// server. Argo CD uses 50/100; client-go's 5/10 would make such a sync take minutes.
    public static let defaultQPS = 1000.0
    public static let defaultBurst = 2000

    /// What environments must have in common to share one client, cache and request budget:
    /// the kubeconfig files and the context.
    public var sharingKey: String { kubeconfig.joined(separator: ":") + "|" + (context ?? "") }

    /// This cluster's budget as the environments on it set it: the value one of them gives
    /// (`baton validate` refuses two that differ), else Baton's default.
    public static func budget(for cluster: ClusterTarget, among environments: [EnvironmentConfig]) -> (qps: Double, burst: Int) {
        let same = environments.map(\.cluster).filter { $0.sharingKey == cluster.sharingKey }
        return (cluster.qps ?? same.lazy.compactMap(\.qps).first ?? defaultQPS, cluster.burst ?? same.lazy.compactMap(\.burst).first ?? defaultBurst)
    }

    public init(kubeconfig: [String], context: String? = nil, qps: Double? = nil, burst: Int? = nil) {
        self.kubeconfig = kubeconfig
        self.context = context
        self.qps = qps
        self.burst = burst
    }
}

/// How an environment's manifests are rendered.
public enum RenderMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Kustomize when the path holds a `kustomization.yaml`, `kustomization.yml` or
    /// `Kustomization`; plain YAML otherwise.
    case auto
    /// Every `.yaml`, `.yml` and `.json` file below the path.
    case plain
    /// `kubectl kustomize` on the path.
    case kustomize
}

/// Where an environment's manifests are in the config repository.
public struct ManifestSource: Sendable, Hashable, Codable {
    /// A folder relative to the repository's root, without `..`.
    public var path: String
    public var render: RenderMode
    /// Let Kustomize fetch bases from outside the revision (URLs, git references); off, such a
    /// base fails the revision, so that what was approved is what is deployed.
    public var allowRemoteBases: Bool
    /// How large a revision may be before it is refused unread.
    public var limits: SourceLimits

    public init(path: String, render: RenderMode = .auto, allowRemoteBases: Bool = false, limits: SourceLimits = SourceLimits()) {
        self.path = path
        self.render = render
        self.allowRemoteBases = allowRemoteBases
        self.limits = limits
    }

    private enum CodingKeys: String, CodingKey { case path, render, allowRemoteBases, limits }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        render = try container.decode(RenderMode.self, forKey: .render)
        allowRemoteBases = try container.decodeIfPresent(Bool.self, forKey: .allowRemoteBases) ?? false
        limits = try container.decodeIfPresent(SourceLimits.self, forKey: .limits) ?? SourceLimits()
    }
}

/// How often and how forcefully an environment is reconciled. The defaults are Argo CD's:
/// compare every 3 minutes, neither prune nor self-heal unless asked.
public struct SyncPolicy: Sendable, Hashable, Codable {
    /// How often live state is compared with the revision even when the ref has not moved.
    public var interval: TimeSpan
    /// Delete objects that Baton applied for this environment and the revision no longer has.
    public var prune: Bool
    /// Re-apply when live state drifts from the revision; without it drift is only reported.
    public var selfHeal: Bool
    /// How long one sync may take before it counts as failed.
    public var timeout: TimeSpan
    /// Create the environment's namespace before the first object when it does not exist (Argo
    /// CD's `CreateNamespace=true`); it is never pruned. Needs `create` on namespaces.
    public var createNamespace: Bool
    /// Accept a revision that renders no object (Argo CD's `allowEmpty`): with prune, it
    /// deletes everything the environment has. Off, such a revision fails.
    public var allowEmpty: Bool
    /// Take over objects that exist and that Baton did not create (else such an object fails
    /// the revision; its owner may also allow it with the annotation `baton.dev/adopt: "true"`).
    public var adopt: Bool

    public init(interval: TimeSpan = .minutes(3), prune: Bool = false, selfHeal: Bool = false,
                timeout: TimeSpan = .minutes(5), createNamespace: Bool = false, allowEmpty: Bool = false, adopt: Bool = false) {
        self.interval = interval
        self.prune = prune
        self.selfHeal = selfHeal
        self.timeout = timeout
        self.createNamespace = createNamespace
        self.allowEmpty = allowEmpty
        self.adopt = adopt
    }

    private enum CodingKeys: String, CodingKey { case interval, prune, selfHeal, timeout, createNamespace, allowEmpty, adopt }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        interval = try container.decode(TimeSpan.self, forKey: .interval)
        prune = try container.decode(Bool.self, forKey: .prune)
        selfHeal = try container.decode(Bool.self, forKey: .selfHeal)
        timeout = try container.decode(TimeSpan.self, forKey: .timeout)
        createNamespace = try container.decodeIfPresent(Bool.self, forKey: .createNamespace) ?? false
        allowEmpty = try container.decodeIfPresent(Bool.self, forKey: .allowEmpty) ?? false
        adopt = try container.decodeIfPresent(Bool.self, forKey: .adopt) ?? false
    }
}

/// Fields of matching objects that the diff ignores (Argo CD's `ignoreDifferences`).
public struct IgnoreDifference: Sendable, Hashable, Codable {
    /// The API group; nil matches every group (`""` is the core group).
    public var group: String?
    public var kind: String
    public var name: String?
    public var namespace: String?
    /// RFC 6901 JSON pointers such as `/spec/replicas`.
    public var jsonPointers: [String]

    public init(group: String? = nil, kind: String, name: String? = nil, namespace: String? = nil,
                jsonPointers: [String]) {
        self.group = group
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.jsonPointers = jsonPointers
    }
}
