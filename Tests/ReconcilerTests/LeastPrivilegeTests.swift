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

    /// The README's Role, exactly as written there.
    static func readmeRole() throws -> String {
        let text = try String(contentsOfFile: readme, encoding: .utf8)
        let start = try #require(text.range(of: "```yaml\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"))
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
        let first = try fixture.commit(files)
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
        let second = try fixture.commit([:], remove: ["app/configmap.yaml"])
        let pruned = await reconciler.sync(revision: second)
        #expect(pruned.errors == [], "\(pruned.errors)")
        #expect(pruned.objects.contains { $0.key.kind == "ConfigMap" && $0.action == .prune })
        #expect(try await fixture.client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "guestbook").items
            .allSatisfy { $0[path: ["metadata", "annotations", Normalizer.trackingAnnotation]] == nil })
        await cache.stop()
    }
}
