import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// An environment synced before inventories existed: its first inventory is seeded from the
/// revision it runs, as the audit log records it, and from the new one — never from labels.
@Suite("Reconciler: inventories — migration and prune preconditions")
struct InventoryMigrationTests {
    static func configMap(_ name: String) -> String {
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \(name)}\ndata: {a: \"1\"}\n"
    }

    /// Syncs `revision` into namespace `shop` as an install without inventories did: the objects
    /// are Baton's (tracking annotation and all), but this environment's database holds no
    /// inventory; `recordSync` says whether its audit log holds the sync.
    static func syncedBeforeInventories(_ fixture: Fixture, revision: String, recordSync: Bool) async throws -> AuditStore {
        #expect(try await fixture.kubectl(["create", "namespace", "shop"]).status == 0)
        let elsewhere = try AuditStore(path: fixture.dir.path + "/old-\(UUID().uuidString.prefix(6)).db")
        let plain = fixture.reconciler()
        let old = Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: elsewhere)
        let report = await old.sync(revision: revision)
        #expect(report.errors == [] && report.applied, "\(report.errors)")
        let database = try AuditStore(path: fixture.dir.path + "/migrating-\(UUID().uuidString.prefix(6)).db")
        if recordSync {
            let objects = report.objects.map {
                SyncedObject(kind: $0.key.kind, group: $0.key.group, namespace: $0.key.namespace, name: $0.key.name, action: $0.action.rawValue)
            }
            _ = try database.append(EventDraft(kind: "sync", actor: "baton", pipeline: "shop", environment: "dev", revision: revision,
                                               records: [.syncResult(objects: objects, errors: [])]))
        }
        #expect(try await database.inventory(environment: "dev") == nil)
        return database
    }

    func names(_ fixture: Fixture) async throws -> Set<String> {
        Set(try await fixture.client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "shop").items
            .compactMap { $0[path: ["metadata", "name"]]?.string }.filter { $0 != "kube-root-ca.crt" })
    }

    @Test("the deployed revision comes from the audit log: a new revision sharing no object with it still prunes what it dropped")
    func seededFromRecordedSync() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/old.yaml": Self.configMap("old"), "app/kept.yaml": Self.configMap("kept")])
        let database = try await Self.syncedBeforeInventories(fixture, revision: first, recordSync: true)
        #expect(try await names(fixture) == ["old", "kept"])
        // Every file replaced: no live object of the new revision carries the old revision's
        // annotation, so only the audit log can say which revision runs.
        let second = try await fixture.commit(["app/new.yaml": Self.configMap("new")], remove: ["app/old.yaml", "app/kept.yaml"])
        let plain = fixture.reconciler()
        let report = await Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: database)
            .sync(revision: second)
        #expect(report.errors == [], "\(report.errors)")
        #expect(Set(report.objects.filter { $0.action == .prune }.map(\.key.name)) == ["old", "kept"])
        #expect(try await names(fixture) == ["new"])
        let inventory = try #require(try await database.inventory(environment: "dev"))
        #expect(inventory.entries.map(\.key.name) == ["new"])
    }

    @Test("with no sync recorded and no live object naming a revision, only the new revision is seeded: nothing is deleted on a guess")
    func nothingDeletedOnAGuess() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/old.yaml": Self.configMap("old")])
        let database = try await Self.syncedBeforeInventories(fixture, revision: first, recordSync: false)
        let second = try await fixture.commit(["app/new.yaml": Self.configMap("new")], remove: ["app/old.yaml"])
        let plain = fixture.reconciler()
        let report = await Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: database)
            .sync(revision: second)
        #expect(report.errors == [], "\(report.errors)")
        #expect(!report.objects.contains { $0.action == .prune })
        #expect(try await names(fixture) == ["old", "new"])
        #expect(try #require(try await database.inventory(environment: "dev")).entries.map(\.key.name) == ["new"])
    }

    @Test("objects an older Baton applied (its labels and content hash, no tracking annotation) are updated without adoption, and never pruned")
    func legacyObjectsUpdatedNotPruned() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.kubectl(["create", "namespace", "shop"]).status == 0)
        for name in ["legacy-kept", "legacy-dropped"] {
            let object: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": ["name": .string(name), "namespace": "shop",
                                                  "labels": .object([Normalizer.managedByLabel: .string(Normalizer.managedByValue),
                                                                     Normalizer.environmentLabel: "dev"]),
                                                  "annotations": .object([Normalizer.contentHashAnnotation: "0123abcd"])],
                                     "data": ["a": "0"]]
            _ = try await fixture.client.apply(object)
        }
        let first = try await fixture.commit(["app/kept.yaml": Self.configMap("legacy-kept"), "app/dropped.yaml": Self.configMap("legacy-dropped")])
        let database = try AuditStore(path: fixture.dir.path + "/legacy.db")
        _ = try database.append(EventDraft(kind: "sync", actor: "baton", pipeline: "shop", environment: "dev", revision: first,
                                           records: [.syncResult(objects: [], errors: [])]))
        let second = try await fixture.commit(["app/kept.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: legacy-kept}\ndata: {a: \"2\"}\n"],
                                        remove: ["app/dropped.yaml"])
        let plain = fixture.reconciler()
        let report = await Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: database)
            .sync(revision: second)
        #expect(report.errors == [], "\(report.errors)")
        #expect(report.objects.first { $0.key.name == "legacy-kept" }?.action == .update)
        #expect(!report.objects.contains { $0.action == .prune })
        let kept = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "legacy-kept", namespace: "shop")
        #expect(kept[path: ["data", "a"]] == "2")
        #expect(kept[path: ["metadata", "annotations", Normalizer.trackingAnnotation]] != nil)
        #expect(try await names(fixture) == ["legacy-kept", "legacy-dropped"], "an object without a tracking annotation was deleted")

        // Once the environment has an inventory, Baton's labels and a content hash on an object
        // it does not list prove nothing (anyone can write them): taking it needs adoption.
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": ["name": "lookalike", "namespace": "shop",
                                                         "labels": .object([Normalizer.managedByLabel: .string(Normalizer.managedByValue),
                                                                            Normalizer.environmentLabel: "dev"]),
                                                         "annotations": .object([Normalizer.contentHashAnnotation: "0123abcd"])],
                                            "data": ["a": "someone else's"]], fieldManager: "someone-else")
        let third = try await fixture.commit(["app/lookalike.yaml": Self.configMap("lookalike")])
        let refused = await Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: database)
            .sync(revision: third)
        #expect(refused.errors.count == 1 && refused.errors.first?.contains("ConfigMap shop/lookalike (app/lookalike.yaml:1): exists and is not this environment's") == true,
                "\(refused.errors)")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "lookalike", namespace: "shop")[path: ["data", "a"]] == "someone else's")
    }

    @Test("answers lost after the work was done (504 Timeout) fail nothing: the applies are sent again, the prune's retried delete finds nothing and counts as done")
    func lostAnswers() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.kubectl(["create", "namespace", "shop"]).status == 0)
        let first = try await fixture.commit(["app/old.yaml": Self.configMap("old"), "app/kept.yaml": Self.configMap("kept")])
        let reconciler = fixture.reconciler()
        await fixture.server.simulation.faults.loseAnswers(2)
        let created = await reconciler.sync(revision: first)
        #expect(created.errors == [], "\(created.errors)")
        #expect(created.synced)
        #expect(fixture.server.requests.count("PATCH") >= 4, "two applies whose answers were lost and their retries")

        let second = try await fixture.commit([:], remove: ["app/old.yaml"])
        let deletes = fixture.server.requests.count("DELETE")
        await fixture.server.simulation.faults.loseAnswers(1)
        let pruned = await reconciler.sync(revision: second)
        #expect(pruned.errors == [], "\(pruned.errors)")
        #expect(pruned.synced)
        #expect(fixture.server.requests.count("DELETE") == deletes + 2, "the delete whose answer was lost was not retried")
        #expect(try await names(fixture) == ["kept"])
        #expect(try #require(try await fixture.audit.inventory(environment: "dev")).entries.map(\.key.name) == ["kept"])
    }

    @Test("prune deletes with the uid Baton applied as a precondition: an object deleted and made again meanwhile gets kube-apiserver's 409 and is left alone, not an error")
    func uidPreconditionOnPrune() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.kubectl(["create", "namespace", "shop"]).status == 0)
        let first = try await fixture.commit(["app/old.yaml": Self.configMap("old"), "app/kept.yaml": Self.configMap("kept")])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])

        // The words of kube-apiserver 1.36 (checked on ../shared/realkube).
        let live = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "kept", namespace: "shop")
        let uid = try #require(live[path: ["metadata", "uid"]]?.string)
        do {
            _ = try await fixture.client.delete(apiVersion: "v1", kind: "ConfigMap", name: "kept", namespace: "shop", uid: "0000")
            Issue.record("a delete with a wrong uid went through")
        } catch {
            #expect(error.statusCode == 409)
            #expect("\(error)".contains(#"Operation cannot be fulfilled on ConfigMap "kept": the UID in the precondition (0000) does not match the UID in record (\#(uid)). The object might have been deleted and then recreated"#),
                    "\(error)")
        }

        // The prune's DELETE is held a second by the server; meanwhile someone deletes the
        // object and makes it again, annotations and all.
        let second = try await fixture.commit([:], remove: ["app/old.yaml"])
        let stored = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "old", namespace: "shop")
        let deletes = fixture.server.requests.count("DELETE")
        await fixture.server.simulation.faults.set(Faults.Settings(latencyMs: 1000))
        async let report = reconciler.sync(revision: second)
        for _ in 0..<100 where fixture.server.requests.count("DELETE") == deletes { try await Task.sleep(for: .milliseconds(20)) }
        let type = try #require(ResourceType.builtIn.first { $0.kind == "ConfigMap" })
        _ = try await fixture.server.state.delete(type, namespace: "shop", name: "old")
        var copy = stored
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields"] { copy[path: ["metadata", field]] = nil }
        _ = try await fixture.server.state.create(type, namespace: "shop", body: copy, manager: "someone")
        let pruning = await report
        await fixture.server.simulation.faults.set(Faults.Settings())
        #expect(pruning.errors == [], "\(pruning.errors)")
        #expect(pruning.objects.first { $0.key.name == "old" }?.healthMessage.contains("left alone") == true)
        let remade = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "old", namespace: "shop")
        #expect(remade[path: ["metadata", "uid"]] != stored[path: ["metadata", "uid"]], "Baton deleted the object made again")
        #expect(try #require(try await fixture.audit.inventory(environment: "dev")).entries.map(\.key.name) == ["kept"])
    }

    @Test("the inventory is written as intended before anything is applied: a pass whose final write is lost still leaves what it created prunable, and the merge keeps what it had not pruned yet")
    func intentBeforeApply() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        #expect(try await fixture.kubectl(["create", "namespace", "shop"]).status == 0)
        let first = try await fixture.commit(["app/old.yaml": Self.configMap("old"), "app/kept.yaml": Self.configMap("kept")])
        let plain = fixture.reconciler()
        #expect(await plain.sync(revision: first).errors == [])
        // The second pass creates "new" and drops "old"; the audit database takes the intent and
        // then fails (the disk full, say) for the rest of the pass. No real SQLite fails on cue
        // between two writes of one pass, so this store wraps the real one and refuses from its
        // second write on; what it did write is the real database's.
        let store = FailingAfter(fixture.audit, writes: 1, server: fixture.server)
        let second = try await fixture.commit(["app/new.yaml": Self.configMap("new")], remove: ["app/old.yaml"])
        let lossy = Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: store)
        let cut = await lossy.sync(revision: second)
        #expect(cut.errors == ["inventory: the disk is full"], "\(cut.errors)")
        #expect(store.writesSeenAtIntent == 0, "the intent was written after a write to the cluster")
        let intended = try #require(try await fixture.audit.inventory(environment: "dev"))
        #expect(intended.revision == second && intended.entries.map(\.key.name) == ["kept", "new", "old"])
        #expect(try await names(fixture) == ["kept", "new"], "the pass applied and pruned before its final write failed")

        // The next revision drops "new" as well: it is pruned, known only from the intent.
        let third = try await fixture.commit([:], remove: ["app/new.yaml"])
        let report = await plain.sync(revision: third)
        #expect(report.errors == [], "\(report.errors)")
        #expect(report.objects.filter { $0.action == .prune }.map(\.key.name) == ["new"])
        #expect(try await names(fixture) == ["kept"])
        #expect(try #require(try await fixture.audit.inventory(environment: "dev")).entries.map(\.key.name) == ["kept"])
    }
}

/// The real audit database's inventory, whose writes after the first `writes` fail; it notes
/// how many writes the cluster had seen when the first one was made.
final class FailingAfter: InventoryStore, @unchecked Sendable {
    let store: AuditStore
    let server: KubeSimServer
    private let lock = NSLock()
    private var remaining: Int
    private(set) var writesSeenAtIntent: Int?
    private let writesBefore: Int

    init(_ store: AuditStore, writes: Int, server: KubeSimServer) {
        self.store = store
        self.server = server
        remaining = writes
        writesBefore = CorpusTests.writes(server)
    }

    func inventory(environment: String) async throws -> Inventory? { try await store.inventory(environment: environment) }
    func lastSyncedRevision(environment: String) async throws -> String? { try await store.lastSyncedRevision(environment: environment) }

    func saveInventory(_ inventory: Inventory) async throws {
        let allowed = lock.withLock {
            if writesSeenAtIntent == nil { writesSeenAtIntent = CorpusTests.writes(server) - writesBefore }
            remaining -= 1
            return remaining >= 0
        }
        guard allowed else { throw Refused() }
        try await store.saveInventory(inventory)
    }

    struct Refused: Error, CustomStringConvertible { var description: String { "the disk is full" } }
}
