import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// The ordinary application of `examples/corpus` (Deployment with non-canonical quantities,
/// Services with and without selectors and target ports, a Secret with `stringData`, an
/// Ingress, an HPA, a PDB, a NetworkPolicy, a Job, a CRD with defaults and an object of it),
/// synced into KubeSim, which stores what kube-apiserver stores and runs the endpoint and
/// ReplicaSet controllers. `scripts/corpus-check.sh` runs the same corpus against a real one.
@Suite("Reconciler: an ordinary application, as a real server stores it")
struct CorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/corpus").path

    static func files() throws -> [String: String] {
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus) where name.hasSuffix(".yaml") {
            files["app/" + name] = try String(contentsOfFile: corpus + "/" + name, encoding: .utf8)
        }
        return files
    }

    /// Requests that can change something (dry runs are counted apart by KubeSim).
    static func writes(_ server: KubeSimServer) -> Int {
        ["POST", "PUT", "PATCH", "DELETE"].map { server.requests.count($0) }.reduce(0, +)
    }

    static let replicas = IgnoreDifference(group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"])

    @Test("synced once, it stays synced: no diff, no write in ten more syncs, endpoints untouched, removals reach the cluster")
    func corpusStaysSynced() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(try Self.files())
        let reconciler = fixture.reconciler(namespace: "corpus", createNamespace: true, ignore: [Self.replicas])
        let created = await reconciler.sync(revision: first)
        #expect(created.errors == [])
        #expect(created.synced && created.applied)

        // The server stored canonical quantities and folded stringData.
        let web = try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "corpus")
        let resources = web[path: ["spec", "template", "spec", "containers"]]?.array?.first?["resources"]
        #expect(resources?[path: ["requests", "cpu"]] == "1" && resources?[path: ["requests", "memory"]] == "1Gi")
        #expect(resources?[path: ["limits", "memory"]] == "1536Mi" && resources?[path: ["limits", "ephemeral-storage"]] == "500m")
        let secret = try await fixture.client.get(apiVersion: "v1", kind: "Secret", name: "web-credentials", namespace: "corpus")
        #expect(secret["stringData"] == nil)
        #expect(secret["data"]?.object.map { Set($0.keys) } == ["username", "password", "token"])
        let widget = try await fixture.client.get(apiVersion: "corpus.example.com/v1", kind: "Widget", name: "first", namespace: "corpus")
        #expect(widget[path: ["spec", "size"]] == 1 && widget[path: ["spec", "colour"]] == "blue")

        // The controllers made Endpoints, an EndpointSlice and a ReplicaSet that copy Baton's labels or annotations.
        let endpoints = try await eventually { try? await fixture.client.get(apiVersion: "v1", kind: "Endpoints", name: "web", namespace: "corpus") }
        #expect(endpoints[path: ["metadata", "labels", Normalizer.environmentLabel]] == "dev")
        let slices = try await fixture.client.list(apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", namespace: "corpus",
                                                   labelSelector: "kubernetes.io/service-name=web").items
        #expect(slices.count == 1)
        #expect(slices.first?[path: ["metadata", "labels", Normalizer.managedByLabel]] == "baton")
        let replicaSet = try await eventually {
            try? await fixture.client.list(apiVersion: "apps/v1", kind: "ReplicaSet", namespace: "corpus").items.first
        }
        #expect(replicaSet[path: ["metadata", "annotations", Normalizer.trackingAnnotation]]?.string
                == Normalizer.trackingID(environment: "dev", key: ResourceKey(group: "apps", kind: "Deployment", namespace: "corpus", name: "web")))

        // The HPA (minReplicas 2; KubeSim's autoscaler controller, as kube-controller-manager's
        // without metrics) scales the Deployment from the 1 Baton applied; the environment
        // ignores the replicas, so no sync resets them.
        let scaledUp = try await eventually {
            let replicas = try? await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "corpus")[path: ["spec", "replicas"]]
            return replicas == 2 ? replicas : nil
        }
        #expect(scaledUp == 2)
        // Then someone (kubectl, another field manager) sets 3, within the HPA's bounds.
        let scaled = try await fixture.kubectl(["-n", "corpus", "patch", "deployment", "web", "--type", "merge", "-p", #"{"spec":{"replicas":3}}"#])
        #expect(scaled.status == 0, "\(scaled.stderr)")

        let plan = try await reconciler.plan(revision: first)
        #expect(plan.changes.filter { $0.action != .unchanged }.map(\.key.description) == [], "\(plan.changes.map { $0.diff })")
        let uids = [endpoints[path: ["metadata", "uid"]], slices.first?[path: ["metadata", "uid"]], replicaSet[path: ["metadata", "uid"]]]
        let writes = Self.writes(fixture.server)
        for pass in 1...10 {
            let again = await reconciler.sync(revision: first)
            #expect(again.errors == [] && again.synced && !again.applied, "pass \(pass): \(again.errors)")
        }
        #expect(Self.writes(fixture.server) == writes, "a sync of an unchanged revision wrote to the cluster")
        let after = [try await fixture.client.get(apiVersion: "v1", kind: "Endpoints", name: "web", namespace: "corpus")[path: ["metadata", "uid"]],
                     try await fixture.client.get(apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", name: slices.first?[path: ["metadata", "name"]]?.string ?? "",
                                                  namespace: "corpus")[path: ["metadata", "uid"]],
                     try await fixture.client.get(apiVersion: "apps/v1", kind: "ReplicaSet", name: replicaSet[path: ["metadata", "name"]]?.string ?? "",
                                                  namespace: "corpus")[path: ["metadata", "uid"]]]
        #expect(after == uids, "Endpoints, EndpointSlice or ReplicaSet were deleted and recreated")
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "corpus")[path: ["spec", "replicas"]] == 3)

        // A key removed from stringData, a field removed from git and a removed file all leave the cluster.
        var files = try Self.files()
        files["app/secret.yaml"] = files["app/secret.yaml"]!.replacingOccurrences(of: "  password: not-a-real-password\n", with: "")
        files["app/configmap.yaml"] = files["app/configmap.yaml"]!.replacingOccurrences(of: "  colour: blue\n", with: "")
        files["app/deployment.yaml"] = files["app/deployment.yaml"]!.replacingOccurrences(of: "  annotations: {team: storefront}\n", with: "")
        let second = try await fixture.commit(files.filter { $0.key != "app/ingress.yaml" }, remove: ["app/ingress.yaml"])
        let removed = await reconciler.sync(revision: second)
        #expect(removed.errors == [])
        #expect(removed.objects.filter { $0.action == .prune }.map(\.key.description) == ["Ingress.networking.k8s.io corpus/web"])
        #expect(Set(removed.objects.filter { $0.action == .update }.map(\.key.name)) == ["web-credentials", "web-settings", "web"])
        let secretAfter = try await fixture.client.get(apiVersion: "v1", kind: "Secret", name: "web-credentials", namespace: "corpus")
        #expect(secretAfter["data"]?.object.map { Set($0.keys) } == ["username", "token"])
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "web-settings", namespace: "corpus")[path: ["data", "colour"]] == nil)
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "corpus")[path: ["metadata", "annotations", "team"]] == nil)
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "Endpoints", name: "web", namespace: "corpus")[path: ["metadata", "uid"]] == uids[0])
        // The namespace Baton created is not its to prune, and nothing is left to do.
        #expect(try await reconciler.plan(revision: second).needsSync == false)
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "Namespace", name: "corpus")[path: ["metadata", "name"]] == "corpus")
    }

    @Test("only what Baton applied is pruned: copies of its labels, unowned lookalikes, re-made copies and controller-owned objects stay")
    func pruneOnlyWhatBatonApplied() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/a.yaml": configMapYAML("a", "1"), "app/b.yaml": configMapYAML("b", "1"),
                                        "app/c.yaml": configMapYAML("c", "1"), "app/d.yaml": configMapYAML("d", "1")])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        // d is Baton's (tracking annotation, uid) but a controller has since taken it over.
        let owner = try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "owner", "namespace": "shop"])]),
                                                   fieldManager: "someone-else")
        let ownerReference = #"{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"\#(owner[path: ["metadata", "uid"]]?.string ?? "")","controller":true}]}}"#
        let patched = try await fixture.kubectl(["-n", "shop", "patch", "configmap", "d", "--type", "merge", "-p", ownerReference])
        #expect(patched.status == 0, "\(patched.stderr)")
        // c is deleted and made again by someone else from a copy of Baton's: its tracking
        // annotation names it, but it is not the object (uid) Baton applied.
        var copy = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "c", namespace: "shop")
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields"] { copy[path: ["metadata", field]] = nil }
        try await fixture.client.delete(apiVersion: "v1", kind: "ConfigMap", name: "c", namespace: "shop")
        try await fixture.client.apply(copy, fieldManager: "someone-else")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "c", namespace: "shop")[
            path: ["metadata", "annotations", Normalizer.trackingAnnotation]] != nil)
        // Someone else's object wearing Baton's labels for this environment (as Endpoints would).
        let lookalike: JSONValue = .object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object([
            "name": "lookalike", "namespace": "shop",
            "labels": .object([Normalizer.managedByLabel: "baton", Normalizer.environmentLabel: "dev"]),
        ])])
        try await fixture.client.apply(lookalike, fieldManager: "someone-else")
        // b is deleted and made again by someone else under the same name: not the object Baton applied.
        try await fixture.client.delete(apiVersion: "v1", kind: "ConfigMap", name: "b", namespace: "shop")
        try await fixture.client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "b", "namespace": "shop"])]),
                                       fieldManager: "someone-else")
        let second = try await fixture.commit([:], remove: ["app/a.yaml", "app/b.yaml", "app/c.yaml", "app/d.yaml"])
        let report = await reconciler.sync(revision: second)
        #expect(report.errors == [])
        #expect(report.objects.filter { $0.action == .prune }.map(\.key.name) == ["a"])
        #expect((try? await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "a", namespace: "shop")) == nil)
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "lookalike", namespace: "shop")[path: ["metadata", "name"]] == "lookalike")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "b", namespace: "shop")[path: ["metadata", "name"]] == "b")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "c", namespace: "shop")[path: ["metadata", "name"]] == "c")
        let controlled = try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "d", namespace: "shop")
        #expect(controlled[path: ["metadata", "ownerReferences"]]?.array?.first?["name"] == "owner", "the controller-owned object was pruned")
        // The inventory now holds only what the revision has.
        #expect(try await fixture.audit.inventory(environment: "dev")?.entries.map(\.key.name) == ["shop"])
    }

    @Test("refused in the dry run, nothing is applied: an immutable field (explained), an unknown field of a custom resource")
    func refusedBeforeApplying() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1"),
                                        "app/cm.yaml": configMapYAML("settings", "1")])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        let writes = CorpusTests.writes(fixture.server)
        let changed = deploymentYAML("web", image: "shop:1").replacingOccurrences(of: "matchLabels: {app: web}", with: "matchLabels: {app: web, v: \"2\"}")
            .replacingOccurrences(of: "labels: {app: web}", with: "labels: {app: web, v: \"2\"}")
        let second = try await fixture.commit(["app/web.yaml": changed, "app/cm.yaml": configMapYAML("settings", "2")])
        let refused = await reconciler.sync(revision: second)
        #expect(!refused.synced && !refused.applied)
        #expect(!refused.unavailable, "a definite refusal was taken for a blip")
        #expect(refused.errors.count == 1)
        #expect(refused.errors.first?.contains("Deployment.apps shop/web (app/web.yaml:1)") == true, "\(refused.errors)")
        #expect(refused.errors.first?.contains("spec.selector") == true && refused.errors.first?.contains("Replace=true") == true, "\(refused.errors)")
        #expect(CorpusTests.writes(fixture.server) == writes, "a refused revision wrote to the cluster")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]] == "1")

        // With Replace=true the object is deleted and created again.
        let replaceable = changed.replacingOccurrences(of: "  name: web\n", with: "  name: web\n  annotations: {baton.dev/sync-options: Replace=true}\n")
        let uid = try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["metadata", "uid"]]
        let third = try await fixture.commit(["app/web.yaml": replaceable])
        let replaced = await reconciler.sync(revision: third)
        #expect(replaced.errors == [] && replaced.applied)
        let web = try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")
        #expect(web[path: ["metadata", "uid"]] != uid && web[path: ["spec", "selector", "matchLabels", "v"]] == "2")

        // A field the custom resource's schema does not declare is an error naming it (fieldValidation=Strict).
        let crd = try String(contentsOfFile: CorpusTests.corpus + "/crd.yaml", encoding: .utf8)
        let fourth = try await fixture.commit(["app/crd.yaml": crd.replacingOccurrences(of: "  note: defaults fill size and colour", with: "  shape: round")])
        let unknown = await reconciler.sync(revision: fourth)
        #expect(unknown.errors.contains { $0.contains("Widget.corpus.example.com shop/first") && $0.contains(".spec.shape: field not declared in schema") },
                "\(unknown.errors)")
        // Its CRD came with the revision, so it was dry-run after the CRD step: refused there, never applied.
        #expect((try? await fixture.client.get(apiVersion: "corpus.example.com/v1", kind: "Widget", name: "first", namespace: "shop")) == nil)

        // A new object the server refuses fails the revision in the plan, before any write.
        let before = CorpusTests.writes(fixture.server)
        let invalid = try await fixture.commit(["app/crd.yaml": crd, "app/bad.yaml": configMapYAML("Bad_Name", "1"), "app/cm.yaml": configMapYAML("settings", "3")])
        let bad = await reconciler.sync(revision: invalid)
        #expect(bad.errors.count == 1 && bad.errors.first?.contains("ConfigMap shop/Bad_Name (app/bad.yaml:1)") == true, "\(bad.errors)")
        #expect(bad.errors.first?.contains("422") == true, "\(bad.errors)")
        #expect(CorpusTests.writes(fixture.server) == before, "a revision with an invalid object wrote to the cluster")
    }
}

extension CorpusTests {
    @Test("KubeSim stores the corpus as kube-apiserver 1.36 did: scripts/corpus-check.sh's normalized output equals the one recorded on ../shared/realkube")
    func storedAsTheRealServerDid() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let root = URL(fileURLWithPath: CorpusTests.corpus).deletingLastPathComponent().deletingLastPathComponent().path
        let recorded = try String(contentsOfFile: CorpusTests.corpus + "/stored-by-kube-apiserver-1.36.txt", encoding: .utf8)
        try FileManager.default.createDirectory(atPath: fixture.dir.path + "/home", withIntermediateDirectories: true)
        let run = try await CommandRun.run("/bin/bash", [root + "/scripts/corpus-check.sh", fixture.dir.path + "/kubeconfig", "baton-dev", "baton-corpus"],
                                                environment: ["CORPUS_NORMALIZE": "1", "HOME": fixture.dir.path + "/home", "TMPDIR": fixture.dir.path,
                                                              "BATON_BIN": (CommandRun.batonPath as NSString).deletingLastPathComponent])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(recorded.contains("--- Deployment web") && recorded.contains("--- EndpointSlice web-GENERATED"), "the recording is incomplete")
        if run.stdout != recorded {
            try fixture.dir.write("kubesim.txt", run.stdout)
            let diff = try await CommandRun.run("/usr/bin/diff", ["-u", CorpusTests.corpus + "/stored-by-kube-apiserver-1.36.txt", fixture.dir.path + "/kubesim.txt"])
            Issue.record("KubeSim stored the corpus differently from kube-apiserver 1.36:\n\(diff.stdout)")
        }
    }

    /// Objects whose change kube-apiserver refuses in place, the change, and the field its 422
    /// names (the words checked on ../shared/realkube, Kubernetes 1.36).
    static let immutableCases: [(name: String, kind: String, apiVersion: String, before: String, after: String, field: String)] = [
        ("job", "Job", "batch/v1", """
            apiVersion: batch/v1
            kind: Job
            metadata: {name: migrate}
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: m, image: "migrate:1"}]
            """, "migrate:1|migrate:2", "spec.template: Invalid value"),
        ("service", "Service", "v1", """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec:
              clusterIP: 10.96.200.10
              selector: {app: web}
              ports: [{port: 80}]
            """, "10.96.200.10|10.96.200.11", "spec.clusterIPs[0]: Invalid value: [\"10.96.200.11\"]: may not change once set"),
        ("statefulset", "StatefulSet", "apps/v1", """
            apiVersion: apps/v1
            kind: StatefulSet
            metadata: {name: db}
            spec:
              serviceName: db
              selector: {matchLabels: {app: db}}
              template:
                metadata: {labels: {app: db}}
                spec: {containers: [{name: db, image: "db:1"}]}
              volumeClaimTemplates:
              - metadata: {name: data}
                spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
            """, "storage: 1Gi|storage: 2Gi", "spec: Forbidden: updates to statefulset spec for fields other than"),
    ]

    @Test("an immutable field of a Job (template), a Service (clusterIP) or a StatefulSet (volumeClaimTemplates): a definite failure, explained, nothing written; Replace=true recreates it",
          arguments: 0..<3)
    func immutableFields(_ index: Int) async throws {
        let item = Self.immutableCases[index]
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let path = "app/\(item.name).yaml"
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, path: item.before])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        let parts = item.after.split(separator: "|").map(String.init)
        let changed = item.before.replacingOccurrences(of: parts[0], with: parts[1])
        let writes = CorpusTests.writes(fixture.server)
        let refused = await reconciler.sync(revision: try fixture.commit([path: changed]))
        #expect(!refused.applied && !refused.unavailable, "\(refused.errors)")
        #expect(refused.errors.count == 1)
        let error = refused.errors.first ?? ""
        #expect(error.contains("\(item.kind)") && error.contains("(\(path):1)"), "\(error)")
        #expect(error.contains(item.field), "\(error)")
        #expect(error.contains("cannot change this field in place") && error.contains("Replace=true"), "\(error)")
        #expect(CorpusTests.writes(fixture.server) == writes, "a refused revision wrote to the cluster")

        let name = item.before.split(separator: "\n").first { $0.hasPrefix("metadata:") }.map { String($0) } ?? ""
        let replaceable = changed.replacingOccurrences(of: name, with: name.replacingOccurrences(of: "}", with: ", annotations: {baton.dev/sync-options: Replace=true}}"))
        let uid = try await fixture.client.list(apiVersion: item.apiVersion, kind: item.kind, namespace: "shop").items.first?[path: ["metadata", "uid"]]
        let replaced = await reconciler.sync(revision: try fixture.commit([path: replaceable]))
        #expect(replaced.errors == [] && replaced.applied, "\(replaced.errors)")
        let live = try await fixture.client.list(apiVersion: item.apiVersion, kind: item.kind, namespace: "shop").items
        #expect(live.count == 1 && live.first?[path: ["metadata", "uid"]] != uid, "not recreated")
    }
}

@Suite("Reconciler: a cluster that does not answer")
struct UnavailableTests {
    @Test("refused connections make a pass unavailable (Unknown, no verdict), not a failure; the next pass after the return syncs")
    func refusedConnections() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        #expect(await fixture.reconciler().sync(revision: revision).errors == [])
        let second = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "2")])
        let environment = fixture.reconciler().environment
        let quick = try KubeClient(try Kubeconfig.load(paths: [fixture.dir.path + "/kubeconfig"]).resolve(),
                                   retry: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(50), maxElapsed: .seconds(1)))
        let reconciler = Reconciler(environment: environment, client: quick, renderer: Renderer(store: fixture.store, cacheRoot: fixture.dir.path + "/cache2"),
                                    inventory: fixture.audit)
        await fixture.server.refuseConnections(for: .seconds(120))  // ended below
        let blip = await reconciler.sync(revision: second)
        #expect(blip.unavailable && !blip.errors.isEmpty, "\(blip.errors)")
        #expect(blip.health == .unknown && !blip.synced && !blip.applied)
        // It listens again: the next pass syncs what the blip could not.
        await fixture.server.acceptConnections()
        var back = await reconciler.sync(revision: second)
        for _ in 0..<120 where back.unavailable {
            try await Task.sleep(for: .milliseconds(250))
            back = await reconciler.sync(revision: second)
        }
        #expect(back.errors == [] && back.synced && back.applied, "\(back.errors)")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "shop")[path: ["data", "value"]] == "2")
    }
}

/// Polls `read` (every 100 ms, up to 10 s) until it gives a value.
func eventually<T>(_ read: () async throws -> T?) async throws -> T {
    for _ in 0..<100 {
        if let value = try await read() { return value }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw CancellationError()
}
