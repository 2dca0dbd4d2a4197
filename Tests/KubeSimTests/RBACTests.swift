import BatonCore
import BatonTestSupport
import Foundation
@testable import KubeSim
import Testing

/// Users, ServiceAccount tokens and RBAC, seen through the real kubectl, and the rule matching
/// of kube-apiserver's RBAC authorizer on its own.
@Suite("KubeSim: users and RBAC")
struct RBACTests {
    @Test("kubectl as a Role-bound user: whoami, auth can-i, and kube-apiserver's Forbidden messages; ClusterRole view through a RoleBinding")
    func kubectlAsUser() async throws {
        let h = try await KubectlHarness.start(users: ["alice-token": UserInfo(name: "alice", groups: ["devs"])])
        defer { Task { await h.stop() } }
        for arguments in [["create", "namespace", "shop"], ["-n", "shop", "create", "configmap", "settings", "--from-literal=a=1"],
                          ["-n", "shop", "create", "role", "reader", "--verb=get,list,watch", "--resource=configmaps"],
                          ["-n", "shop", "create", "rolebinding", "devs-read", "--role=reader", "--group=devs"]] {
            let run = try await h.run(arguments)
            #expect(run.status == 0, "kubectl \(arguments): \(run.stderr)")
        }
        func alice(_ arguments: String...) async throws -> CommandRun { try await h.run(["--context", "alice@baton-dev"] + arguments) }
        #expect(try await alice("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "alice")
        #expect(try await alice("auth", "can-i", "list", "configmaps", "-n", "shop").stdout == "yes\n")
        let delete = try await alice("auth", "can-i", "delete", "configmaps", "-n", "shop")
        #expect(delete.stdout == "no\n" && delete.status == 1)
        #expect(try await alice("auth", "can-i", "list", "configmaps", "-A").stdout == "no\n")

        #expect(try await alice("-n", "shop", "get", "configmap", "settings", "-o", "name").stdout == "configmap/settings\n")
        let wide = try await alice("get", "configmaps", "-A")
        #expect(wide.status == 1)
        #expect(wide.stderr.contains(#"Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" at the cluster scope"#),
                "\(wide.stderr)")
        let create = try await alice("-n", "shop", "create", "configmap", "other")
        #expect(create.stderr.contains(#"configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "shop""#),
                "\(create.stderr)")
        let deployments = try await alice("-n", "shop", "get", "deployments")
        #expect(deployments.stderr.contains(#"deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "shop""#),
                "\(deployments.stderr)")

        // The bootstrap ClusterRole view (aggregated) through a RoleBinding: workloads yes, Secrets no, elsewhere no.
        #expect(try await h.kubectl("-n", "shop", "create", "rolebinding", "devs-view", "--clusterrole=view", "--group=devs").status == 0)
        #expect(try await alice("auth", "can-i", "list", "deployments.apps", "-n", "shop").stdout == "yes\n")
        #expect(try await alice("auth", "can-i", "get", "deployments.apps", "--subresource=scale", "-n", "shop").stdout == "yes\n")
        #expect(try await alice("auth", "can-i", "get", "secrets", "-n", "shop").stdout == "no\n")
        #expect(try await alice("auth", "can-i", "list", "deployments.apps", "-n", "default").stdout == "no\n")
        #expect(try await alice("-n", "shop", "get", "deployments").status == 0)
        // The cluster operator's controls are not for users.
        #expect(try await alice("auth", "can-i", "create", "pods").stdout == "no\n")
    }

    @Test("a ServiceAccount's token from kubectl create token is that ServiceAccount, until it is deleted; every namespace has a default one")
    func serviceAccountTokens() async throws {
        let h = try await KubectlHarness.start()
        defer { Task { await h.stop() } }
        #expect(try await h.kubectl("create", "namespace", "ci").status == 0)
        #expect(try await h.kubectl("-n", "ci", "create", "serviceaccount", "builder").status == 0)
        let token = try await h.kubectl("-n", "ci", "create", "token", "builder", "--duration=20m")
        #expect(token.status == 0, "\(token.stderr)")
        let value = token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!value.isEmpty)
        func builder(_ arguments: String...) async throws -> CommandRun { try await h.run(["--token", value] + arguments) }
        #expect(try await builder("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "system:serviceaccount:ci:builder")
        let refused = try await builder("-n", "ci", "get", "configmaps")
        #expect(refused.stderr.contains(#"User "system:serviceaccount:ci:builder" cannot list resource "configmaps" in API group "" in the namespace "ci""#),
                "\(refused.stderr)")
        #expect(try await h.kubectl("-n", "ci", "create", "rolebinding", "builder-edit", "--clusterrole=edit", "--serviceaccount=ci:builder").status == 0)
        #expect(try await builder("-n", "ci", "create", "configmap", "built", "--from-literal=ok=1").status == 0)
        let short = try await h.kubectl("-n", "ci", "create", "token", "builder", "--duration=1m")
        #expect(short.stderr.contains("may not specify a duration less than 10 minutes"), "\(short.stderr)")

        // Deleted, then made again under the same name: the old token is worth nothing.
        #expect(try await h.kubectl("-n", "ci", "delete", "serviceaccount", "builder").status == 0)
        #expect(try await h.kubectl("-n", "ci", "create", "serviceaccount", "builder").status == 0)
        let gone = try await builder("-n", "ci", "get", "configmaps")
        #expect(gone.status == 1 && gone.stderr.contains("Unauthorized"), "\(gone.stderr)")

        var defaultAccount = ""
        for _ in 0..<50 where defaultAccount.isEmpty {
            defaultAccount = try await h.kubectl("-n", "ci", "get", "serviceaccount", "default", "-o", "name").stdout
            if defaultAccount.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(defaultAccount == "serviceaccount/default\n")
    }

    @Test("a server-side apply that creates its object needs create as well as patch, as kube-apiserver's patch handler checks; updating needs only patch")
    func applyThatCreatesNeedsCreate() async throws {
        let h = try await KubectlHarness.start(users: ["patcher-token": UserInfo(name: "patcher"), "creator-token": UserInfo(name: "creator")])
        defer { Task { await h.stop() } }
        for arguments in [["create", "clusterrole", "ns-patch", "--verb=get,patch", "--resource=namespaces"],
                          ["create", "clusterrolebinding", "ns-patch", "--clusterrole=ns-patch", "--user=patcher"],
                          ["create", "clusterrole", "ns-create", "--verb=create", "--resource=namespaces"],
                          ["create", "clusterrolebinding", "ns-create", "--clusterrole=ns-create", "--user=creator"],
                          ["create", "namespace", "existing"]] {
            let run = try await h.run(arguments)
            #expect(run.status == 0, "kubectl \(arguments): \(run.stderr)")
        }
        let shop = try h.file("shop.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
        let existing = try h.file("existing.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: existing, labels: {team: a}}\n")
        // kube-apiserver 1.36's words for both refusals (checked on ../shared/realkube).
        let patcher = try await h.run(["--context", "patcher@baton-dev", "apply", "--server-side", "-f", shop])
        #expect(patcher.status == 1)
        #expect(patcher.stderr.contains(#"Error from server (Forbidden): namespaces "shop" is forbidden: User "patcher" cannot create resource "namespaces" in API group "" in the namespace "shop""#),
                "\(patcher.stderr)")
        let creator = try await h.run(["--context", "creator@baton-dev", "apply", "--server-side", "-f", shop])
        #expect(creator.stderr.contains(#"namespaces "shop" is forbidden: User "creator" cannot patch resource "namespaces" in API group "" in the namespace "shop""#),
                "\(creator.stderr)")
        #expect(try await h.kubectl("get", "namespace", "shop").status == 1, "a refused apply created the namespace")
        let dryRun = try await h.run(["--context", "patcher@baton-dev", "apply", "--server-side", "--dry-run=server", "-f", shop])
        #expect(dryRun.stderr.contains(#"cannot create resource "namespaces""#), "\(dryRun.stderr)")
        // An apply to an object that exists is an update: patch suffices.
        let update = try await h.run(["--context", "patcher@baton-dev", "apply", "--server-side", "-f", existing])
        #expect(update.status == 0, "\(update.stderr)")
        // Both verbs: created.
        #expect(try await h.kubectl("create", "clusterrolebinding", "ns-create-patcher", "--clusterrole=ns-create", "--user=patcher").status == 0)
        let both = try await h.run(["--context", "patcher@baton-dev", "apply", "--server-side", "-f", shop])
        #expect(both.status == 0, "\(both.stderr)")
    }

    static let alice = UserInfo(name: "alice", groups: ["devs"])

    static func resource(_ verb: String, _ group: String, _ resource: String, sub: String = "", name: String = "", namespace: String = "shop") -> RequestAttributes {
        RequestAttributes(user: alice, verb: verb, apiGroup: group, resource: resource, subresource: sub, name: name, namespace: namespace)
    }

    @Test("rule matching: wildcards, subresources, resourceNames, non-resource URLs")
    func rules() {
        let scale = PolicyRule(verbs: ["get", "patch"], apiGroups: ["apps"], resources: ["*/scale"])
        #expect(scale.allows(Self.resource("patch", "apps", "deployments", sub: "scale", name: "web")))
        #expect(!scale.allows(Self.resource("patch", "apps", "deployments", name: "web")))
        #expect(!scale.allows(Self.resource("patch", "", "deployments", sub: "scale", name: "web")))
        let one = PolicyRule(verbs: ["get", "list"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["settings"])
        #expect(one.allows(Self.resource("get", "", "configmaps", name: "settings")))
        #expect(!one.allows(Self.resource("get", "", "configmaps", name: "other")))
        #expect(!one.allows(Self.resource("list", "", "configmaps")))
        let status = PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["deployments/status"])
        #expect(status.allows(Self.resource("update", "apps", "deployments", sub: "status", name: "web")))
        #expect(!status.allows(Self.resource("update", "apps", "deployments", name: "web")))
        let urls = PolicyRule(verbs: ["get"], nonResourceURLs: ["/apis/*", "/version"])
        #expect(urls.allows(RequestAttributes(user: Self.alice, verb: "get", path: "/apis/apps/v1")))
        #expect(urls.allows(RequestAttributes(user: Self.alice, verb: "get", path: "/version")))
        #expect(!urls.allows(RequestAttributes(user: Self.alice, verb: "get", path: "/version/x")))
        #expect(!urls.allows(RequestAttributes(user: Self.alice, verb: "post", path: "/version")))
        #expect(!urls.allows(Self.resource("get", "", "version")))
    }

    @Test("request attributes are read from the path as kube-apiserver reads them")
    func attributes() {
        func attributes(_ method: String, _ path: String, _ query: [String: String] = [:]) -> RequestAttributes {
            RequestAttributes(user: Self.alice, request: SimRequest(method: method, path: path, query: query, headers: [:], body: Data()), path: path)
        }
        let watch = attributes("GET", "/api/v1/namespaces/shop/configmaps", ["watch": "true", "fieldSelector": "metadata.name=settings"])
        #expect(watch == Self.resource("watch", "", "configmaps", name: "settings"))
        #expect(attributes("GET", "/api/v1/namespaces/shop") == Self.resource("get", "", "namespaces", name: "shop", namespace: "shop"))
        #expect(attributes("PUT", "/api/v1/namespaces/shop/finalize") == Self.resource("update", "", "namespaces", sub: "finalize", name: "shop"))
        #expect(attributes("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web/scale")
            == Self.resource("patch", "apps", "deployments", sub: "scale", name: "web"))
        #expect(attributes("DELETE", "/api/v1/namespaces/shop/pods") == Self.resource("deletecollection", "", "pods"))
        #expect(attributes("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles")
            == Self.resource("list", "rbac.authorization.k8s.io", "clusterroles", namespace: ""))
        let discovery = attributes("GET", "/apis/apps/v1")
        #expect(!discovery.isResourceRequest && discovery.verb == "get" && discovery.path == "/apis/apps/v1")
    }

    @Test("the policy: bindings by user, group and ServiceAccount; aggregated ClusterRoles; nothing else allows")
    func policy() {
        let rbac = "rbac.authorization.k8s.io"
        func key(_ plural: String, _ name: String, _ namespace: String = "") -> ObjectKey {
            ObjectKey(group: rbac, plural: plural, namespace: namespace, name: name)
        }
        let widgets: JSONValue = ["metadata": ["labels": ["rbac.authorization.k8s.io/aggregate-to-view": "true"]],
                                  "rules": [["apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]]]]
        let binding: JSONValue = ["roleRef": ["kind": "ClusterRole", "name": "view"], "subjects": [["kind": "ServiceAccount", "name": "ci"]]]
        let objects = BootstrapPolicy.objects + [(key: key("clusterroles", "widgets"), value: widgets),
                                                 (key: key("rolebindings", "view", "shop"), value: binding)]
        let policy = RBACPolicy(objects: objects)
        let ci = UserInfo.serviceAccount(namespace: "shop", name: "ci")
        func decide(_ user: UserInfo, _ verb: String, _ group: String, _ resource: String, namespace: String = "shop") -> Bool {
            policy.decide(RequestAttributes(user: user, verb: verb, apiGroup: group, resource: resource, namespace: namespace)).allowed
        }
        // view, edit and admin all aggregate the widgets role; the binding's namespace is the ServiceAccount's.
        #expect(decide(ci, "get", "example.com", "widgets"))
        #expect(policy.decide(RequestAttributes(user: ci, verb: "get", apiGroup: "example.com", resource: "widgets", namespace: "shop")).reason
            == #"RBAC: allowed by RoleBinding "view/shop" of ClusterRole "view" to ServiceAccount "ci/shop""#)
        #expect(decide(ci, "list", "apps", "deployments"))
        #expect(!decide(ci, "get", "", "secrets"))
        #expect(!decide(ci, "get", "example.com", "widgets", namespace: "other"))
        #expect(!decide(UserInfo.serviceAccount(namespace: "other", name: "ci"), "get", "example.com", "widgets"))
        #expect(!decide(Self.alice, "get", "", "configmaps"))
        #expect(decide(.admin, "delete", "", "namespaces", namespace: ""))
        // Discovery and self-reviews are every authenticated user's.
        #expect(policy.decide(RequestAttributes(user: Self.alice, verb: "get", path: "/apis")).allowed)
        #expect(decide(Self.alice, "create", "authorization.k8s.io", "selfsubjectaccessreviews", namespace: ""))
        #expect(!policy.decide(RequestAttributes(user: Self.alice, verb: "get", path: "/metrics")).allowed)
    }
}
