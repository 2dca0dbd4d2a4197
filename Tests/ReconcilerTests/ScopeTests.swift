import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Manifests
import Reconciler
import Testing

/// An environment deploys only inside its scope (Argo CD's AppProject destinations and cluster
/// resource allow list): its namespaces and the cluster-scoped kinds it lists.
@Suite("Reconciler: the environment's scope")
struct ScopeTests {
    static let binding = """
        apiVersion: rbac.authorization.k8s.io/v1
        kind: ClusterRoleBinding
        metadata: {name: take-over}
        roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
        subjects: [{kind: Group, name: system:authenticated, apiGroup: rbac.authorization.k8s.io}]
        """

    @Test("an object outside the namespaces or cluster kinds of the scope fails the revision before any write, naming file, line and rule")
    func outsideFails() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let elsewhere = configMapYAML("settings", "1").replacingOccurrences(of: "name: settings", with: "name: settings\n  namespace: kube-system")
        let cases: [(files: [String: String], error: String)] = [
            (["app/ns.yaml": namespaceYAML, "app/cm.yaml": elsewhere],
             #"ConfigMap kube-system/settings (app/cm.yaml:1): outside the environment's scope: namespace "kube-system" is not in scope.namespaces ["shop"]; nothing was applied"#),
            (["app/ns.yaml": namespaceYAML, "app/crb.yaml": Self.binding],
             #"ClusterRoleBinding.rbac.authorization.k8s.io take-over (app/crb.yaml:1): outside the environment's scope: cluster-scoped kind rbac.authorization.k8s.io/ClusterRoleBinding is not in scope.clusterResources ["Namespace"]; nothing was applied"#),
            (["app/ns.yaml": namespaceYAML.replacingOccurrences(of: "name: shop", with: "name: payments")],
             #"Namespace payments (app/ns.yaml:1): outside the environment's scope: Namespace "payments" is not in scope.namespaces ["shop"]; nothing was applied"#),
        ]
        for (files, error) in cases {
            let revision = try await fixture.commit(files, remove: (try? FileManager.default.contentsOfDirectory(atPath: fixture.git.directory + "/app"))?
                .map { "app/" + $0 }.filter { files[$0] == nil } ?? [])
            let writes = CorpusTests.writes(fixture.server)
            let report = await fixture.reconciler(scope: DeployScope()).sync(revision: revision)
            #expect(report.errors == [error])
            #expect(!report.applied && CorpusTests.writes(fixture.server) == writes)
        }
    }

    @Test("patterns widen the scope; an inventory entry outside a narrowed scope is never pruned")
    func patternsAndNarrowing() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        for name in ["shop", "team-a"] {
            _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(name)])])
        }
        let teamA = configMapYAML("team-settings", "1").replacingOccurrences(of: "name: team-settings", with: "name: team-settings\n  namespace: team-a")
        let first = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "1"), "app/team.yaml": teamA])
        let wide = await fixture.reconciler(scope: DeployScope(namespaces: ["shop", "team-*"])).sync(revision: first)
        #expect(wide.errors == [] && wide.applied)
        // The scope shrinks back to shop, and the revision drops the team's object: it stays.
        let second = try await fixture.commit([:], remove: ["app/team.yaml"])
        let narrow = await fixture.reconciler(scope: DeployScope()).sync(revision: second)
        #expect(narrow.errors == [] && narrow.synced)
        #expect(!narrow.objects.contains { $0.action == .prune })
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "team-settings", namespace: "team-a")["data"] != nil)
    }

    @Test("scope patterns", arguments: [("team-a", "team-*", true), ("team-a", "*", true), ("shop", "team-*", false), ("a-b-c", "a-*-c", true),
                                        ("a-c", "a-*-c", false), ("shop", "shop", true), ("shops", "shop", false)])
    func patterns(namespace: String, pattern: String, allowed: Bool) {
        #expect(DeployScope(namespaces: [pattern]).allows(namespace: namespace, own: "x") == allowed)
    }

    @Test("cluster kinds: KIND for the core group, GROUP/KIND, * for either")
    func clusterKinds() {
        let scope = DeployScope(clusterResources: ["Namespace", "apiextensions.k8s.io/*", "*/ClusterRole"])
        #expect(scope.allows(clusterKind: "Namespace", group: ""))
        #expect(!scope.allows(clusterKind: "Namespace", group: "example.com"))
        #expect(scope.allows(clusterKind: "CustomResourceDefinition", group: "apiextensions.k8s.io"))
        #expect(scope.allows(clusterKind: "ClusterRole", group: "rbac.authorization.k8s.io"))
        #expect(!scope.allows(clusterKind: "ClusterRoleBinding", group: "rbac.authorization.k8s.io"))
        #expect(!DeployScope().allows(clusterKind: "PersistentVolume", group: ""))
    }

    @Test("two installs with an environment of the same name: each tracks its objects under its own instance, and neither takes the other's")
    func twoInstalls() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]])
        func install(_ instance: String) -> Reconciler {
            let plain = fixture.reconciler()
            var environment = plain.environment
            environment.instance = instance
            return Reconciler(environment: environment, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit)
        }
        let eu = install("eu"), us = install("us")
        let first = try await fixture.commit(["app/cm.yaml": configMapYAML("eu-settings", "1")])
        #expect(await eu.sync(revision: first).errors == [])
        let live = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "eu-settings", namespace: "shop")
        #expect(live[path: ["metadata", "annotations", Normalizer.trackingAnnotation]] == "eu/dev:/ConfigMap:shop/eu-settings")
        #expect(live[path: ["metadata", "labels", Normalizer.instanceLabel]] == "eu")

        // The other install's revision has the same object: it is not taken over, and nothing is written.
        let writes = CorpusTests.writes(fixture.server)
        let taken = await us.sync(revision: first)
        #expect(taken.errors.count == 1 && taken.errors[0].contains("exists and is not this environment's (tracked as eu/dev:/ConfigMap:shop/eu-settings)"),
                "\(taken.errors)")
        #expect(CorpusTests.writes(fixture.server) == writes)
        // Objects of its own sit beside the other install's, each install seeing only its own.
        let second = try await fixture.commit(["app/cm.yaml": configMapYAML("us-settings", "1")])
        #expect(await us.sync(revision: second).errors == [])
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "eu-settings", namespace: "shop")["data"] != nil)
        let selected = try await fixture.client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "shop",
                                                     labelSelector: Normalizer.cacheSelector(instance: "us")).items
        #expect(selected.compactMap { $0[path: ["metadata", "name"]]?.string } == ["us-settings"])
    }
}
