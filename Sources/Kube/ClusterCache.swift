import BatonCore
import Foundation

/// One watch-fed cache of live objects per cluster and credentials, shared by every environment
/// on it, as Argo CD's cluster cache and client-go's informers are: each kind in use is listed
/// once and then watched — per namespace in use, or, once a kind is used in
/// `clusterWideFrom` namespaces and a SelfSubjectAccessReview says the identity may list and
/// watch it cluster-wide, in every namespace at once — resuming from the
/// last resourceVersion, with bookmarks, listing again only after `410 Gone` — filtered by a
/// label selector (Baton's), with `managedFields` dropped. A scope whose watch is down (broken,
/// or silent for `watchSilence`: a dead connection) is unsynced and not trusted until the watch
/// is back: callers read the cluster directly then. Baton's own writes go in through `observe`, so a reader never
/// sees its own write missing.
public actor ClusterCache {
    /// What is watched: one kind in one namespace ("" for a cluster-scoped kind).
    public struct Scope: Hashable, Sendable {
        public var apiVersion: String
        public var kind: String
        public var namespace: String

        public init(apiVersion: String, kind: String, namespace: String) {
            self.apiVersion = apiVersion
            self.kind = kind
            self.namespace = namespace
        }
    }

    private struct Informer {
        /// By "namespace/name".
        var objects: [String: JSONValue] = [:]
        var synced = false
        var task: Task<Void, Never>?
    }

    public let client: KubeClient
    public let labelSelector: String
    /// How long one watch request stays open before the server ends it (and it is resumed).
    public let watchTimeout: Duration
    /// How long a watch may hear nothing before it is taken for dead and replaced.
    public let watchSilence: Duration
    private var informers: [Scope: Informer] = [:]
    /// Per namespaced kind ("apiVersion|kind"): whether the identity may list and watch it in
    /// every namespace (a SelfSubjectAccessReview's answer; absent until asked).
    private var permitted: [String: Bool] = [:]
    /// The namespaced kinds served by their cluster-wide watch.
    private var switched: Set<String> = []
    /// Called with the scope and object name of every change a watch reports (not Baton's own
    /// writes): the reconcile loops of the environments that own it are woken.
    private var listeners: [UUID: @Sendable (Scope, String) -> Void] = [:]

    public init(client: KubeClient, labelSelector: String, watchTimeout: Duration = .seconds(300),
                watchSilence: Duration = KubeClient.defaultWatchSilence) {
        self.client = client
        self.labelSelector = labelSelector
        self.watchTimeout = watchTimeout
        self.watchSilence = watchSilence
    }

    /// The objects of `scope` by name when its watch is synced; nil while it is not (the watch
    /// is started on first use: ask the cluster directly meanwhile).
    public func objects(_ scope: Scope) -> [String: JSONValue]? {
        guard let (watched, informer) = synced(scope) else { return nil }
        var byName: [String: JSONValue] = [:]
        for object in informer.objects.values where watched == scope || object[path: ["metadata", "namespace"]]?.string == scope.namespace {
            byName[object[path: ["metadata", "name"]]?.string ?? ""] = object
        }
        return byName
    }

    /// The objects of `scope` among `names`, by name, when its watch is synced; nil while it is
    /// not. Looks each up directly: what a plan asks for, on every pass.
    public func objects(_ scope: Scope, named names: [String]) -> [String: JSONValue]? {
        guard let (_, informer) = synced(scope) else { return nil }
        var byName: [String: JSONValue] = [:]
        for name in names { byName[name] = informer.objects[scope.namespace + "/" + name] }
        return byName
    }

    /// The informer serving `scope` when it is synced (started on first use; nil while a
    /// review still decides how to watch the kind, or while its watch is not synced).
    private func synced(_ scope: Scope) -> (Scope, Informer)? {
        guard let watched = watchScope(scope) else { return nil }
        if informers[watched] == nil { start(watched) }
        guard let informer = informers[watched], informer.synced else { return nil }
        return (watched, informer)
    }

    /// Whether `scope` is watched and synced now.
    public func isSynced(_ scope: Scope) -> Bool {
        guard let watched = watchScope(scope) else { return false }
        return informers[watched]?.synced ?? false
    }

    /// Whether namespaced `kind` is watched cluster-wide now (one watch for every namespace).
    public func watchesClusterWide(apiVersion: String, kind: String) -> Bool { switched.contains(apiVersion + "|" + kind) }

    /// From how many namespaces in use a namespaced kind is watched cluster-wide (when the
    /// identity may): below that, a watch per namespace costs less than one that also brings
    /// every labelled object of namespaces no environment uses.
    public static let clusterWideFrom = 3

    /// The informer that serves `scope`: its own, or the kind's cluster-wide one (namespace
    /// "*") once that is synced; nil when neither serves it yet. A kind used in
    /// `clusterWideFrom` namespaces or more asks (a review) whether it may be watched
    /// cluster-wide, and if so starts that watch; the namespaces' own watches serve until it
    /// is synced, then stop.
    private func watchScope(_ scope: Scope) -> Scope? {
        guard !scope.namespace.isEmpty else { return scope }  // a cluster-scoped kind
        let kind = scope.apiVersion + "|" + scope.kind
        let everywhere = Scope(apiVersion: scope.apiVersion, kind: scope.kind, namespace: "*")
        if switched.contains(kind) { return everywhere }
        namespaces[kind, default: []].insert(scope.namespace)
        guard namespaces[kind, default: []].count >= Self.clusterWideFrom, permitted[kind] != false else { return scope }
        if permitted[kind] == true {
            if informers[everywhere] == nil { start(everywhere) }
        } else if !deciding.contains(kind) {
            deciding.insert(kind)
            let client = self.client
            Task { [weak self] in
                let allowed = await Self.mayWatchClusterWide(client, apiVersion: scope.apiVersion, kind: scope.kind)
                await self?.decided(kind, wide: allowed, scope: everywhere)
            }
        }
        // While the review asks and the cluster-wide watch lists, a namespace that has no watch
        // of its own yet gets none (hundreds at start would each list and watch): read directly.
        return informers[scope] != nil ? scope : nil
    }

    /// Per namespaced kind ("apiVersion|kind"): the namespaces asked for.
    private var namespaces: [String: Set<String>] = [:]
    private var deciding: Set<String> = []

    private func decided(_ kind: String, wide allowed: Bool, scope everywhere: Scope) {
        permitted[kind] = allowed
        deciding.remove(kind)
        if allowed, informers[everywhere] == nil { start(everywhere) }
    }

    /// The kind's cluster-wide watch is synced: it serves every namespace from now on, and the
    /// namespaces' own watches stop.
    private func switchToClusterWide(_ everywhere: Scope) {
        let kind = everywhere.apiVersion + "|" + everywhere.kind
        guard switched.insert(kind).inserted else { return }
        for (scope, informer) in informers where scope.apiVersion == everywhere.apiVersion && scope.kind == everywhere.kind && scope.namespace != "*" {
            informer.task?.cancel()
            informers[scope] = nil
        }
    }

    /// Whether the identity may list and watch `kind` in every namespace (a review each); no
    /// when it cannot be told.
    static func mayWatchClusterWide(_ client: KubeClient, apiVersion: String, kind: String) async -> Bool {
        guard let resource = try? await client.resource(apiVersion: apiVersion, kind: kind) else { return false }
        for verb in ["list", "watch"] {
            guard let answer = try? await client.canI(verb, group: resource.group, resource: resource.name, namespace: nil), answer.allowed else {
                return false
            }
        }
        return true
    }

    /// How many scopes are watched.
    public var scopeCount: Int { informers.count }

    /// Takes in an object Baton wrote (an apply's answer), unless the cache already holds a
    /// newer version of it; objects outside the label selector are not kept.
    public func observe(_ object: JSONValue, scope: Scope) {
        guard let watched = watchScope(scope), informers[watched]?.synced == true else { return }
        let key = Self.key(object)
        if let held = informers[watched]?.objects[key], Self.isOlder(object, than: held) { return }
        informers[watched]?.objects[key] = Self.stripped(object)
    }

    /// Forgets an object Baton deleted.
    public func forget(name: String, scope: Scope) {
        guard let watched = watchScope(scope) else { return }
        informers[watched]?.objects[scope.namespace + "/" + name] = nil
    }

    /// Registers `listener` for changes reported by the watches; returns its id for `removeListener`.
    public func addListener(_ listener: @escaping @Sendable (Scope, String) -> Void) -> UUID {
        let id = UUID()
        listeners[id] = listener
        return id
    }

    public func removeListener(_ id: UUID) { listeners[id] = nil }

    /// Stops every watch and returns once none will connect again.
    public func stop() async {
        let tasks = informers.values.compactMap(\.task)
        for (scope, informer) in informers {
            informer.task?.cancel()
            informers[scope]?.synced = false
        }
        for task in tasks { await task.value }
    }

    // MARK: Watching

    private func start(_ scope: Scope) {
        informers[scope] = Informer()
        let client = self.client, selector = labelSelector, timeout = watchTimeout, silence = watchSilence
        informers[scope]?.task = Task { [weak self] in
            var failures = 0
            while !Task.isCancelled {
                let events = client.watch(apiVersion: scope.apiVersion, kind: scope.kind,
                                          namespace: scope.namespace.isEmpty || scope.namespace == "*" ? nil : scope.namespace,
                                          labelSelector: selector, serverTimeout: timeout, silence: silence)
                do {
                    for try await event in events {
                        failures = 0
                        await self?.apply(event, scope: scope)
                        switch event {
                        case .resumed, .relisted:
                            // Back after a break or a 410, as after a server restart: was it
                            // upgraded meanwhile? (At most one check per cluster every 5 s.)
                            Task { await client.checkServerVersion() }
                        default: break
                        }
                    }
                } catch {}
                // The watch gave up (its retries spent): unsynced until a new list succeeds.
                await self?.markUnsynced(scope)
                if Task.isCancelled { return }
                failures += 1
                let seconds = min(30.0, 0.5 * pow(2.0, Double(min(failures, 6)))) * Double.random(in: 0.8...1.2)
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            }
        }
    }

    private func markUnsynced(_ scope: Scope) {
        informers[scope]?.synced = false
    }

    private func apply(_ event: WatchEvent, scope: Scope) {
        var changed: [String] = []
        switch event {
        case .relisted(let items):
            let old = informers[scope]?.objects ?? [:]
            var fresh: [String: JSONValue] = [:]
            for item in items { fresh[Self.key(item)] = Self.stripped(item) }
            informers[scope]?.objects = fresh
            informers[scope]?.synced = true
            if scope.namespace == "*" { switchToClusterWide(scope) }
            for (key, object) in fresh where old[key] != object { changed.append(key) }
            for key in old.keys where fresh[key] == nil { changed.append(key) }
        case .added(let object), .modified(let object):
            let key = Self.key(object)
            if let held = informers[scope]?.objects[key], Self.isOlder(object, than: held) { return }
            informers[scope]?.objects[key] = Self.stripped(object)
            changed.append(key)
        case .deleted(let object):
            let key = Self.key(object)
            informers[scope]?.objects[key] = nil
            changed.append(key)
        case .interrupted:
            // Changes may be missed from here: readers ask the cluster until the watch is back.
            informers[scope]?.synced = false
        case .resumed:
            // Open again from the last version held; what was missed follows at once.
            if informers[scope] != nil { informers[scope]?.synced = true }
        }
        for key in changed {
            let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = parts.last ?? ""
            // A cluster-wide watch reports each object under its own namespace.
            let reported = scope.namespace == "*" ? Scope(apiVersion: scope.apiVersion, kind: scope.kind, namespace: parts.first ?? "") : scope
            for listener in listeners.values { listener(reported, name) }
        }
    }

    static func key(_ object: JSONValue) -> String {
        (object[path: ["metadata", "namespace"]]?.string ?? "") + "/" + (object[path: ["metadata", "name"]]?.string ?? "")
    }

    static func stripped(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy[path: ["metadata", "managedFields"]] = nil
        return copy
    }

    /// Whether `object` is an older version than `held` (resourceVersions compared as numbers
    /// when both are, as etcd's are; otherwise the newer report wins).
    static func isOlder(_ object: JSONValue, than held: JSONValue) -> Bool {
        guard let new = Int64(object[path: ["metadata", "resourceVersion"]]?.string ?? ""),
              let old = Int64(held[path: ["metadata", "resourceVersion"]]?.string ?? "") else { return false }
        return new < old
    }
}
