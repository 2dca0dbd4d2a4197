import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// Syncing an environment from a real git repository into a KubeSim cluster.
@Suite("Reconciler: sync, prune, drift")
struct SyncTests {
    @Test("a first sync creates everything; a second sends nothing; one changed file applies one object; a deleted file prunes")
    func createUpdatePrune() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try fixture.commit(["app/namespace.yaml": namespaceYAML, "app/config.yaml": configMapYAML("settings", "1"),
                                        "app/more.yaml": configMapYAML("extra", "x") + "\n---\n" + deploymentYAML("web", image: "shop:1")])
        let reconciler = fixture.reconciler()
        let created = await reconciler.sync(revision: first)
        #expect(created.errors == [])
        #expect(created.synced && created.applied)
        #expect(created.objects.map(\.action) == [.create, .create, .create, .create])
        let web = try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")
        #expect(web[path: ["metadata", "labels", "app.kubernetes.io/managed-by"]]?.string == "baton")
        #expect(web[path: ["metadata", "labels", "baton.dev/environment"]]?.string == "dev")
        #expect(web[path: ["metadata", "annotations", "baton.dev/revision"]]?.string == first)

        let patches = fixture.server.requests.count("PATCH")
        let again = await reconciler.sync(revision: first)
        #expect(again.synced && !again.applied && again.errors == [])
        #expect(again.objects.allSatisfy { $0.action == .unchanged })
        #expect(fixture.server.requests.count("PATCH") == patches, "a no-op sync sent apply requests")

        let second = try fixture.commit(["app/config.yaml": configMapYAML("settings", "2")])
        let updated = await reconciler.sync(revision: second)
        #expect(updated.objects.filter { $0.action != .unchanged }.map(\.key.name) == ["settings"])
        #expect(fixture.server.requests.count("PATCH") == patches + 1)
        #expect(fixture.server.requests.paths("PATCH").last == "/api/v1/namespaces/shop/configmaps/settings")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]]?.string == "2")

        // Objects Baton does not own survive pruning, even with a pruned object's name elsewhere.
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": "other"])]))
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "extra", "namespace": "other"])]))
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "stray", "namespace": "shop"])]))
        let third = try fixture.commit(["app/more.yaml": deploymentYAML("web", image: "shop:1")])
        let pruned = await reconciler.sync(revision: third)
        #expect(pruned.errors == [])
        #expect(pruned.objects.filter { $0.action == .prune }.map(\.key.description) == ["ConfigMap shop/extra"])
        #expect((try? await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "extra", namespace: "shop")) == nil,
                "pruned object still there")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "extra", namespace: "other")[path: ["metadata", "name"]] == "extra")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "stray", namespace: "shop")[path: ["metadata", "name"]] == "stray")
    }

    @Test("a revision that renders nothing fails and prunes nothing; with sync.allowEmpty it syncs and prunes everything")
    func emptyRevision() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try fixture.commit(["app/namespace.yaml": namespaceYAML, "app/config.yaml": configMapYAML("settings", "1"),
                                        "keep/namespace.yaml": namespaceYAML])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        // The folder is still there; only comments are left in it.
        let empty = try fixture.commit(["app/notes.yaml": "# everything moved elsewhere\n"], remove: ["app/namespace.yaml", "app/config.yaml"])
        let writes = CorpusTests.writes(fixture.server), deletes = fixture.server.requests.count("DELETE")
        let refused = await reconciler.sync(revision: empty)
        #expect(!refused.synced && !refused.unavailable && refused.health != .healthy)
        #expect(refused.errors == ["\(empty.prefix(8)) renders no object from app: an empty revision would prune everything the environment has "
            + "(set sync.allowEmpty: true if that is intended)"], "\(refused.errors)")
        #expect(CorpusTests.writes(fixture.server) == writes && fixture.server.requests.count("DELETE") == deletes)
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]] == "1")

        var allowing = reconciler.environment
        allowing.sync.allowEmpty = true
        let permissive = Reconciler(environment: allowing, client: fixture.client, renderer: reconciler.renderer, inventory: fixture.audit)
        let emptied = await permissive.sync(revision: empty)
        #expect(emptied.errors == [] && emptied.synced, "\(emptied.errors)")
        // Everything this environment applied goes, its namespace included (applied from the revision).
        #expect(emptied.objects.filter { $0.action == .prune }.map(\.key.name).sorted() == ["settings", "shop"])
        #expect((try? await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")) == nil)
    }
}
