import BatonCore
import Foundation
import Kube
import Manifests

extension Reconciler {
    /// One reconcile pass at `revision`. `dryRun` changes nothing; `healDrift` false leaves
    /// objects that drifted (but that the revision did not change) as they are, reported.
    /// Render problems and objects the server refuses in the dry run apply nothing; a failed
    /// step stops later steps. The inventory is written as intended before anything is
    /// applied and as applied afterwards, so a pass cut short never loses track of an object.
    public func sync(revision: String, dryRun: Bool = false, healDrift: Bool = true) async -> StatusReport {
        let started = Date(), clock = ContinuousClock.now
        // Whether an error of this pass is a definite answer; otherwise the cluster was only
        // unavailable, which fails nothing by itself.
        var definite = false
        func report(_ objects: [ObjectStatus], synced: Bool, applied: Bool, errors: [String], drift: Bool) -> StatusReport {
            StatusReport(environment: environment.name, revision: revision, synced: synced,
                         health: errors.isEmpty ? HealthStatus.aggregate(objects.filter { $0.action != .prune }.map(\.health)) : .unknown,
                         objects: objects, driftFound: drift, applied: applied, errors: errors, startedAt: started,
                         duration: TimeSpan(ContinuousClock.now - clock), unavailable: !errors.isEmpty && !definite)
        }
        let plan: Plan
        do {
            plan = try await self.plan(revision: revision)
        } catch {
            definite = !error.isTransient
            return report([], synced: false, applied: false, errors: ["\(error)"], drift: false)
        }
        let drift = plan.changes.contains { $0.drifted }
        var results: [ResourceKey: ObjectStatus] = [:]
        var errors: [String] = []
        var applied = false
        var uids: [ResourceKey: String] = [:]
        for change in plan.changes {
            let (health, message) = change.live.map(Health.assess) ?? (.missing, "not in the cluster")
            results[change.key] = ObjectStatus(key: change.key, apiVersion: change.apiVersion, action: change.action, health: health,
                                               healthMessage: message, drifted: change.drifted)
            if let uid = change.live?[path: ["metadata", "uid"]]?.string { uids[change.key] = uid }
        }
        let toApply = plan.changes.filter { ($0.action == .create || $0.action == .update) && (healDrift || !$0.drifted) }
        var pruned = Set<ResourceKey>()
        if !dryRun {
            // Intent first: whatever this pass creates is in the inventory before it exists.
            let desired = plan.changes.filter { $0.action != .prune }
            var intended = plan.inventory
            intended.revision = revision
            intended.entries = Self.merged(plan.inventory.entries, desired.map { InventoryEntry(key: $0.key, apiVersion: $0.apiVersion, uid: uids[$0.key]) })
            // What the store holds now; a pass at rest (the inventory as it was) writes nothing.
            var saved = plan.inventorySaved ? plan.inventory : nil
            do {
                if intended != saved { try await inventory.saveInventory(intended) }
                saved = intended
            } catch {
                return report(plan.changes.compactMap { results[$0.key] }, synced: false, applied: false,
                              errors: ["\(Failure.inventory("\(error)"))"], drift: drift)
            }
            if environment.sync.createNamespace, !toApply.isEmpty, let (problem, transient) = await ensureNamespace() {
                errors.append(problem)
                definite = definite || !transient
            }
            var missingNamespaces = Set<String>()
            func refused(_ key: ResourceKey, _ error: KubeError) {
                results[key]?.error = Self.explain(error)
                definite = definite || !error.isTransient
                if let namespace = Self.missingNamespace(error, key: key) {
                    if missingNamespaces.insert(namespace).inserted {
                        errors.append("namespace \(namespace) does not exist (create it, or set sync.createNamespace: true)")
                    }
                } else {
                    errors.append("\(key)\(plan.changes.first { $0.key == key }?.source.map { " (\($0))" } ?? ""): \(Self.explain(error))")
                }
            }
            var validated = false
            for step in ApplyOrder.steps(toApply) where errors.isEmpty {
                // Once the revision's namespaces and CRDs exist, the objects that could not be
                // dry-run before are; a refusal stops the sync before any of them is applied.
                if !validated, !step.allSatisfy({ ApplyOrder.isFoundation($0.key) }) {
                    validated = true
                    for (key, error) in await validateDeferred(toApply) { refused(key, error) }
                    if !errors.isEmpty { break }
                }
                let outcomes = await apply(step)
                applied = applied || !outcomes.isEmpty
                for (key, outcome) in outcomes {
                    switch outcome {
                    case .success(let live):
                        let (health, message) = Health.assess(live)
                        results[key]?.health = health
                        results[key]?.healthMessage = message
                        if let uid = live[path: ["metadata", "uid"]]?.string { uids[key] = uid }
                    case .failure(let error):
                        refused(key, error)
                    }
                }
                if errors.isEmpty, step.contains(where: { $0.key.kind == "CustomResourceDefinition" }),
                   let problem = await waitEstablished(step.map(\.key)) {
                    errors.append(problem)
                }
            }
            if errors.isEmpty, environment.sync.prune {
                let prunes = plan.changes.filter { $0.action == .prune }
                for step in ApplyOrder.steps(prunes).reversed() {
                    for change in step {
                        do {
                            try await client.delete(apiVersion: change.apiVersion, kind: change.key.kind, name: change.key.name,
                                                    namespace: change.key.namespace.isEmpty ? nil : change.key.namespace,
                                                    uid: change.live?[path: ["metadata", "uid"]]?.string)
                            applied = true
                            pruned.insert(change.key)
                            await cache?.forget(name: change.key.name, scope: Self.scope(change.apiVersion, change.key))
                        } catch where error.isConflict {
                            // The uid precondition failed: the object was deleted and made again
                            // since it was read, so it is not the one Baton applied. Left alone
                            // and forgotten, as a copy found at planning time would be.
                            pruned.insert(change.key)
                            results[change.key]?.healthMessage = "left alone: made again by someone else since Baton applied it"
                        } catch {
                            results[change.key]?.error = "\(error)"
                            errors.append("\(change.key): \(error)")
                            definite = definite || !error.isTransient
                        }
                    }
                }
            }
            // What this environment now has: the revision's objects, and what is still to prune.
            let kept = desired + plan.changes.filter { $0.action == .prune && !pruned.contains($0.key) }
            let final = Inventory(environment: environment.name, revision: revision,
                                  entries: kept.map { InventoryEntry(key: $0.key, apiVersion: $0.apiVersion, uid: uids[$0.key]) })
            do {
                if final != saved { try await inventory.saveInventory(final) }
            } catch {
                errors.append("\(Failure.inventory("\(error)"))")
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

    /// Dry-runs the creates the plan could not ask about (their namespace or kind came with the
    /// revision) and the updates it postponed (their CRD changes in the revision); the server's
    /// refusals, by object.
    func validateDeferred(_ changes: [Change]) async -> [(ResourceKey, KubeError)] {
        let pending = changes.filter { ($0.action == .create && !$0.checked || $0.postponed) && !ApplyOrder.isFoundation($0.key) }
        let client = self.client
        return await withTaskGroup(of: (ResourceKey, KubeError)?.self) { group in
            for change in pending {
                guard let desired = change.desired else { continue }
                group.addTask {
                    do throws(KubeError) {
                        try await client.checkApply(desired)
                        return nil
                    } catch {
                        return (change.key, error)
                    }
                }
            }
            var problems: [(ResourceKey, KubeError)] = []
            for await problem in group { if let problem { problems.append(problem) } }
            return problems.sorted { $0.0 < $1.0 }
        }
    }

    /// `old` with `new` added; an entry of `new` replaces one of `old` with the same key.
    static func merged(_ old: [InventoryEntry], _ new: [InventoryEntry]) -> [InventoryEntry] {
        var byKey = Dictionary(old.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in new { byKey[entry.key] = InventoryEntry(key: entry.key, apiVersion: entry.apiVersion, uid: entry.uid ?? byKey[entry.key]?.uid) }
        return byKey.values.sorted()
    }

    /// The namespace a refused write says is missing (`namespaces "x" not found`), if that is why.
    static func missingNamespace(_ error: KubeError, key: ResourceKey) -> String? {
        guard error.isNotFound, !key.namespace.isEmpty, case .api(let status, _, _) = error,
              status.message.contains("namespaces \"\(key.namespace)\" not found") else { return nil }
        return key.namespace
    }

    /// Creates the environment's namespace when it does not exist (`sync.createNamespace`);
    /// a problem when it cannot. The namespace is not in the inventory: never pruned.
    func ensureNamespace() async -> (String, transient: Bool)? {
        // A server-side apply that creates an object is authorized as patch and create.
        let needs = "sync.createNamespace needs get, create and patch on namespaces"
        do {
            _ = try await client.get(apiVersion: "v1", kind: "Namespace", name: namespace)
            return nil
        } catch where error.isNotFound {
            do {
                _ = try await client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(namespace)])]))
                return nil
            } catch {
                return ("creating namespace \(namespace) (\(needs)): \(error)", error.isTransient)
            }
        } catch {
            return ("reading namespace \(namespace) (\(needs)): \(error)", error.isTransient)
        }
    }

    /// Applies one step's changes in parallel; the live object or the error for each. An
    /// object planned for recreation is deleted (that very object) and applied once it is gone.
    func apply(_ step: [Change]) async -> [(ResourceKey, Result<JSONValue, KubeError>)] {
        let client = self.client, verdicts = self.verdicts, cache = self.cache
        return await withTaskGroup(of: (ResourceKey, Result<JSONValue, KubeError>).self) { group in
            for change in step {
                guard let desired = change.desired else { continue }
                group.addTask {
                    do throws(KubeError) {
                        if change.recreate, let live = change.live {
                            try await client.delete(apiVersion: change.apiVersion, kind: change.key.kind, name: change.key.name,
                                                    namespace: change.key.namespace.isEmpty ? nil : change.key.namespace,
                                                    propagationPolicy: .foreground, uid: live[path: ["metadata", "uid"]]?.string)
                            try await Self.waitGone(client, change)
                        }
                        let stored = try await client.apply(desired, force: true)
                        // The next pass compares against this answer without asking again, and
                        // reads it from the cache even before the watch reports it.
                        if let key = change.verdictKey { verdicts.put(key, stored) }
                        await cache?.observe(stored, scope: Self.scope(change.apiVersion, change.key))
                        return (change.key, .success(stored))
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

    /// Waits (up to 60 s) until a deleted object is gone.
    static func waitGone(_ client: KubeClient, _ change: Change) async throws(KubeError) {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            do {
                _ = try await client.get(apiVersion: change.apiVersion, kind: change.key.kind, name: change.key.name,
                                         namespace: change.key.namespace.isEmpty ? nil : change.key.namespace)
            } catch where error.isNotFound {
                return
            }
            do {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                throw .transport(.cancelled(url: "\(change.key)"))
            }
        }
        throw .invalidObject("\(change.key) was deleted to be recreated but is still there after 60s")
    }

    /// Waits (up to 30 s) until the CRDs say `Established`; a problem when they do not.
    func waitEstablished(_ keys: [ResourceKey]) async -> String? {
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
