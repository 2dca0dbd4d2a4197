import BatonCore
import Foundation
import Kube
import Manifests

extension Reconciler {
    /// One object to read from the cluster.
    struct Lookup: Sendable {
        var key: ResourceKey
        var apiVersion: String
    }

    /// What syncing `revision` would change. Live objects are read only for the objects of
    /// the revision and of the inventory, in their own namespaces (a namespaced Role is
    /// enough); each object the cluster has is compared, as a whole, with what the server
    /// says it would store after applying the revision's version (a server-side dry run).
    public func plan(revision: String) async throws(Failure) -> Plan {
        let desired = try await desired(revision: revision)
        let (inventory, saved) = try await currentInventory(desired: desired, revision: revision)
        let desiredKeys = Set(desired.map(\.key))
        // Nothing outside the environment's scope is read or pruned (a scope narrowed since).
        let candidates = inventory.entries.filter { !desiredKeys.contains($0.key) && scopeProblem($0.key) == nil }
        let live = try await existing(desired.map { Lookup(key: $0.key, apiVersion: $0.apiVersion) }
            + candidates.map { Lookup(key: $0.key, apiVersion: $0.apiVersion) })
        let crdVersions = await schemaVersions(desired: desired, live: live)
        let generation = await client.discoveryGeneration
        // What this revision brings that is not in the cluster yet: objects in a namespace or
        // of a kind it creates cannot be dry-run before that step (`sync` dry-runs them then).
        let arrivingNamespaces = Set(desired.filter { $0.kind == "Namespace" && $0.key.group.isEmpty && live[$0.key] == nil }.map(\.name))
        func kindOf(_ crd: Manifest) -> String {
            (crd.object[path: ["spec", "group"]]?.string ?? "") + "|" + (crd.object[path: ["spec", "names", "kind"]]?.string ?? "")
        }
        let crds = desired.filter { $0.kind == "CustomResourceDefinition" && $0.key.group == "apiextensions.k8s.io" }
        let arrivingKinds = Set(crds.filter { live[$0.key] == nil }.map(kindOf))
        // CRDs the revision changes: their objects are judged by the new schema only once it is applied.
        let changingKinds = Set(crds.filter { crd in
            guard let current = live[crd.key] else { return false }
            return current[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]
                != crd.object[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]
        }.map(kindOf))

        // Objects applied before tracking annotations are recognised only where the inventory
        // lists them (as the very object, when it recorded a uid).
        let listed = Dictionary(inventory.entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })

        let results = await withTaskGroup(of: (Int, Result<Change, Failure>).self) { group in
            for (index, manifest) in desired.enumerated() {
                group.addTask {
                    do throws(Failure) {
                        let kind = manifest.key.group + "|" + manifest.kind
                        let deferred = arrivingNamespaces.contains(manifest.namespace) || arrivingKinds.contains(kind)
                        let schema = Self.isBuiltIn(group: manifest.key.group) ? "" : crdVersions[kind]
                        return (index, .success(try await change(for: manifest, live: live[manifest.key], schema: schema, generation: generation,
                                                                 deferred: deferred, schemaChanging: changingKinds.contains(kind),
                                                                 listed: listed[manifest.key])))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var out: [(Int, Result<Change, Failure>)] = []
            for await result in group { out.append(result) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        // The failure reported is the same whichever object's check ends first: the first definite
        // one in the revision's order (it fails the revision whatever else happens), else the
        // first one that is the cluster not answering.
        let failures = results.compactMap { result -> Failure? in
            if case .failure(let failure) = result { return failure }
            return nil
        }
        if let failure = failures.first(where: { !$0.isTransient }) ?? failures.first { throw failure }
        var changes = results.compactMap { try? $0.get() }

        for entry in candidates {
            guard let object = live[entry.key], isOurs(object, key: entry.key, forPrune: true), Self.isSameObject(object, as: entry) else { continue }
            changes.append(Change(key: entry.key, apiVersion: object["apiVersion"]?.string ?? entry.apiVersion, action: .prune, drifted: false,
                                  desired: nil, live: object, source: nil))
        }
        return Plan(revision: revision, changes: changes.sorted { $0.key < $1.key }, inventory: inventory, inventorySaved: saved)
    }

    /// The groups Kubernetes itself serves (no CRD behind them). Any other group may be a
    /// CRD's, even one ending in `.k8s.io` (Gateway API's `gateway.networking.k8s.io`).
    static let builtInGroups: Set<String> = [
        "", "apps", "batch", "autoscaling", "policy", "admissionregistration.k8s.io", "apiextensions.k8s.io",
        "apiregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
        "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io", "resource.k8s.io",
        "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
    ]

    static func isBuiltIn(group: String) -> Bool { builtInGroups.contains(group) }

    /// The resourceVersion of the CRD behind each custom kind of `desired` ("GROUP|KIND"): the
    /// server's answer for a custom resource depends on its CRD's schema (defaults, pruning),
    /// so a verdict kept under one CRD version is not trusted under another. From the revision's
    /// own CRD when it has one; else the CRD is read by name (`PLURAL.GROUP`) — "" when there is
    /// none (an aggregated API). A kind whose CRD cannot be read (forbidden, unreachable) has no
    /// entry: its objects are dry-run at every pass rather than trusted on an unknown schema.
    func schemaVersions(desired: [Manifest], live: [ResourceKey: JSONValue]) async -> [String: String] {
        var versions: [String: String] = [:]
        for crd in desired where crd.kind == "CustomResourceDefinition" && crd.key.group == "apiextensions.k8s.io" {
            let group = crd.object[path: ["spec", "group"]]?.string ?? ""
            let kind = crd.object[path: ["spec", "names", "kind"]]?.string ?? ""
            versions[group + "|" + kind] = live[crd.key]?[path: ["metadata", "resourceVersion"]]?.string ?? ""
        }
        var others: [String: Manifest] = [:]
        for manifest in desired where !Self.isBuiltIn(group: manifest.key.group) && versions[manifest.key.group + "|" + manifest.kind] == nil {
            others[manifest.key.group + "|" + manifest.kind] = manifest
        }
        let client = self.client
        return await withTaskGroup(of: (String, String?).self) { group in
            for (kind, manifest) in others {
                group.addTask {
                    // A kind not served yet fails its own dry run; nothing to key here.
                    guard let resource = try? await client.resource(apiVersion: manifest.apiVersion, kind: manifest.kind) else { return (kind, nil) }
                    do throws(KubeError) {
                        let crd = try await client.get(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition",
                                                       name: resource.name + "." + resource.group)
                        return (kind, crd[path: ["metadata", "resourceVersion"]]?.string)
                    } catch where error.isNotFound {
                        return (kind, "")
                    } catch {
                        return (kind, nil)
                    }
                }
            }
            for await (kind, version) in group { versions[kind] = version }
            return versions
        }
    }

    /// The change one desired object needs: a create when the cluster lacks it; otherwise the
    /// server's dry run of the apply compared with the live object (its answer kept per object
    /// sent, CRD version and discovery generation, and reused while the live object equals it;
    /// never kept when `schema` is nil: a custom resource whose CRD could not be read).
    func change(for manifest: Manifest, live: JSONValue?, schema: String?, generation: Int, deferred: Bool = false,
                schemaChanging: Bool = false, listed: InventoryEntry? = nil) async throws(Failure) -> Change {
        if let live, !isOurs(live, key: manifest.key, ignoringControllers: true, legacy: listed.map { Self.isSameObject(live, as: $0) } ?? false),
           !mayAdopt(live) {
            throw .notOurs(manifest.key, source: manifest.source, tracked: live[path: ["metadata", "annotations", Normalizer.trackingAnnotation]]?.string)
        }
        guard let live else {
            var create = Change(key: manifest.key, apiVersion: manifest.apiVersion, action: .create, drifted: false, desired: manifest.object,
                                live: nil, source: manifest.source)
            create.verdictKey = schema.map { VerdictCache.Key(object: Normalizer.hash(manifest.object), schema: $0, discovery: generation) }
            if !deferred { create.checked = try await check(create) }
            return create
        }
        let sent = keepingIgnored(manifest.key, manifest.object, live: live)
        if schemaChanging {
            // Sent again after the CRD step (server-side apply leaves an unchanged object as it
            // is); dry-run then, with the other objects that could not be asked about yet.
            var update = Change(key: manifest.key, apiVersion: manifest.apiVersion, action: .update, drifted: false, desired: sent, live: live,
                                source: manifest.source)
            update.postponed = true
            return update
        }
        let verdictKey = schema.map { VerdictCache.Key(object: Normalizer.hash(sent), schema: $0, discovery: generation) }
        // The live object is what the server answered last time for this very object sent:
        // nothing to ask, nothing to apply.
        if let verdictKey, verdicts.matches(verdictKey, live: live) {
            return Change(key: manifest.key, apiVersion: manifest.apiVersion, action: .unchanged, drifted: false, desired: sent, live: live,
                          source: manifest.source, stored: live)
        }
        let stored: JSONValue
        do {
            stored = try await client.apply(sent, force: true, dryRun: true)
        } catch where error.isImmutableField && Self.allowsReplace(manifest.object) {
            // The server cannot change it in place, and the object lets Baton recreate it.
            return Change(key: manifest.key, apiVersion: manifest.apiVersion, action: .update, drifted: false, desired: sent, live: live,
                          source: manifest.source, recreate: true)
        } catch {
            throw .object(manifest.key, source: manifest.source, error)
        }
        if let verdictKey { verdicts.put(verdictKey, stored) }
        var matches = Diff.same(ignoring(manifest.key, stored), ignoring(manifest.key, live))
        // Differences only in fields nobody owns are a mutating webhook's (a new value at each
        // admission): the live object is in sync as it is, and is kept as the verdict.
        if !matches, Diff.differsOnlyInUnownedFields(ignoring(manifest.key, stored), ignoring(manifest.key, live)) {
            matches = true
            if let verdictKey { verdicts.put(verdictKey, live) }
        }
        // The revision did not change the object since Baton last applied it, yet the
        // cluster differs: someone changed the cluster.
        let unchangedInGit = manifest.object[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]
            == live[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]]
        var change = Change(key: manifest.key, apiVersion: manifest.apiVersion, action: matches ? .unchanged : .update,
                            drifted: !matches && unchangedInGit, desired: sent, live: live, source: manifest.source, stored: stored)
        change.verdictKey = verdictKey
        return change
    }

    /// The server's dry run of a create, so that an object the server refuses fails the
    /// revision before anything is applied. False when it cannot be asked yet (its namespace or
    /// its kind does not exist: `sync` asks again after that step).
    func check(_ change: Change) async throws(Failure) -> Bool {
        guard let desired = change.desired else { return false }
        do {
            try await client.checkApply(desired)
            return true
        } catch where error.isUnknownKind || Self.missingNamespace(error, key: change.key) != nil {
            return false
        } catch {
            throw .object(change.key, source: change.source, error)
        }
    }

    /// Whether the object says `baton.dev/sync-options: Replace=true` (comma-separated options).
    static func allowsReplace(_ object: JSONValue) -> Bool {
        let options = object[path: ["metadata", "annotations", Normalizer.syncOptionsAnnotation]]?.string ?? ""
        return options.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "Replace=true" }
    }

    /// Whether `object` is Baton's: its tracking annotation names this environment and this
    /// very object (a ReplicaSet carrying its Deployment's annotations names the Deployment),
    /// and no controller owns it. Only that makes an object Baton's to delete (`forPrune`).
    /// To update, objects applied before tracking annotations existed are recognised too
    /// (`legacy`: the inventory lists this very object — seeded from the revision the
    /// environment runs when it had none), by Baton's labels and content hash together (never
    /// by labels alone), so an upgrade needs no adoption; the update gives them the annotation.
    func isOurs(_ object: JSONValue, key: ResourceKey, ignoringControllers: Bool = false, forPrune: Bool = false, legacy: Bool = false) -> Bool {
        let controlled = (object[path: ["metadata", "ownerReferences"]]?.array ?? []).contains { $0["controller"]?.bool == true }
        if controlled, !ignoringControllers { return false }
        if let tracking = object[path: ["metadata", "annotations", Normalizer.trackingAnnotation]]?.string {
            return tracking == Normalizer.trackingID(instance: environment.instance, environment: environment.name, key: key)
        }
        if forPrune || !legacy { return false }
        let labels = object[path: ["metadata", "labels"]]?.object ?? [:]
        return labels[Normalizer.managedByLabel]?.string == Normalizer.managedByValue
            && labels[Normalizer.environmentLabel]?.string == environment.name
            && labels[Normalizer.instanceLabel]?.string == environment.instance
            && object[path: ["metadata", "annotations", Normalizer.contentHashAnnotation]] != nil
    }

    /// Whether an existing object Baton did not create may be taken over: the environment allows
    /// it (`sync.adopt`), or the object's owner annotated it `baton.dev/adopt: "true"`. Never
    /// the rendered manifest, which the commit (and so an attacker with push access) controls.
    func mayAdopt(_ live: JSONValue) -> Bool {
        environment.sync.adopt || live[path: ["metadata", "annotations", Normalizer.adoptAnnotation]]?.string == "true"
    }

    /// Whether `object` is the very object the inventory recorded (same uid), when it recorded
    /// one: a copy made again by someone else, tracking annotation and all, is not Baton's.
    static func isSameObject(_ object: JSONValue, as entry: InventoryEntry) -> Bool {
        guard let recorded = entry.uid else { return true }
        return object[path: ["metadata", "uid"]]?.string == recorded
    }

    static func key(_ object: JSONValue) -> ResourceKey {
        ResourceKey(group: ResourceKey.group(ofAPIVersion: object["apiVersion"]?.string ?? ""), kind: object["kind"]?.string ?? "",
                    namespace: object[path: ["metadata", "namespace"]]?.string ?? "", name: object[path: ["metadata", "name"]]?.string ?? "")
    }

    /// Which of `lookups` exist in the cluster: from the shared cache where its watch of that
    /// kind and namespace is synced (an object it lacks may exist without Baton's labels: read
    /// directly), else read from the cluster.
    func existing(_ lookups: [Lookup]) async throws(Failure) -> [ResourceKey: JSONValue] {
        tracked.insert(lookups.map(\.key))
        guard let cache else { return try await read(lookups) }
        var found: [ResourceKey: JSONValue] = [:]
        var remaining: [Lookup] = []
        let scopes = Dictionary(grouping: lookups) { Self.scope($0.apiVersion, $0.key) }
        for (scope, members) in scopes {
            guard let objects = await cache.objects(scope, named: members.map(\.key.name)) else {
                remaining += members
                continue
            }
            for lookup in members {
                if let object = objects[lookup.key.name] { found[lookup.key] = object } else { remaining.append(lookup) }
            }
        }
        if remaining.isEmpty { return found }
        return found.merging(try await read(remaining)) { cached, _ in cached }
    }

    static func scope(_ apiVersion: String, _ key: ResourceKey) -> ClusterCache.Scope {
        ClusterCache.Scope(apiVersion: apiVersion, kind: key.kind, namespace: key.namespace)
    }

    /// Which of `lookups` exist, read from the cluster concurrently: objects one by one where a
    /// kind and namespace have few of them, by listing that kind in that namespace otherwise.
    /// Only "not found" (or a kind not served yet: its CRD is in this revision) means absent;
    /// any other failure is the plan's failure.
    func read(_ lookups: [Lookup]) async throws(Failure) -> [ResourceKey: JSONValue] {
        var groups: [String: [Lookup]] = [:]
        for lookup in lookups { groups["\(lookup.apiVersion)|\(lookup.key.kind)|\(lookup.key.namespace)", default: []].append(lookup) }
        let client = self.client
        let results = await withTaskGroup(of: Result<[ResourceKey: JSONValue], KubeError>.self) { group in
            for (_, members) in groups {
                let first = members[0]
                let namespace = first.key.namespace.isEmpty ? nil : first.key.namespace
                if members.count <= 3 {
                    for lookup in members {
                        group.addTask {
                            do throws(KubeError) {
                                let live = try await client.get(apiVersion: lookup.apiVersion, kind: lookup.key.kind, name: lookup.key.name,
                                                                namespace: namespace)
                                return .success([lookup.key: live])
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
                            let list = try await client.list(apiVersion: first.apiVersion, kind: first.key.kind, namespace: namespace)
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
        for pointer in ignoredPointers(key) { Diff.remove(pointer, from: &copy) }
        return copy
    }

    /// `desired` with the live values at the paths `ignoreDifferences` names (Argo CD's
    /// `RespectIgnoreDifferences=true`): applying it never resets them (an HPA's replicas).
    func keepingIgnored(_ key: ResourceKey, _ desired: JSONValue, live: JSONValue) -> JSONValue {
        var copy = desired
        for pointer in ignoredPointers(key) {
            if let value = Diff.value(at: pointer, in: live) {
                Diff.set(pointer, to: value, in: &copy)
            } else {
                Diff.remove(pointer, from: &copy)
            }
        }
        return copy
    }

    private func ignoredPointers(_ key: ResourceKey) -> [String] {
        environment.ignoreDifferences.filter { rule in
            rule.kind == key.kind && (rule.group == nil || rule.group == key.group)
                && (rule.name == nil || rule.name == key.name) && (rule.namespace == nil || rule.namespace == key.namespace)
        }.flatMap(\.jsonPointers)
    }
}
