import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

@Suite("Reconciler: drift, broken revisions, CRDs, health, Kustomize, waves")
struct MoreSyncTests {
    @Test("a field changed with kubectl is drift: healed with self-heal, reported without; ignoreDifferences hides it")
    func drift() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1")])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: revision).errors == [])
        let scaled = try await fixture.kubectl(["-n", "shop", "patch", "deployment", "web", "--type", "merge", "-p", #"{"spec":{"replicas":5}}"#])
        #expect(scaled.status == 0, "\(scaled.stderr)")

        let reported = await reconciler.sync(revision: revision, healDrift: false)
        #expect(reported.driftFound && !reported.synced && !reported.applied)
        #expect(reported.objects.first { $0.key.name == "web" }?.drifted == true)
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["spec", "replicas"]] == 5)

        let ignoring = fixture.reconciler(ignore: [IgnoreDifference(group: "apps", kind: "Deployment", jsonPointers: ["/spec/replicas"])])
        let ignored = await ignoring.sync(revision: revision, healDrift: false)
        #expect(!ignored.driftFound && ignored.synced)

        let healed = await reconciler.sync(revision: revision)
        #expect(healed.driftFound && healed.synced && healed.applied)
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["spec", "replicas"]] == 2)
        #expect(await reconciler.sync(revision: revision).driftFound == false)
    }

    @Test("broken YAML at a revision applies nothing and names the file and line", arguments: [
        ("app/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  key: [unclosed\n", "app/b.yaml:7 at "),
        ("app/b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "app/b.yaml:1 at "),
        ("app/b.yaml", "kind: ConfigMap\nmetadata: {name: b}\n", "app/b.yaml:1 at "),
    ])
    func broken(_ file: String, _ text: String, _ location: String) async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/a.yaml": namespaceYAML + "\n---\n" + configMapYAML("a", "1"), file: text])
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(!report.synced && !report.applied && report.health == .unknown)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.hasPrefix("render failed: " + location) == true, "\(report.errors)")
        #expect(fixture.server.requests.count("PATCH") == 0)
        let duplicate = try await fixture.commit(["app/b.yaml": configMapYAML("a", "2")])
        let twice = await fixture.reconciler().sync(revision: duplicate)
        #expect(twice.errors.first?.contains("ConfigMap shop/a is also defined at app/a.yaml:") == true, "\(twice.errors)")
        #expect(fixture.server.requests.count("PATCH") == 0)
    }

    @Test("a CRD and a resource of it sync in one pass")
    func customResource() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let crd = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
              versions:
              - name: v1
                served: true
                storage: true
                schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
            """
        let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
        let revision = try await fixture.commit(["app/crd.yaml": crd, "app/ns.yaml": namespaceYAML, "app/widget.yaml": widget])
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(report.errors == [] && report.synced)
        #expect(try await fixture.client.get(apiVersion: "example.com/v1", kind: "Widget", name: "w1", namespace: "shop")[path: ["spec", "size"]] == 3)
        #expect(await fixture.reconciler().sync(revision: revision).objects.allSatisfy { $0.action == .unchanged })
    }

    @Test("a revision that adds a field to a CRD and uses it in a resource of it syncs: the resource is dry-run under the new schema, after the CRD step")
    func crdSchemaChangeWithItsResource() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        func crd(_ fields: String) -> String {
            """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      spec: {type: object, properties: {\(fields)}}
            """
        }
        let first = try await fixture.commit(["app/crd.yaml": crd("size: {type: integer}"), "app/ns.yaml": namespaceYAML,
                                              "app/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: first).errors == [])
        // The old schema refuses the new field (the server's strict field validation).
        let early = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, colour: red}\n"
        let refused = try await fixture.commit(["app/widget.yaml": early])
        #expect(await reconciler.sync(revision: refused).errors.contains { $0.contains("colour") })
        let second = try await fixture.commit(["app/crd.yaml": crd("size: {type: integer}, colour: {type: string}"), "app/widget.yaml": early])
        let report = await reconciler.sync(revision: second)
        #expect(report.errors == [] && report.synced, "\(report.errors)")
        #expect(try await fixture.client.get(apiVersion: "example.com/v1", kind: "Widget", name: "w1", namespace: "shop")[path: ["spec", "colour"]] == "red")
        let again = await reconciler.sync(revision: second)
        #expect(again.errors == [] && again.synced && !again.applied, "\(again.objects.filter { $0.action != .unchanged }.map(\.key))")
    }

    @Test("a field a built-in kind does not declare fails the revision, naming the object, its file and the field; nothing is applied")
    func unknownFieldOfBuiltInKind() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let typo = deploymentYAML("web", image: "shop:1").replacingOccurrences(of: "    image: shop:1", with: "    image: shop:1\n        imagePullPolice: Always")
        #expect(typo.contains("imagePullPolice"))
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]])
        let revision = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "1"), "app/web.yaml": typo])
        let writes = CorpusTests.writes(fixture.server)
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(report.errors.contains { $0.contains("Deployment.apps shop/web (app/web.yaml:1)")
            && $0.contains(#".spec.template.spec.containers[name="main"].imagePullPolice: field not declared in schema"#) }, "\(report.errors)")
        #expect(!report.applied && CorpusTests.writes(fixture.server) == writes)
        // kube-apiserver answers it with a 500; it is a definite answer, not a blip: asked once,
        // and the revision fails rather than waiting for the cluster.
        #expect(!report.unavailable)
        #expect(fixture.server.requests.count("DRYRUN-PATCH", "/apis/apps/v1/namespaces/shop/deployments/web") == 1)
    }

    @Test("a custom resource whose CRD is not in the revision: its verdict is kept under the CRD's resourceVersion")
    func customResourceVerdictFollowsItsCRD() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        // The CRD is the cluster's (installed by someone else), not the revision's.
        func crd(description: String) -> JSONValue {
            ["apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "widgets.example.com"],
             "spec": ["group": "example.com", "scope": "Namespaced",
                      "names": ["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"],
                      "versions": [["name": "v1", "served": true, "storage": true,
                                    "schema": ["openAPIV3Schema": ["type": "object", "description": .string(description),
                                                                   "x-kubernetes-preserve-unknown-fields": true]]]]]]
        }
        _ = try await fixture.client.apply(crd(description: "first"), fieldManager: "platform-team", force: true)
        let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/widget.yaml": widget])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: revision).errors == [])
        let crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
        let dryRuns = fixture.server.requests.count("DRYRUN-PATCH"), crdReads = fixture.server.requests.count("GET", crdPath)
        let again = await reconciler.sync(revision: revision)
        #expect(again.errors == [] && again.synced && !again.applied)
        #expect(fixture.server.requests.count("DRYRUN-PATCH") == dryRuns, "an unchanged CRD and widget were dry-run again")
        #expect(fixture.server.requests.count("GET", crdPath) == crdReads + 1, "the pass did not read the CRD's version")

        // The CRD changes: the verdict kept under its old version is not trusted.
        _ = try await fixture.client.apply(crd(description: "second"), fieldManager: "platform-team", force: true)
        let afterChange = await reconciler.sync(revision: revision)
        #expect(afterChange.errors == [] && afterChange.synced)
        #expect(fixture.server.requests.count("DRYRUN-PATCH") == dryRuns + 1, "the widget was not dry-run again under the new CRD")
    }

    @Test("a Deployment with a -broken image ends Degraded after its deadline; a good one Healthy")
    func health() async throws {
        let fixture = try await Fixture.start(rolloutDelay: .milliseconds(200))
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/good.yaml": deploymentYAML("good", image: "shop:1"),
                                           "app/bad.yaml": deploymentYAML("bad", image: "shop:1-broken", deadline: 1)])
        let reconciler = fixture.reconciler()
        let first = await reconciler.sync(revision: revision)
        #expect(first.errors == [])
        var report = first
        for _ in 0..<60 {
            report = await reconciler.sync(revision: revision, dryRun: true)
            if report.objects.first(where: { $0.key.name == "bad" })?.health == .degraded,
               report.objects.first(where: { $0.key.name == "good" })?.health == .healthy { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(report.objects.first { $0.key.name == "good" }?.health == .healthy)
        let bad = report.objects.first { $0.key.name == "bad" }
        #expect(bad?.health == .degraded && bad?.healthMessage.contains("progress deadline") == true, "\(String(describing: bad))")
        #expect(report.health == .degraded)
    }

    @Test("Kustomize overlays render per environment and sync")
    func kustomize() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit([
            "base/kustomization.yaml": "resources: [ns.yaml, web.yaml]\n",
            "base/ns.yaml": namespaceYAML,
            "base/web.yaml": deploymentYAML("web", image: "shop:1"),
            "overlays/dev/kustomization.yaml": "resources: [../../base]\nimages:\n- {name: shop, newTag: dev-7}\nnamePrefix: dev-\n",
        ])
        let report = await fixture.reconciler(path: "overlays/dev", render: .kustomize).sync(revision: revision)
        #expect(report.errors == [])
        let web = try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "dev-web", namespace: "shop")
        #expect(web[path: ["spec", "template", "spec", "containers"]]?.array?.first?["image"]?.string == "shop:dev-7")
        // namePrefix leaves Namespaces alone.
        #expect(report.objects.map(\.key.description) == ["Namespace shop", "Deployment.apps shop/dev-web"])
        let broken = try await fixture.commit(["overlays/dev/kustomization.yaml": "resources: [../../missing]\n"])
        let failed = await fixture.reconciler(path: "overlays/dev", render: .kustomize).sync(revision: broken)
        #expect(failed.errors.first?.hasPrefix("render failed: overlays/dev at ") == true && failed.errors.first?.contains("kustomize failed") == true,
                "\(failed.errors)")
    }

    @Test("a Kustomize remote base (a URL, a git repository, a path out of the tree) fails the revision unless source.allowRemoteBases")
    func remoteBases() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let closed = try FreePort.next()
        for remote in ["github.com/example/shop//base?ref=v1", "https://127.0.0.1:\(closed)/base.yaml", "git@github.com:example/shop.git",
                       "../../../../outside"] {
            let revision = try await fixture.commit([
                "base/kustomization.yaml": "resources: [ns.yaml]\n", "base/ns.yaml": namespaceYAML,
                "overlays/dev/kustomization.yaml": "resources:\n- ../../base\n- \(remote)\n",
            ])
            let report = await fixture.reconciler(path: "overlays/dev", render: .kustomize).sync(revision: revision)
            #expect(report.errors == ["render failed: overlays/dev/kustomization.yaml at \(revision.prefix(8)): resources entry \"\(remote)\" is not a file "
                + "or folder of the revision: remote bases are refused, so that the commit approved is what is deployed "
                + "(set source.allowRemoteBases: true to let Kustomize fetch it)"], "\(report.errors)")
            #expect(!report.applied)
        }
        // Allowed, Kustomize is let try (here a closed port on this machine: it fails its own way).
        let revision = try await fixture.commit(["overlays/dev/kustomization.yaml": "resources:\n- ../../base\n- https://127.0.0.1:\(closed)/base.yaml\n"])
        var allowing = fixture.reconciler(path: "overlays/dev", render: .kustomize).environment
        allowing.source.allowRemoteBases = true
        let plain = fixture.reconciler()
        let report = await Reconciler(environment: allowing, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit)
            .sync(revision: revision)
        #expect(report.errors.first?.contains("kustomize failed") == true, "\(report.errors)")
    }

    @Test("sync waves and kinds order the applies: namespaces, then wave -1, then wave 0 by kind")
    func waves() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit([
            "app/ns.yaml": namespaceYAML,
            "app/late.yaml": configMapYAML("late", "1", wave: 1),
            "app/early.yaml": deploymentYAML("early", image: "shop:1").replacingOccurrences(of: "metadata:\n  name: early",
                                                                                               with: "metadata:\n  name: early\n  annotations: {baton.dev/sync-wave: \"-1\"}"),
            "app/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80}]}\n",
            "app/cm.yaml": configMapYAML("cm", "1"),
        ])
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(report.errors == [])
        let order = fixture.server.requests.paths("PATCH")
        #expect(order == [
            "/api/v1/namespaces/shop",
            "/apis/apps/v1/namespaces/shop/deployments/early",
            "/api/v1/namespaces/shop/configmaps/cm",
            "/api/v1/namespaces/shop/services/svc",
            "/api/v1/namespaces/shop/configmaps/late",
        ])
    }
}
