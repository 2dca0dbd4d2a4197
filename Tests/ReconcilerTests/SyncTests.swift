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
        let first = try await fixture.commit(["app/namespace.yaml": namespaceYAML, "app/config.yaml": configMapYAML("settings", "1"),
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

        let second = try await fixture.commit(["app/config.yaml": configMapYAML("settings", "2")])
        let updated = await reconciler.sync(revision: second)
        #expect(updated.objects.filter { $0.action != .unchanged }.map(\.key.name) == ["settings"])
        #expect(fixture.server.requests.count("PATCH") == patches + 1)
        #expect(fixture.server.requests.paths("PATCH").last == "/api/v1/namespaces/shop/configmaps/settings")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]]?.string == "2")

        // Objects Baton does not own survive pruning, even with a pruned object's name elsewhere.
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": "other"])]))
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "extra", "namespace": "other"])]))
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "stray", "namespace": "shop"])]))
        let third = try await fixture.commit(["app/more.yaml": deploymentYAML("web", image: "shop:1")])
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
        let first = try await fixture.commit(["app/namespace.yaml": namespaceYAML, "app/config.yaml": configMapYAML("settings", "1"),
                                        "keep/namespace.yaml": namespaceYAML])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        // The folder is still there; only comments are left in it.
        let empty = try await fixture.commit(["app/notes.yaml": "# everything moved elsewhere\n"], remove: ["app/namespace.yaml", "app/config.yaml"])
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

    @Test("an existing object Baton did not create is not taken over: the revision fails naming it, unless its owner annotates it or the environment sets sync.adopt")
    func adoption() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/namespace.yaml": namespaceYAML, "app/config.yaml": configMapYAML("settings", "1")])
        _ = try await fixture.kubectl(["create", "namespace", "shop"])
        // Someone else's ConfigMap under the name the revision uses.
        let made = try await fixture.kubectl(["-n", "shop", "create", "configmap", "settings", "--from-literal=value=theirs"])
        #expect(made.status == 0, "\(made.stderr)")
        let writes = CorpusTests.writes(fixture.server)
        let refused = await fixture.reconciler().sync(revision: revision)
        #expect(!refused.applied && !refused.unavailable)
        #expect(refused.errors.contains { $0.contains("ConfigMap shop/settings (app/config.yaml:1): exists and is not this environment's (no tracking annotation)") },
                "\(refused.errors)")
        #expect(CorpusTests.writes(fixture.server) == writes, "a refused revision wrote to the cluster")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]] == "theirs")

        // The commit cannot grant itself the object: the annotation counts on the live object only.
        let claiming = try await fixture.commit(["app/config.yaml": configMapYAML("settings", "1")
            .replacingOccurrences(of: "metadata:\n  name: settings\n", with: "metadata:\n  name: settings\n  annotations: {\(Normalizer.adoptAnnotation): \"true\"}\n")])
        #expect(try await fixture.git.run(["show", "HEAD:app/config.yaml"]).contains(Normalizer.adoptAnnotation))
        let claimed = await fixture.reconciler().sync(revision: claiming)
        #expect(claimed.errors.contains { $0.contains("ConfigMap shop/settings (app/config.yaml:1): exists and is not this environment's") }, "\(claimed.errors)")
        #expect(CorpusTests.writes(fixture.server) == writes, "a manifest's own adopt annotation took the object")

        // Its owner lets Baton have it (the namespace too, which kubectl made).
        for kind in ["namespace shop", "configmap settings"] {
            let parts = kind.split(separator: " ").map(String.init)
            _ = try await fixture.kubectl(["-n", "shop", "annotate", parts[0], parts[1], "\(Normalizer.adoptAnnotation)=true"])
        }
        let adopted = await fixture.reconciler().sync(revision: revision)
        #expect(adopted.errors == [] && adopted.applied, "\(adopted.errors)")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]] == "1")

        // Now dev's (and no longer offered: the owner takes the annotation back); another
        // environment may not take it, unless it adopts on purpose.
        for kind in ["namespace shop", "configmap settings"] {
            let parts = kind.split(separator: " ").map(String.init)
            _ = try await fixture.kubectl(["-n", "shop", "annotate", parts[0], parts[1], "\(Normalizer.adoptAnnotation)-"])
        }
        let other = await fixture.reconciler(name: "qa").sync(revision: revision)
        #expect(other.errors.contains { $0.contains("exists and is not this environment's (tracked as dev:") }, "\(other.errors)")
        var adopting = fixture.reconciler(name: "qa").environment
        adopting.sync.adopt = true
        let plain = fixture.reconciler()
        let taken = await Reconciler(environment: adopting, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit).sync(revision: revision)
        #expect(taken.errors == [], "\(taken.errors)")
    }
}
