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
    /// Rendered and normalised revisions, by commit id: a commit's tree never changes, so the
    /// passes of the loop between two ref moves render once.
    private let cache = DesiredCache()

    public init(environment: EnvironmentConfig, client: KubeClient, renderer: Renderer) {
        self.environment = environment
        self.client = client
        self.renderer = renderer
    }

    /// The namespace namespaced objects without one go to.
    public var namespace: String { environment.namespace ?? client.defaultNamespace }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case render(RenderError)
        case cluster(KubeError)

        public var description: String {
            switch self {
            case .render(let error): "render failed: \(error)"
            case .cluster(let error): "\(error)"
            }
        }
    }

    // MARK: Planning

    /// The desired objects at `revision`, ready to apply.
    public func desired(revision: String) async throws(Failure) -> [Manifest] {
        let commitID = revision.count == 40 && revision.allSatisfy(\.isHexDigit)
        if commitID, let cached = cache.get(revision) { return cached }
        let manifests = try await render(revision: revision)
        if commitID { cache.put(revision, manifests) }
        return manifests
    }

    private func render(revision: String) async throws(Failure) -> [Manifest] {
        let rendered: [Manifest]
        do {
            rendered = try await renderer.render(revision: revision, path: environment.source.path, mode: environment.source.render)
        } catch {
            throw .render(error)
        }
        let client = self.client
        do {
            return try await Normalizer(environment: environment.name, namespace: namespace, revision: revision).normalize(rendered) { apiVersion, kind in
                do {
                    return try await client.isNamespaced(apiVersion: apiVersion, kind: kind)
                } catch KubeError.unknownKind {
                    return nil
                }
            }
        } catch {
            throw .render(error)
        }
    }

    /// What this environment owns in the cluster now: every object with its ownership labels,
    /// of every kind the server lets Baton list and delete.
    public func owned() async throws(Failure) -> [ResourceKey: JSONValue] {
        let resources: [APIResource]
        do {
            resources = try await client.discover()
        } catch {
            throw .cluster(error)
        }
        let listable = resources.filter { $0.verbs.contains("list") && $0.verbs.contains("delete") }
        // One kind may be served in several versions: list it once.
        var seen = Set<String>(), kinds: [APIResource] = []
        for resource in listable where seen.insert(resource.group + "|" + resource.kind).inserted { kinds.append(resource) }
        let selector = Normalizer.ownershipSelector(environment: environment.name)
        let client = self.client
        let lists = await withTaskGroup(of: Result<[JSONValue], KubeError>.self) { group in
            for resource in kinds {
                group.addTask {
                    do throws(KubeError) {
                        return .success(try await client.list(apiVersion: resource.apiVersion, kind: resource.kind, labelSelector: selector).items)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var out: [Result<[JSONValue], KubeError>] = []
            for await list in group { out.append(list) }
            return out
        }
        var owned: [ResourceKey: JSONValue] = [:]
        for list in lists {
            switch list {
            case .success(let items):
                for item in items { owned[Self.key(item)] = item }
            case .failure(let error) where error.isNotFound || error.statusCode == 405:
                continue  // a kind that went away or cannot be listed
            case .failure(let error):
                throw .cluster(error)
            }
        }
        return owned
    }

    static func key(_ object: JSONValue) -> ResourceKey {
        ResourceKey(group: ResourceKey.group(ofAPIVersion: object["apiVersion"]?.string ?? ""), kind: object["kind"]?.string ?? "",
                    namespace: object[path: ["metadata", "namespace"]]?.string ?? "", name: object[path: ["metadata", "name"]]?.string ?? "")
    }

    /// What syncing `revision` would change.
    public func plan(revision: String) async throws(Failure) -> Plan {
        let desired = try await desired(revision: revision)
        let owned = try await owned()
        // Desired objects Baton does not own (yet) may exist unlabelled; apply adopts them. Find
        // them with a few requests: a GET each when a kind and namespace miss few, else a list.
        let unowned = desired.filter { owned[$0.key] == nil }
        let existing = try await existing(unowned)
        var changes: [Change] = []
        var desiredKeys = Set<ResourceKey>()
        for manifest in desired {
            let key = manifest.key
            desiredKeys.insert(key)
            guard let live = owned[key] ?? existing[key] else {
                changes.append(Change(key: key, apiVersion: manifest.apiVersion, action: .create, drifted: false, desired: manifest.object,
                                      live: nil, source: manifest.source))
                continue
            }
            let wanted = manifest.object[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]?.string
            let has = live[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]?.string
            let matches = Diff.contains(ignoring(key, live), ignoring(key, Diff.comparable(manifest.object)))
            let action: SyncAction = (wanted == has && matches) ? .unchanged : .update
            changes.append(Change(key: key, apiVersion: manifest.apiVersion, action: action, drifted: wanted == has && !matches,
                                  desired: manifest.object, live: live, source: manifest.source))
        }
        // A kind served in two groups (Event in "" and events.k8s.io) lists the same object
        // twice: one the revision wants under another group is not pruned.
        let desiredNames = Set(desiredKeys.map { "\($0.kind)|\($0.namespace)|\($0.name)" })
        for (key, live) in owned where !desiredKeys.contains(key) && !desiredNames.contains("\(key.kind)|\(key.namespace)|\(key.name)") {
            changes.append(Change(key: key, apiVersion: live["apiVersion"]?.string ?? "", action: .prune, drifted: false, desired: nil,
                                  live: live, source: nil))
        }
        return Plan(revision: revision, changes: changes.sorted { $0.key < $1.key })
    }

    /// Which of `manifests` exist in the cluster, read concurrently: objects one by one where a
    /// kind and namespace have few of them, by listing that kind in that namespace otherwise.
    /// Only "not found" (or a kind not served yet: its CRD is in this revision) means absent;
    /// any other failure is the plan's failure.
    func existing(_ manifests: [Manifest]) async throws(Failure) -> [ResourceKey: JSONValue] {
        var groups: [String: [Manifest]] = [:]
        for manifest in manifests { groups["\(manifest.apiVersion)|\(manifest.kind)|\(manifest.namespace)", default: []].append(manifest) }
        let client = self.client
        let results = await withTaskGroup(of: Result<[ResourceKey: JSONValue], KubeError>.self) { group in
            for (_, members) in groups {
                let first = members[0]
                let namespace = first.namespace.isEmpty ? nil : first.namespace
                if members.count <= 3 {
                    for manifest in members {
                        group.addTask {
                            do throws(KubeError) {
                                let live = try await client.get(apiVersion: manifest.apiVersion, kind: manifest.kind, name: manifest.name,
                                                                namespace: namespace)
                                return .success([manifest.key: live])
                            } catch where error.isNotFound || error.isUnknownKind {
                                return .success([:])
                            } catch {
                                return .failure(error)
                            }
                        }
                    }
                } else {
                    group.addTask {
                        let wanted = Set(members.map(\.key))
                        do throws(KubeError) {
                            let list = try await client.list(apiVersion: first.apiVersion, kind: first.kind, namespace: namespace)
                            var found: [ResourceKey: JSONValue] = [:]
                            for item in list.items where wanted.contains(Self.key(item)) { found[Self.key(item)] = item }
                            return .success(found)
                        } catch where error.isNotFound || error.isUnknownKind {
                            return .success([:])
                        } catch {
                            return .failure(error)
                        }
                    }
                }
            }
            var all: [Result<[ResourceKey: JSONValue], KubeError>] = []
            for await result in group { all.append(result) }
            return all
        }
        var found: [ResourceKey: JSONValue] = [:]
        for result in results {
            switch result {
            case .success(let objects): found.merge(objects) { first, _ in first }
            case .failure(let error): throw .cluster(error)
            }
        }
        return found
    }

    /// `value` without the fields `ignoreDifferences` names for `key`.
    func ignoring(_ key: ResourceKey, _ value: JSONValue) -> JSONValue {
        var copy = value
        for rule in environment.ignoreDifferences where rule.kind == key.kind && (rule.group == nil || rule.group == key.group)
            && (rule.name == nil || rule.name == key.name) && (rule.namespace == nil || rule.namespace == key.namespace) {
            for pointer in rule.jsonPointers { Diff.remove(pointer, from: &copy) }
        }
        return copy
    }

    // MARK: Syncing

    /// One reconcile pass at `revision`. `dryRun` changes nothing; `healDrift` false leaves
    /// objects that drifted (but that the revision did not change) as they are, reported.
    /// Render problems apply nothing; a failed object stops later steps.
    public func sync(revision: String, dryRun: Bool = false, healDrift: Bool = true) async -> StatusReport {
        let started = Date(), clock = ContinuousClock.now
        func report(_ objects: [ObjectStatus], synced: Bool, applied: Bool, errors: [String], drift: Bool) -> StatusReport {
            StatusReport(environment: environment.name, revision: revision, synced: synced,
                         health: errors.isEmpty ? HealthStatus.aggregate(objects.filter { $0.action != .prune }.map(\.health)) : .unknown,
                         objects: objects, driftFound: drift, applied: applied, errors: errors, startedAt: started,
                         duration: TimeSpan(ContinuousClock.now - clock))
        }
        let plan: Plan
        do {
            plan = try await self.plan(revision: revision)
        } catch {
            return report([], synced: false, applied: false, errors: ["\(error)"], drift: false)
        }
        let drift = plan.changes.contains { $0.drifted }
        var results: [ResourceKey: ObjectStatus] = [:]
        var errors: [String] = []
        var applied = false
        for change in plan.changes {
            let (health, message) = change.live.map(Health.assess) ?? (.missing, "not in the cluster")
            results[change.key] = ObjectStatus(key: change.key, apiVersion: change.apiVersion, action: change.action, health: health,
                                               healthMessage: message, drifted: change.drifted)
        }
        let toApply = plan.changes.filter { ($0.action == .create || $0.action == .update) && (healDrift || !$0.drifted) }
        if !dryRun {
            for step in ApplyOrder.steps(toApply) {
                let outcomes = await apply(step)
                applied = applied || !outcomes.isEmpty
                var failed = false
                for (key, outcome) in outcomes {
                    switch outcome {
                    case .success(let live):
                        let (health, message) = Health.assess(live)
                        results[key]?.health = health
                        results[key]?.healthMessage = message
                    case .failure(let error):
                        failed = true
                        results[key]?.error = "\(error)"
                        errors.append("\(key): \(error)")
                    }
                }
                if failed { break }
                if step.contains(where: { $0.key.kind == "CustomResourceDefinition" }) {
                    if let problem = await waitEstablished(step.map(\.key)) {
                        errors.append(problem)
                        break
                    }
                }
            }
            if errors.isEmpty, environment.sync.prune {
                let prunes = plan.changes.filter { $0.action == .prune }
                for step in ApplyOrder.steps(prunes).reversed() {
                    for change in step {
                        do {
                            try await client.delete(apiVersion: change.apiVersion, kind: change.key.kind, name: change.key.name,
                                                    namespace: change.key.namespace.isEmpty ? nil : change.key.namespace)
                            applied = true
                        } catch {
                            results[change.key]?.error = "\(error)"
                            errors.append("\(change.key): \(error)")
                        }
                    }
                }
            }
        }
        let objects = plan.changes.compactMap { results[$0.key] }
        let pending = plan.changes.contains { change in
            switch change.action {
            case .unchanged: false
            case .create, .update: dryRun || (!healDrift && change.drifted)
            case .prune: dryRun || !environment.sync.prune
            }
        }
        return report(objects, synced: errors.isEmpty && !pending, applied: applied, errors: errors, drift: drift)
    }

    /// Applies one step's changes in parallel; the live object or the error for each.
    private func apply(_ step: [Change]) async -> [(ResourceKey, Result<JSONValue, KubeError>)] {
        let client = self.client
        return await withTaskGroup(of: (ResourceKey, Result<JSONValue, KubeError>).self) { group in
            for change in step {
                guard let desired = change.desired else { continue }
                group.addTask {
                    do throws(KubeError) {
                        return (change.key, .success(try await client.apply(desired, force: true)))
                    } catch {
                        return (change.key, .failure(error))
                    }
                }
            }
            var out: [(ResourceKey, Result<JSONValue, KubeError>)] = []
            for await outcome in group { out.append(outcome) }
            return out
        }
    }

    /// Waits (up to 30 s) until the CRDs say `Established`; a problem when they do not.
    private func waitEstablished(_ keys: [ResourceKey]) async -> String? {
        let deadline = ContinuousClock.now + .seconds(30)
        for key in keys {
            while true {
                let crd = try? await client.get(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", name: key.name)
                let established = (crd?[path: ["status", "conditions"]]?.array ?? []).contains {
                    $0["type"]?.string == "Established" && $0["status"]?.string == "True"
                }
                if established { break }
                if ContinuousClock.now > deadline { return "\(key) is not Established after 30s" }
                do {
                    try await Task.sleep(for: .milliseconds(200))
                } catch {
                    return "cancelled while waiting for \(key) to be Established"
                }
            }
        }
        _ = try? await client.discover()
        return nil
    }
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
