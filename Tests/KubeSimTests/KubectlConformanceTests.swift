import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// KubeSim's conformance test: the real kubectl, over HTTPS with the token.
@Suite("KubeSim: conformance with the real kubectl")
struct KubectlConformanceTests {
    @Test("discovery, namespaces, server-side apply, rollout status, generation, wait")
    func applyAndRollOut() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        let resources = try await h.kubectl("api-resources")
        #expect(resources.status == 0, "\(resources.stderr)")
        for name in ["deployments", "configmaps", "customresourcedefinitions", "clusterrolebindings", "ingresses", "cronjobs"] {
            #expect(resources.stdout.contains(name), "\(name)")
        }
        let ns = try await h.kubectl("apply", "--server-side", "-f", try h.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"))
        #expect(ns.stdout == "namespace/shop serverside-applied\n", "\(ns.stderr)")
        let apply = try await h.kubectl("apply", "--server-side", "-f", try h.file("app.yaml", KubectlHarness.app))
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(apply.stdout == "deployment.apps/web serverside-applied\nservice/web serverside-applied\nconfigmap/web-config serverside-applied\n")

        let wait = try await h.kubectl("-n", "shop", "wait", "--for=condition=Available", "deploy/web", "--timeout=20s")
        #expect(wait.stdout == "deployment.apps/web condition met\n", "\(wait.stderr)")
        let json = try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "json")
        let deployment = try JSONValue.parse(Data(json.stdout.utf8))
        #expect(deployment[path: ["status", "availableReplicas"]] == .int(2))
        #expect(deployment[path: ["status", "observedGeneration"]] == .int(1))
        #expect(deployment[path: ["metadata", "generation"]] == .int(1))

        // A changed spec bumps generation; a label does not.
        try await h.kubectl("-n", "shop", "label", "deploy", "web", "tier=front")
        let label = try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.metadata.generation} {.metadata.labels.tier}")
        #expect(label.stdout == "1 front")
        let patch = try await h.kubectl("-n", "shop", "patch", "deploy", "web", "--type", "merge", "-p", #"{"spec":{"replicas":3}}"#)
        #expect(patch.stdout == "deployment.apps/web patched\n", "\(patch.stderr)")
        let after = try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.metadata.generation} {.spec.replicas}")
        #expect(after.stdout == "2 3")

        let all = try await h.kubectl("-n", "shop", "get", "all", "-o", "name")
        // As on a real cluster, the Deployment controller made a ReplicaSet for the pod template.
        let names = all.stdout.split(separator: "\n").sorted()
        #expect(names.filter { !$0.hasPrefix("replicaset.apps/web-") } == ["deployment.apps/web", "service/web"], "\(all.stderr)")
        #expect(names.contains { $0.hasPrefix("replicaset.apps/web-") }, "\(all.stdout)")

        let table = try await h.kubectl("-n", "shop", "get", "deploy")
        #expect(table.stdout.hasPrefix("NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    "), "\(table.stdout)")
    }

    @Test("a field a built-in kind does not declare: a server-side apply is refused (a 500, as kube-apiserver 1.36 answers); a create drops it, or refuses it under --validate=strict")
    func unknownFieldsOfBuiltInKinds() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        _ = try await h.kubectl("create", "namespace", "shop")
        let deployment = String(KubectlHarness.app.components(separatedBy: "---\n")[0])
        let typo = deployment.replacingOccurrences(of: "  replicas: 2\n", with: "  replicas: 2\n  replicass: 3\n")
            .replacingOccurrences(of: "          image: nginx:1.27\n", with: "          image: nginx:1.27\n          imagePullPolice: Always\n")
        #expect(typo.contains("replicass") && typo.contains("imagePullPolice"))
        let path = try h.file("typo.yaml", typo)
        // The words kube-apiserver 1.36 uses (checked on ../shared/realkube): any field validation.
        for validation in ["strict", "ignore"] {
            let applied = try await h.kubectl("apply", "--server-side", "--validate=" + validation, "-f", path)
            #expect(applied.status == 1)
            #expect(applied.stderr.contains("Error from server: failed to create typed patch object (shop/web; apps/v1, Kind=Deployment): errors:\n"
                                            + "  .spec.replicass: field not declared in schema\n"
                                            + #"  .spec.template.spec.containers[name="web"].imagePullPolice: field not declared in schema"#), "\(applied.stderr)")
        }
        let created = try await h.kubectl("create", "--validate=strict", "-f", path)
        #expect(created.stderr.contains(#"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: "#
                                        + #"unknown field "spec.replicass", unknown field "spec.template.spec.containers[0].imagePullPolice""#), "\(created.stderr)")
        // Without strict validation a create keeps what the kind declares and drops the rest.
        let lenient = try await h.kubectl("create", "--validate=ignore", "-f", path)
        #expect(lenient.status == 0, "\(lenient.stderr)")
        let stored = try JSONValue.parse(Data(try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "json").stdout.utf8))
        #expect(stored[path: ["spec", "replicas"]] == 2 && stored[path: ["spec", "replicass"]] == nil)
        #expect(stored[path: ["spec", "template", "spec", "containers"]]?.array?.first?["imagePullPolice"] == nil)
    }

    @Test("a value of the wrong shape (a scalar for a map, a struct or a list) is refused: a server-side apply with structured-merge-diff's words (a 500), a create with Go's JSON decoder's (a 400)")
    func wrongShapes() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        _ = try await h.kubectl("create", "namespace", "shop")
        // The words of kube-apiserver 1.36 (checked on ../shared/realkube, 2026-12-03).
        let applies = [
            ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: not a map\n",
             "failed to create typed patch object (shop/c; /v1, Kind=ConfigMap): .data: expected map, got &{not a map}"),
            ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\ndata: [a, b]\n",
             "failed to create typed patch object (shop/c; /v1, Kind=ConfigMap): .data: expected map, got &{[a b]}"),
            ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: shop}\nspec: x\n",
             "failed to create typed patch object (shop/d; apps/v1, Kind=Deployment): .spec: expected map, got &{x}"),
            ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: shop}\nspec: {selector: {matchLabels: {a: b}}, "
                + "template: {metadata: {labels: {a: b}}, spec: {containers: x}}}\n",
             "failed to create typed patch object (shop/d; apps/v1, Kind=Deployment): .spec.template.spec.containers: expected list, got &{x}"),
        ]
        for (index, (text, words)) in applies.enumerated() {
            let applied = try await h.kubectl("apply", "--server-side", "-f", try h.file("apply-\(index).yaml", text))
            #expect(applied.status == 1)
            #expect(applied.stderr.contains("Error from server: " + words), "\(applied.stderr)")
        }
        let creates = [
            (#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":"not a map"}"#, "/api/v1/namespaces/shop/configmaps",
             #"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct field ConfigMap.data of type map[string]string"#),
            (#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":"x"}"#, "/apis/apps/v1/namespaces/shop/deployments",
             #"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec"#),
            (#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":"x"}}}}"#,
             "/apis/apps/v1/namespaces/shop/deployments",
             #"Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"#),
        ]
        for (index, (json, path, words)) in creates.enumerated() {
            let created = try await h.kubectl("create", "--raw", path, "-f", try h.file("create-\(index).json", json))
            #expect(created.status == 1)
            #expect(created.stderr.contains("Error from server (BadRequest): " + words), "\(created.stderr)")
        }
        let listed = try await h.kubectl("get", "configmaps,deployments", "-n", "shop", "-o", "name")
        #expect(!listed.stdout.contains("configmap/c") && !listed.stdout.contains("deployment.apps/d"), "\(listed.stdout)")
    }

    @Test("kubectl scale and the Scale object; a stale resourceVersion is 409; a body without apiVersion and kind is typed from the URL")
    func scaleAndTypeMeta() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        _ = try await h.kubectl("create", "namespace", "shop")
        let apply = try await h.kubectl("apply", "--server-side", "-f", try h.file("app.yaml", KubectlHarness.app))
        #expect(apply.status == 0, "\(apply.stderr)")
        let scaled = try await h.kubectl("-n", "shop", "scale", "deploy/web", "--replicas=3")
        #expect(scaled.stdout == "deployment.apps/web scaled\n", "\(scaled.stderr)")
        let replicas = try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}")
        #expect(replicas.stdout == "3 2")
        let raw = try await h.kubectl("get", "--raw", "/apis/apps/v1/namespaces/shop/deployments/web/scale")
        let scale = try JSONValue.parse(Data(raw.stdout.utf8))
        #expect(scale["kind"] == "Scale" && scale["apiVersion"] == "autoscaling/v1", "\(raw.stdout)")
        #expect(scale[path: ["spec", "replicas"]] == .int(3) && scale[path: ["status", "selector"]] == "app=web")
        #expect(scale[path: ["metadata", "name"]] == "web" && scale[path: ["metadata", "namespace"]] == "shop")
        // A Scale written with a version no longer current is a conflict (kubectl scale
        // --resource-version checks on its side; a raw PUT shows the server's answer).
        let staleBody = try h.file("scale.json", #"{"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "1"}, "spec": {"replicas": 1}}"#)
        let stale = try await h.kubectl("replace", "--raw", "/apis/apps/v1/namespaces/shop/deployments/web/scale", "-f", staleBody)
        #expect(stale.status != 0 && stale.stderr.contains("the object has been modified"), "\(stale.stderr)")
        let fresh = try h.file("scale2.json", #"{"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 1}}"#)
        let put = try await h.kubectl("replace", "--raw", "/apis/apps/v1/namespaces/shop/deployments/web/scale", "-f", fresh)
        #expect(try JSONValue.parse(Data(put.stdout.utf8))[path: ["spec", "replicas"]] == .int(1), "\(put.stderr)")
        // A ConfigMap has no scale subresource.
        let none = try await h.kubectl("get", "--raw", "/api/v1/namespaces/shop/configmaps/web-config/scale")
        #expect(none.status != 0 && none.stderr.contains("NotFound"), "\(none.stderr)")

        // A typed client's POST: no apiVersion, no kind; the URL says them.
        let bare = try h.file("bare.json", #"{"metadata": {"name": "bare"}, "data": {"a": "1"}}"#)
        let created = try await h.kubectl("create", "--raw", "/api/v1/namespaces/shop/configmaps", "-f", bare)
        #expect(created.status == 0, "\(created.stderr)")
        let stored = try JSONValue.parse(Data(created.stdout.utf8))
        #expect(stored["apiVersion"] == "v1" && stored["kind"] == "ConfigMap" && stored[path: ["data", "a"]] == "1", "\(created.stdout)")
    }

    @Test("a second field manager conflicts unless it forces")
    func conflicts() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        // kubectl's typed create sends protobuf for namespaces and config maps.
        let created = try await h.kubectl("create", "namespace", "shop")
        #expect(created.stdout == "namespace/shop created\n", "\(created.stderr)")
        let cm = try await h.kubectl("-n", "shop", "create", "configmap", "extra", "--from-literal=a=1")
        #expect(cm.stdout == "configmap/extra created\n", "\(cm.stderr)")
        #expect(try await h.kubectl("-n", "shop", "get", "configmap", "extra", "-o", "jsonpath={.data.a}").stdout == "1")
        try await h.kubectl("apply", "--server-side", "-f", try h.file("app.yaml", KubectlHarness.app))
        let changed = try h.file("app3.yaml", KubectlHarness.app.replacingOccurrences(of: "replicas: 2", with: "replicas: 5"))
        let conflict = try await h.kubectl("apply", "--server-side", "--field-manager", "other", "-f", changed)
        #expect(conflict.status != 0)
        #expect(conflict.stderr.contains(#"Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas"#), "\(conflict.stderr)")
        #expect(try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2")
        let forced = try await h.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "other", "-f", changed)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try await h.kubectl("-n", "shop", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "5")
        let managers = try await h.kubectl("-n", "shop", "get", "deploy", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
        // The Deployment controller is a manager too (it records deployment.kubernetes.io/revision), as on a real cluster.
        #expect(managers.stdout.split(separator: " ").sorted().filter { $0 != "kube-controller-manager" } == ["kubectl", "other"])
    }

    @Test("get -w receives the events; delete removes; a namespace takes its objects along")
    func watchAndDelete() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        try await h.kubectl("apply", "--server-side", "-f", try h.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"))
        try await h.kubectl("apply", "--server-side", "-f", try h.file("app.yaml", KubectlHarness.app))
        async let watched = h.kubectl("-n", "shop", "get", "configmaps", "-w", "--output-watch-events", "--request-timeout", "15s")
        // Wait until kubectl's watch is open on the server, however slow the machine is.
        var waited = 0
        while await h.server.state.watcherCount == 0, waited < 200 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        #expect(await h.server.state.watcherCount == 1)
        try await h.kubectl("-n", "shop", "patch", "configmap", "web-config", "--type", "merge", "-p", #"{"data":{"greeting":"hi"}}"#)
        let deleted = try await h.kubectl("-n", "shop", "delete", "configmap", "web-config")
        #expect(deleted.stdout == "configmap \"web-config\" deleted\n")
        let events = try await watched.stdout
        #expect(events.contains("ADDED"), "\(events)")
        #expect(events.contains("MODIFIED"), "\(events)")
        #expect(events.contains("DELETED"), "\(events)")
        let missing = try await h.kubectl("-n", "shop", "get", "configmap", "web-config")
        #expect(missing.stderr == "Error from server (NotFound): configmaps \"web-config\" not found\n")
        try await h.kubectl("delete", "namespace", "shop")
        let gone = try await h.kubectl("-n", "shop", "get", "deploy", "web")
        #expect(gone.status != 0)
    }

    @Test("a CRD serves its kind, and a custom resource of it can be applied and read")
    func customResources() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        let crd = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata:
              name: widgets.example.com
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
              versions:
                - name: v1
                  served: true
                  storage: true
                  schema:
                    openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}

            """
        #expect(try await h.kubectl("apply", "--server-side", "-f", try h.file("crd.yaml", crd)).status == 0)
        let established = try await h.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s")
        #expect(established.status == 0, "\(established.stderr)")
        let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\nspec:\n  size: 3\n"
        let applied = try await h.kubectl("apply", "--server-side", "-f", try h.file("w.yaml", widget))
        #expect(applied.stdout == "widget.example.com/w1 serverside-applied\n", "\(applied.stderr)")
        #expect(try await h.kubectl("get", "wd", "w1", "-o", "jsonpath={.spec.size}").stdout == "3")
        try await h.kubectl("delete", "crd", "widgets.example.com")
        let after = try await h.kubectl("get", "widgets.example.com")
        #expect(after.status != 0)
    }

    @Test("a wrong token is refused with 401")
    func wrongToken() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        let run = try await h.kubectl("--token", "wrong", "get", "namespaces")
        #expect(run.status != 0)
        // kubectl's words for a 401.
        #expect(run.stderr.contains("the server has asked for the client to provide credentials"), "\(run.stderr)")
        #expect(try await h.kubectl("get", "namespaces").stdout.contains("default"))
    }
}
