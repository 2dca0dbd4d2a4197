import BatonCore
import BatonTestSupport
import HTTP
import Foundation
import Kube
import KubeSim
import Testing

/// Baton's Kubernetes client against KubeSim over HTTPS with its token.
@Suite("Kube: the client against KubeSim")
struct KubeClientTests {
    @Test("version, and discovery: aggregated where offered, classic otherwise")
    func discovery() async throws {
        let aggregated = try await SimCluster.start()
        let classic = try await SimCluster.start { $0.aggregatedDiscovery = false }
        defer { Task { await aggregated.stop(); await classic.stop() } }
        #expect(try await aggregated.client.version().gitVersion == "v1.32.0-kubesim")
        for cluster in [aggregated, classic] {
            let all = try await cluster.client.discover()
            let served = await cluster.server.state.types
            #expect(Set(all.map { "\($0.apiVersion) \($0.kind) \($0.name) \($0.namespaced)" })
                == Set(served.map { "\($0.apiVersion) \($0.kind) \($0.plural) \($0.namespaced)" }))
            let deployments = try await cluster.client.resource(apiVersion: "apps/v1", kind: "Deployment")
            #expect(deployments.name == "deployments" && deployments.namespaced)
            #expect(try await cluster.client.resource(apiVersion: "v1", kind: "Namespace").namespaced == false)
            #expect(try await cluster.client.resource(apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole").namespaced == false)
            let unknown = await kubeError { _ = try await cluster.client.resource(apiVersion: "example.com/v1", kind: "Gadget") }
            #expect(unknown?.description == "the server does not serve kind Gadget in example.com/v1")
        }
        #expect(await aggregated.client.usedAggregatedDiscovery)
        #expect(await classic.client.usedAggregatedDiscovery == false)
    }

    @Test("partial discovery: an aggregated API that is down (metrics.k8s.io answering 503) is skipped without retrying, aggregated or classic; everything else is found")
    func partialDiscovery() async throws {
        let aggregated = try await SimCluster.start()
        let classic = try await SimCluster.start { $0.aggregatedDiscovery = false }
        defer { Task { await aggregated.stop(); await classic.stop() } }
        let down = "/apis/metrics.k8s.io/v1beta1"
        for (cluster, isClassic) in [(aggregated, false), (classic, true)] {
            cluster.server.simulation.setUnavailableAPIs(["metrics.k8s.io/v1beta1"])
            let all = try await cluster.client.discover()
            // Classic discovery asks the down API once and takes its 503 as the answer (no
            // retries); aggregated discovery learns it is Stale without asking it.
            #expect(cluster.server.requests.count("GET", down) == (isClassic ? 1 : 0), "the down API was retried")
            #expect(all.contains { $0.kind == "Deployment" } && !all.contains { $0.apiVersion == "metrics.k8s.io/v1beta1" })
            let missing = await kubeError { _ = try await cluster.client.resource(apiVersion: "metrics.k8s.io/v1beta1", kind: "PodMetrics") }
            #expect(missing?.isUnknownKind == true, "\(String(describing: missing))")
            // Work on the kinds that are served goes on.
            _ = try await cluster.client.apply(configMap("settings"))
        }
        // Looking up one of its kinds read discovery once more: one more 503, still no retry.
        #expect(classic.server.requests.count("GET", down) == 2)
    }

    @Test("server-side apply, dry run, get, list by label, field conflicts, delete; errors decode the server's Status")
    func applyGetListDelete() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        let applied = try await client.apply(configMap("web", labels: ["app": "web"], data: ["a": "1"]))
        #expect(applied[path: ["metadata", "uid"]]?.string?.isEmpty == false)
        #expect(applied[path: ["metadata", "managedFields"]]?.array?.first?["manager"]?.string == "baton")
        try await client.apply(configMap("db", labels: ["app": "db"]))
        // A namespaced object without a namespace goes to the context's.
        var bare = configMap("bare")
        bare[path: ["metadata", "namespace"]] = nil
        #expect(try await client.apply(bare)[path: ["metadata", "namespace"]]?.string == "default")

        let dry = try await client.apply(configMap("dry"), dryRun: true)
        #expect(dry[path: ["metadata", "name"]]?.string == "dry")
        let absent = await kubeError { _ = try await client.get(apiVersion: "v1", kind: "ConfigMap", name: "dry") }
        #expect(absent?.isNotFound == true)
        guard case .api(let status, let method, let path)? = absent else { Issue.record("expected a Status, got \(String(describing: absent))"); return }
        #expect(status.reason == "NotFound" && method == "GET" && path == "/api/v1/namespaces/default/configmaps/dry")
        #expect(status.message.contains("\"dry\" not found"))

        let web = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default", labelSelector: "app=web")
        #expect(names(web.items) == ["web"])
        #expect(web.items.first?["kind"]?.string == "ConfigMap" && !web.resourceVersion.isEmpty)
        #expect(names(try await client.list(apiVersion: "v1", kind: "ConfigMap", labelSelector: "app in (web,db)").items) == ["db", "web"])

        // Another manager changing a field Baton owns conflicts; force takes it over.
        let conflict = await kubeError { try await client.apply(configMap("web", labels: ["app": "web"], data: ["a": "2"]), fieldManager: "other") }
        #expect(conflict?.isConflict == true)
        if case .api(let status, _, _)? = conflict {
            #expect(status.reason == "Conflict")
            #expect(status.causes.contains { $0.field == ".data.a" }, "causes: \(status.causes)")
        }
        let forced = try await client.apply(configMap("web", labels: ["app": "web"], data: ["a": "2"]), fieldManager: "other", force: true)
        #expect(forced[path: ["data", "a"]]?.string == "2")

        // Invalid objects: the causes name the field.
        let invalid = await kubeError { try await client.apply(configMap("Not_Valid")) }
        if case .api(let status, _, _)? = invalid {
            #expect(status.code == 422 && status.reason == "Invalid")
            #expect(status.causes.first?.field == "metadata.name")
        } else {
            Issue.record("expected 422, got \(String(describing: invalid))")
        }
        let nameless = await kubeError { try await client.apply(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object([:])])) }
        #expect(nameless?.description == "invalid object: ConfigMap: metadata.name is missing")

        // Cluster-scoped kinds have no namespace in their path.
        try await client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": "team-a"])]))
        #expect(try await client.get(apiVersion: "v1", kind: "Namespace", name: "team-a")[path: ["metadata", "name"]]?.string == "team-a")

        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", name: "web", dryRun: true))
        #expect(try await client.get(apiVersion: "v1", kind: "ConfigMap", name: "web")[path: ["metadata", "name"]]?.string == "web")
        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", name: "web", propagationPolicy: .foreground))
        #expect(await kubeError { _ = try await client.get(apiVersion: "v1", kind: "ConfigMap", name: "web") }?.isNotFound == true)
        #expect(try await client.delete(apiVersion: "v1", kind: "ConfigMap", name: "web") == false)
    }

    @Test("a kind whose CRD was applied a moment ago is found by refreshing discovery")
    func customResourceDiscovery() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        try await client.discover()
        let crd: JSONValue = .object([
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": .object(["name": "widgets.example.com"]),
            "spec": .object([
                "group": "example.com", "scope": "Namespaced",
                "names": .object(["plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"]),
                "versions": .array([.object(["name": "v1", "served": true, "storage": true,
                                             "schema": .object(["openAPIV3Schema": .object(["type": "object", "x-kubernetes-preserve-unknown-fields": true])])])]),
            ]),
        ])
        try await client.apply(crd)
        let widget: JSONValue = .object(["apiVersion": "example.com/v1", "kind": "Widget",
                                         "metadata": .object(["name": "w1", "namespace": "default"]), "spec": .object(["size": 3])])
        try await client.apply(widget)
        let read = try await client.get(apiVersion: "example.com/v1", kind: "Widget", name: "w1")
        #expect(read[path: ["spec", "size"]]?.int == 3)
        #expect(try await client.resource(apiVersion: "example.com/v1", kind: "Widget").name == "widgets")
    }

    @Test("list reads 1,000 objects in pages")
    func pagination() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        try await client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": "bulk"])]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<1000 {
                // (With every test at once, 31 applies here once waited 30 s, seen by the in-process
                // server, which answered as the client gave up: one hop onto its state actor took
                // 3.8 s. make test now runs 24 at once.)
                group.addTask { await cluster.applyConfigMap(configMap(String(format: "item-%04d", index), namespace: "bulk")) }
            }
            try await group.waitForAll()
        }
        let list = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "bulk", pageSize: 70)
        #expect(cluster.server.requests.count("GET", "/api/v1/namespaces/bulk/configmaps") == 15)  // 14 pages of 70, one of 20
        #expect(list.items.count == 1000)
        #expect(Set(names(list.items)).count == 1000)
        #expect(names(list.items).first == "item-0000" && names(list.items).last == "item-0999")
    }

    @Test("RBAC: a user may do what its RoleBinding grants; SelfSubjectAccessReview and refusals say the same")
    func accessReview() async throws {
        let cluster = try await SimCluster.start { $0.users["alice-token"] = UserInfo(name: "alice", groups: ["devs"]) }
        defer { Task { await cluster.stop() } }
        _ = try await cluster.client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                            "metadata": ["name": "config-editor", "namespace": "default"],
                                            "rules": [["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "patch"]]]])
        _ = try await cluster.client.apply(["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                            "metadata": ["name": "devs-edit-config", "namespace": "default"],
                                            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "config-editor"],
                                            "subjects": [["kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"]]])
        let alice = try cluster.client(context: "alice@baton-dev")
        let patch = try #require(try await alice.canI("patch", group: "", resource: "configmaps", namespace: "default"))
        #expect(patch.allowed)
        #expect(patch.reason == #"RBAC: allowed by RoleBinding "devs-edit-config/default" of Role "config-editor" to Group "devs""#)
        let delete = try #require(try await alice.canI("delete", group: "", resource: "configmaps", namespace: "default"))
        #expect(!delete.allowed)
        #expect(try await cluster.client.canI("delete", group: "", resource: "configmaps", namespace: "default")?.allowed == true)

        // What the review says is what requests get.
        _ = try await alice.apply(configMap("settings", data: ["a": "1"]))
        let refused = await kubeError { _ = try await alice.delete(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "default") }
        #expect(refused?.statusCode == 403)
        #expect(statusMessage(refused) == #"configmaps "settings" is forbidden: User "alice" cannot delete resource "configmaps" in API group "" in the namespace "default""#)
        let wide = await kubeError { _ = try await alice.list(apiVersion: "v1", kind: "ConfigMap") }
        #expect(statusMessage(wide) == #"configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" at the cluster scope"#)
        let apps = await kubeError { _ = try await alice.list(apiVersion: "apps/v1", kind: "Deployment", namespace: "default") }
        #expect(statusMessage(apps) == #"deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "default""#)
        #expect(try await alice.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default").items.count == 1)
    }

    @Test("a wrong token is a final 401, not retried")
    func unauthorized() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let kubeconfig = try String(contentsOfFile: cluster.folder.path + "/kubeconfig", encoding: .utf8)
            .replacingOccurrences(of: "token: \(cluster.server.token ?? "")", with: "token: wrong-token")
        try cluster.folder.write("wrong", kubeconfig)
        let client = try KubeClient(try Kubeconfig.load(paths: [cluster.folder.path + "/wrong"]).resolve())
        let error = await kubeError { _ = try await client.version() }
        #expect(error?.statusCode == 401)
        #expect(cluster.server.requests.count("GET", "/version") == 1)
        #expect(error.map { !"\($0)".contains("wrong-token") } == true)
    }
}

/// The same client over HTTP/2, which real API servers offer.
@Suite("Kube: the client over HTTP/2")
struct HTTP2Tests {
    @Test("negotiates HTTP/2 and applies, lists and watches over it")
    func http2() async throws {
        let cluster = try await SimCluster.start { $0.http2 = true }
        defer { Task { await cluster.stop() } }
        let http = HTTPClient(configuration: .init(tls: .init(certificateAuthority: .data(Data((cluster.server.caPEM ?? "").utf8)))))
        let head = try await http.send(HTTPRequest(url: cluster.server.url + "/version",
                                                   headers: [HTTPField("Authorization", "Bearer \(cluster.server.token ?? "")")]))
        #expect(head.status == 200 && head.head.version == "2")

        let client = cluster.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<50 {
                // (A loaded full run once saw one of these streams stall for 30 s.)
                group.addTask { await cluster.applyConfigMap(configMap("h2-\(index)")) }
            }
            try await group.waitForAll()
        }
        #expect(try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default").items.count == 50)
        var events = client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default").makeAsyncIterator()
        guard case .relisted(let objects)? = try await events.next() else { Issue.record("no relist"); return }
        #expect(objects.count == 50)
        try await client.apply(configMap("h2-late"))
        guard case .added(let added)? = try await events.next() else { Issue.record("no added event"); return }
        #expect(added[path: ["metadata", "name"]]?.string == "h2-late")
    }
}
