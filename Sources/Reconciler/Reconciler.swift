import BatonCore
import Foundation
import Kube
import Manifests
import Synchronization

/// Makes one environment's cluster match a revision: render, normalise, diff against the
/// live objects, apply in order (server-side apply as `baton`, unchanged objects not sent),
/// prune what Baton owns and the revision no longer has, and assess health (DESIGN.md §6).
public struct Reconciler: Sendable {
    public let environment: EnvironmentConfig
    public let client: KubeClient
    public let renderer: Renderer
    /// Where this environment's inventory is kept: the only source of what may be pruned.
    public let inventory: any InventoryStore
    /// Rendered and normalised revisions, by commit id: a commit's tree never changes, so the
    /// passes of the loop between two ref moves render once.
    private let rendered = DesiredCache()
    /// What the server said it would store (dry runs) and did store (applies), so that an
    /// object that changed neither in git nor in the cluster is not asked about again.
    let verdicts = VerdictCache()

    /// The cluster's shared, watch-fed cache of live objects; nil reads the cluster directly.
    public let cache: ClusterCache?
    /// The objects of the last plan (desired and inventory), for waking the loop on their events.
    let tracked = TrackedKeys()

    public init(environment: EnvironmentConfig, client: KubeClient, renderer: Renderer, inventory: any InventoryStore,
                cache: ClusterCache? = nil) {
        self.environment = environment
        self.client = client
        self.renderer = renderer
        self.inventory = inventory
        self.cache = cache
    }

    /// Whether the last plan read or wrote `key`: a change to it is this environment's business.
    public func tracks(_ key: ResourceKey) -> Bool { tracked.contains(key) }

    /// The namespace namespaced objects without one go to.
    public var namespace: String { environment.namespace ?? client.defaultNamespace }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case render(RenderError)
        /// An object of a kind the cluster does not serve (yet), in a group a CRD or an
        /// aggregated API may serve: its CRD not installed or not Established, its API server
        /// down. Tried again until the environment's `sync.timeout`, like a cluster that does
        /// not answer.
        case unservedKind(RenderError)
        case cluster(KubeError)
        /// The server refused one object of the revision (its dry run or its apply).
        case object(ResourceKey, source: String?, KubeError)
        /// The inventory could not be read or written.
        case inventory(String)
        /// The revision renders no object, and the environment does not allow that.
        case empty(revision: String, path: String)
        /// An object of the revision exists in the cluster and is not this environment's
        /// (`tracked`: the tracking annotation it carries, if any), and adoption is not allowed.
        case notOurs(ResourceKey, source: String?, tracked: String?)
        /// An object of the revision lies outside the environment's `scope` (the rule broken).
        case outOfScope(ResourceKey, source: String?, rule: String)

        public var description: String {
            switch self {
            case .render(let error): "render failed: \(error)"
            case .unservedKind(let error):
                "\(error) (not yet, perhaps: a kind a CRD or an aggregated API serves; tried again until the environment's sync.timeout)"
            case .notOurs(let key, let source, let tracked):
                "\(key)\(source.map { " (\($0))" } ?? ""): exists and is not this environment's ("
                    + (tracked.map { "tracked as \($0)" } ?? "no tracking annotation") + "); Baton does not take over an object it did not "
                    + "create: set sync.adopt: true on the environment, or annotate the object \(Normalizer.adoptAnnotation)=true"
            case .outOfScope(let key, let source, let rule):
                "\(key)\(source.map { " (\($0))" } ?? ""): outside the environment's scope: \(rule); nothing was applied"
            case .empty(let revision, let path):
                "\(revision.prefix(8)) renders no object from \(path): an empty revision would prune everything the environment has "
                    + "(set sync.allowEmpty: true if that is intended)"
            case .cluster(let error): "\(error)"
            case .object(let key, let source, let error): "\(key)\(source.map { " (\($0))" } ?? ""): \(Reconciler.explain(error))"
            case .inventory(let detail): "inventory: \(detail)"
            }
        }
    }

}

extension Reconciler.Failure {
    /// Whether the failure is the cluster not answering for now (`KubeError.isTransient`).
    public var isTransient: Bool {
        switch self {
        case .cluster(let error), .object(_, _, let error): error.isTransient
        case .unservedKind: true
        case .render, .inventory, .empty, .notOurs, .outOfScope: false
        }
    }
}

extension Reconciler {
    /// The server's refusal in words that say what to do about it.
    static func explain(_ error: KubeError) -> String {
        if error.isImmutableField {
            return "\(error) — the server cannot change this field in place; delete and recreate the object, or annotate it "
                + "\(Normalizer.syncOptionsAnnotation): Replace=true to let Baton do so"
        }
        return "\(error)"
    }

    // MARK: Planning

    /// The desired objects at `revision`, ready to apply.
    public func desired(revision: String) async throws(Failure) -> [Manifest] {
        let commitID = revision.count == 40 && revision.allSatisfy(\.isHexDigit)
        if commitID, let cached = rendered.get(revision) { return cached }
        let manifests = try await render(revision: revision)
        // Like Argo CD without `allowEmpty`: nothing rendered is a mistake (a wrong path, a
        // deleted folder, a hostile commit), never "everything is in order, prune the rest".
        if manifests.isEmpty, !environment.sync.allowEmpty { throw .empty(revision: revision, path: environment.source.path) }
        for manifest in manifests {
            if let rule = scopeProblem(manifest.key) { throw .outOfScope(manifest.key, source: manifest.source, rule: rule) }
        }
        if commitID { rendered.put(revision, manifests) }
        return manifests
    }

    /// Which rule of the environment's `scope` the object `key` breaks, if any: its namespace
    /// is not in `scope.namespaces`, or its cluster-scoped kind not in `scope.clusterResources`
    /// (a Namespace also by its name).
    func scopeProblem(_ key: ResourceKey) -> String? {
        let scope = environment.scope
        let patterns = scope.namespacePatterns(own: namespace).map { "\"\($0)\"" }.joined(separator: ", ")
        if !key.namespace.isEmpty {
            guard scope.allows(namespace: key.namespace, own: namespace) else {
                return "namespace \"\(key.namespace)\" is not in scope.namespaces [\(patterns)]"
            }
            return nil
        }
        guard scope.allows(clusterKind: key.kind, group: key.group) else {
            let kind = key.group.isEmpty ? key.kind : key.group + "/" + key.kind
            let allowed = scope.clusterResources.map { "\"\($0)\"" }.joined(separator: ", ")
            return "cluster-scoped kind \(kind) is not in scope.clusterResources [\(allowed)]"
        }
        if key.kind == "Namespace", key.group.isEmpty, !scope.allows(namespace: key.name, own: namespace) {
            return "Namespace \"\(key.name)\" is not in scope.namespaces [\(patterns)]"
        }
        return nil
    }

    private func render(revision: String) async throws(Failure) -> [Manifest] {
        let rendered: [Manifest]
        do {
            rendered = try await renderer.render(revision: revision, path: environment.source.path, mode: environment.source.render,
                                                 allowRemoteBases: environment.source.allowRemoteBases, limits: environment.source.limits)
        } catch {
            throw .render(error)
        }
        let client = self.client
        // A cluster that cannot be asked whether a kind is namespaced is unavailable, not a
        // problem of the revision: that failure is the cluster's.
        let unreachable = Mutex<KubeError?>(nil)
        // A kind not served in a group only a CRD or an aggregated API can serve may be served
        // in a moment; in a built-in group it never will be (a misspelt or removed version).
        let unserved = Mutex(false)
        do {
            return try await Normalizer(instance: environment.instance, environment: environment.name, namespace: namespace,
                                        revision: revision).normalize(rendered) { apiVersion, kind in
                do throws(KubeError) {
                    return try await client.isNamespaced(apiVersion: apiVersion, kind: kind)
                } catch {
                    if case .unknownKind = error {
                        if !Self.isBuiltIn(group: ResourceKey.group(ofAPIVersion: apiVersion)) { unserved.withLock { $0 = true } }
                        return nil
                    }
                    unreachable.withLock { $0 = $0 ?? error }
                    throw error
                }
            }
        } catch {
            if let cause = unreachable.withLock({ $0 }) { throw .cluster(cause) }
            if unserved.withLock({ $0 }) { throw .unservedKind(error) }
            throw .render(error)
        }
    }

    // MARK: Syncing (Reconciler+Sync.swift)
}

/// The objects an environment's plans have read.
final class TrackedKeys: Sendable {
    private let keys = Mutex<Set<ResourceKey>>([])

    func insert(_ new: [ResourceKey]) { keys.withLock { $0.formUnion(new) } }
    func contains(_ key: ResourceKey) -> Bool { keys.withLock { $0.contains(key) } }
}

/// The last few revisions' desired objects.
final class DesiredCache: Sendable {
    private let entries = Mutex<[(revision: String, manifests: [Manifest])]>([])

    func get(_ revision: String) -> [Manifest]? {
        entries.withLock { list in list.first { $0.revision == revision }?.manifests }
    }

    func put(_ revision: String, _ manifests: [Manifest]) {
        entries.withLock { list in
            list.removeAll { $0.revision == revision }
            list.append((revision, manifests))
            if list.count > 4 { list.removeFirst() }
        }
    }
}
