import BatonCore
import Foundation

/// One watch-fed cache of live objects per cluster and credentials, shared by every environment
/// on it, as Argo CD's cluster cache and client-go's informers are: each (kind, namespace) in use
/// is listed once and then watched — resuming from the last resourceVersion, with bookmarks,
/// listing again only after `410 Gone` — filtered by a label selector (Baton's), with
/// `managedFields` dropped. A scope whose watch is down is unsynced and not trusted: callers
/// read the cluster directly then. Baton's own writes go in through `observe`, so a reader never
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
    private var informers: [Scope: Informer] = [:]
    /// Called with the scope and object name of every change a watch reports (not Baton's own
    /// writes): the reconcile loops of the environments that own it are woken.
    private var listeners: [UUID: @Sendable (Scope, String) -> Void] = [:]

    public init(client: KubeClient, labelSelector: String, watchTimeout: Duration = .seconds(300)) {
        self.client = client
        self.labelSelector = labelSelector
        self.watchTimeout = watchTimeout
    }

    /// The objects of `scope` by name when its watch is synced; nil while it is not (the watch
    /// is started on first use: ask the cluster directly meanwhile).
    public func objects(_ scope: Scope) -> [String: JSONValue]? {
        if informers[scope] == nil { start(scope) }
        guard let informer = informers[scope], informer.synced else { return nil }
        var byName: [String: JSONValue] = [:]
        for object in informer.objects.values { byName[object[path: ["metadata", "name"]]?.string ?? ""] = object }
        return byName
    }

    /// Whether `scope` is watched and synced now.
    public func isSynced(_ scope: Scope) -> Bool { informers[scope]?.synced ?? false }

    /// How many scopes are watched.
    public var scopeCount: Int { informers.count }

    /// Takes in an object Baton wrote (an apply's answer), unless the cache already holds a
    /// newer version of it; objects outside the label selector are not kept.
    public func observe(_ object: JSONValue, scope: Scope) {
        guard informers[scope]?.synced == true else { return }
        let key = Self.key(object)
        if let held = informers[scope]?.objects[key], Self.isOlder(object, than: held) { return }
        informers[scope]?.objects[key] = Self.stripped(object)
    }

    /// Forgets an object Baton deleted.
    public func forget(name: String, scope: Scope) {
        informers[scope]?.objects[scope.namespace + "/" + name] = nil
    }

    /// Registers `listener` for changes reported by the watches; returns its id for `removeListener`.
    public func addListener(_ listener: @escaping @Sendable (Scope, String) -> Void) -> UUID {
        let id = UUID()
        listeners[id] = listener
        return id
    }

    public func removeListener(_ id: UUID) { listeners[id] = nil }

    /// Stops every watch.
    public func stop() {
        for (scope, informer) in informers {
            informer.task?.cancel()
            informers[scope]?.synced = false
        }
    }

    // MARK: Watching

    private func start(_ scope: Scope) {
        informers[scope] = Informer()
        let client = self.client, selector = labelSelector, timeout = watchTimeout
        informers[scope]?.task = Task { [weak self] in
            var failures = 0
            while !Task.isCancelled {
                let events = client.watch(apiVersion: scope.apiVersion, kind: scope.kind,
                                          namespace: scope.namespace.isEmpty ? nil : scope.namespace,
                                          labelSelector: selector, serverTimeout: timeout)
                do {
                    for try await event in events {
                        failures = 0
                        await self?.apply(event, scope: scope)
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
        }
        for key in changed {
            let name = String(key.split(separator: "/", maxSplits: 1).last ?? "")
            for listener in listeners.values { listener(scope, name) }
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
