import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// Baton with the least-privilege Role the README recommends, bound to a ServiceAccount whose
/// token comes from `kubectl create token`, on a KubeSim that enforces RBAC as kube-apiserver
/// does: what the README promises is what this test checks.
@Suite("Reconciler: the README's least-privilege Role")
struct LeastPrivilegeTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("README.md").path

    /// The README's Role (or, with `kind: "ClusterRole"`, its ClusterRole), exactly as written there.
    static func readmeRole(kind: String = "Role") throws -> String {
        let text = try String(contentsOfFile: readme, encoding: .utf8)
        let start = try #require(text.range(of: "```yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: \(kind)\n"))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        return String(text[text.index(start.lowerBound, offsetBy: "```yaml\n".count)..<end.lowerBound])
    }

    @Test("sync, a second sync and a prune of examples/corpus (without its CRD) need nothing more than the README's Role")
    func readmeRoleSuffices() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let role = try Self.readmeRole()
        #expect(role.contains("name: baton-reconciler, namespace: guestbook"))
        try fixture.dir.write("role.yaml", role)
        for arguments in [["create", "namespace", "guestbook"], ["apply", "-f", fixture.dir.path + "/role.yaml"],
                          ["-n", "guestbook", "create", "serviceaccount", "baton"],
                          ["-n", "guestbook", "create", "rolebinding", "baton", "--role", "baton-reconciler", "--serviceaccount", "guestbook:baton"]] {
            let run = try await fixture.kubectl(arguments)
            #expect(run.status == 0, "kubectl \(arguments): \(run.stderr)")
        }
        let token = try await fixture.kubectl(["-n", "guestbook", "create", "token", "baton"])
        #expect(token.status == 0, "\(token.stderr)")
        let kubeconfig = try String(contentsOfFile: fixture.dir.path + "/kubeconfig", encoding: .utf8)
            .replacingOccurrences(of: "token: \(fixture.server.token ?? "")", with: "token: \(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        try fixture.dir.write("baton-kubeconfig", kubeconfig)
        let client = try KubeClient(try Kubeconfig.load(paths: [fixture.dir.path + "/baton-kubeconfig"]).resolve())
        // The identity is the ServiceAccount, and it may not list anything cluster-wide.
        #expect(try await client.canI("list", group: "", resource: "configmaps", namespace: nil)?.allowed == false)
        #expect(try await client.canI("patch", group: "apps", resource: "deployments", namespace: "guestbook")?.allowed == true)

        var files = try CorpusTests.files()
        files["app/crd.yaml"] = nil
        let first = try await fixture.commit(files)
        // As `baton run` sets it up: a shared cache, which finds it may watch per namespace only.
        let cache = ClusterCache(client: client, labelSelector: SharedCacheTests.selector)
        let plain = fixture.reconciler(namespace: "guestbook", ignore: [CorpusTests.replicas], client: client)
        let reconciler = Reconciler(environment: plain.environment, client: client, renderer: plain.renderer, inventory: fixture.audit, cache: cache)
        let created = await reconciler.sync(revision: first)
        #expect(created.errors == [], "\(created.errors)")
        #expect(created.synced && created.applied)
        let again = await reconciler.sync(revision: first)
        #expect(again.errors == [] && again.synced && !again.applied)
        #expect(await cache.watchesClusterWide(apiVersion: "v1", kind: "ConfigMap") == false)

        // A file removed from git: its object is pruned, with the same rights.
        let second = try await fixture.commit([:], remove: ["app/configmap.yaml"])
        let pruned = await reconciler.sync(revision: second)
        #expect(pruned.errors == [], "\(pruned.errors)")
        #expect(pruned.objects.contains { $0.key.kind == "ConfigMap" && $0.action == .prune })
        #expect(try await fixture.client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "guestbook").items
            .allSatisfy { $0[path: ["metadata", "annotations", Normalizer.trackingAnnotation]] == nil })
        await cache.stop()
    }

    @Test("sync.createNamespace with the README's ClusterRole: the namespace is created and kept; with get and create alone (no patch) the sync fails once, definitely, saying which verbs it needs")
    func readmeClusterRoleCreatesNamespace() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let namespaces = try Self.readmeRole(kind: "ClusterRole")
        #expect(namespaces.contains("name: baton-create-namespace"))
        try fixture.dir.write("namespaces.yaml", namespaces)
        // The README: the Role's rules as a ClusterRole, for the objects inside a namespace that does not exist yet.
        try fixture.dir.write("objects.yaml", try Self.readmeRole().replacingOccurrences(of: "kind: Role\n", with: "kind: ClusterRole\n")
            .replacingOccurrences(of: "name: baton-reconciler, namespace: guestbook", with: "name: baton-reconciler"))
        for arguments in [["apply", "-f", fixture.dir.path + "/namespaces.yaml"], ["apply", "-f", fixture.dir.path + "/objects.yaml"],
                          ["create", "serviceaccount", "baton"],
                          ["create", "clusterrolebinding", "baton-objects", "--clusterrole", "baton-reconciler", "--serviceaccount", "default:baton"]] {
            let run = try await fixture.kubectl(arguments)
            #expect(run.status == 0, "kubectl \(arguments): \(run.stderr)")
        }
        let token = try await fixture.kubectl(["create", "token", "baton"])
        #expect(token.status == 0, "\(token.stderr)")
        let kubeconfig = try String(contentsOfFile: fixture.dir.path + "/kubeconfig", encoding: .utf8)
            .replacingOccurrences(of: "token: \(fixture.server.token ?? "")", with: "token: \(token.stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
        try fixture.dir.write("baton-kubeconfig", kubeconfig)
        let client = try KubeClient(try Kubeconfig.load(paths: [fixture.dir.path + "/baton-kubeconfig"]).resolve())
        let revision = try await fixture.commit(["app/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: \"1\"}\n"])

        // `get` and `create` only (what the README once said): the server-side apply that
        // creates the namespace is a patch. One definite error, nothing written.
        #expect(try await fixture.kubectl(["create", "clusterrole", "get-create", "--verb=get,create", "--resource=namespaces"]).status == 0)
        #expect(try await fixture.kubectl(["create", "clusterrolebinding", "get-create", "--clusterrole", "get-create",
                                           "--serviceaccount", "default:baton"]).status == 0)
        let refused = await fixture.reconciler(namespace: "fresh", createNamespace: true, client: client).sync(revision: revision)
        #expect(refused.errors.count == 1, "\(refused.errors)")
        #expect(refused.errors.first?.contains("sync.createNamespace needs get, create and patch on namespaces") == true, "\(refused.errors)")
        #expect(refused.errors.first?.contains(#"cannot patch resource "namespaces""#) == true, "\(refused.errors)")
        #expect(refused.unavailable == false)
        #expect(try await fixture.kubectl(["get", "namespace", "fresh"]).status == 1)

        #expect(try await fixture.kubectl(["delete", "clusterrolebinding", "get-create"]).status == 0)
        #expect(try await fixture.kubectl(["create", "clusterrolebinding", "baton-namespaces", "--clusterrole", "baton-create-namespace",
                                           "--serviceaccount", "default:baton"]).status == 0)
        let reconciler = fixture.reconciler(namespace: "fresh", createNamespace: true, client: client)
        let created = await reconciler.sync(revision: revision)
        #expect(created.errors == [], "\(created.errors)")
        #expect(created.synced && created.applied)
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "fresh")[path: ["data", "a"]] == "1")
        let again = await reconciler.sync(revision: revision)
        #expect(again.errors == [] && again.synced && !again.applied)
        #expect(try await fixture.kubectl(["get", "namespace", "fresh"]).status == 0, "the namespace was pruned")
    }
}
