import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// `baton cluster check`, run as the real binary against KubeSim servers in this process.
@Suite("baton cluster check")
struct ClusterCheckCommandTests {
    /// A folder with one environment, `dev`, pointing at `server` through a kubeconfig.
    func folder(for server: KubeSimServer, context: String = "baton-dev") throws -> TemporaryDirectory {
        let dir = try TemporaryDirectory("cluster-check")
        try dir.write("kubeconfig", SimKubeconfig.yaml([("dev", server)]))
        try dir.write("Environments/dev.yaml", """
            apiVersion: baton/v1
            kind: Environment
            name: dev
            cluster:
              kubeconfig: \(dir.path)/kubeconfig
              context: \(context)
            namespace: shop
            source:
              path: apps/shop
            """)
        return dir
    }

    func check(_ dir: TemporaryDirectory, _ environment: String = "dev") async throws -> CommandRun {
        try await CommandRun.run(CommandRun.batonPath, ["cluster", "check", environment, "--dir", dir.path])
    }

    @Test("prints server, version, identity, discovery and permissions, and never the token")
    func healthy() async throws {
        let server = try await KubeSimServer.start()
        let dir = try folder(for: server)
        defer { Task { await server.stop(); dir.remove() } }
        let run = try await check(dir)
        let types = await server.state.types
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == """
            environment  dev (\(dir.path)/Environments/dev.yaml)
            kubeconfig   \(dir.path)/kubeconfig, context baton-dev
            server       \(server.url)
            identity     bearer token (user "baton-dev")
            version      v1.32.0-kubesim (linux/amd64)
            discovery    ok: \(types.count) kinds in \(Set(types.map(\.apiVersion)).count) group versions (aggregated)
            namespace    shop (does not exist yet)
            may apply    yes, in shop
            may delete   yes, in shop

            """)
        #expect(!run.stdout.contains(server.token ?? "no token") && !run.stderr.contains(server.token ?? "no token"))
    }

    @Test("a permission the identity lacks exits 1 and names it")
    func denied() async throws {
        var configuration = KubeSimServer.Configuration()
        configuration.users["ci-token"] = UserInfo(name: "ci")
        let server = try await KubeSimServer.start(configuration)
        // "ci" may create and patch the probed kinds in shop, and delete all but Deployments.
        func type(_ kind: String) -> ResourceType { ResourceType.builtIn.first { $0.kind == kind }! }
        _ = try await server.state.create(type("Namespace"), namespace: "", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]],
                                          manager: "test")
        _ = try await server.state.create(type("Role"), namespace: "shop", body: [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": ["name": "deployer"],
            "rules": [["apiGroups": ["", "apps"], "resources": ["deployments", "services", "configmaps"], "verbs": ["create", "patch"]],
                      ["apiGroups": [""], "resources": ["services", "configmaps"], "verbs": ["delete"]]]], manager: "test")
        _ = try await server.state.create(type("RoleBinding"), namespace: "shop", body: [
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": ["name": "ci-deployer"],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"],
            "subjects": [["kind": "User", "name": "ci"]]], manager: "test")
        let dir = try folder(for: server, context: "ci@baton-dev")
        defer { Task { await server.stop(); dir.remove() } }
        let run = try await check(dir)
        #expect(run.status == 1)
        #expect(run.stdout.contains("namespace    shop (may not read it)\nmay apply    yes, in shop\nmay delete   no, in shop: may not delete deployments.apps"),
                "\(run.stdout)")
        #expect(run.stderr == "baton: cluster check for dev failed: the identity may not delete deployments.apps in namespace shop\n")
    }

    @Test("an unreachable server exits 1 with the reason; an unknown environment exits 2")
    func unreachableAndUnknown() async throws {
        let server = try await KubeSimServer.start()
        let dir = try folder(for: server)
        defer { dir.remove() }
        await server.stop()
        let run = try await check(dir)
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix("baton: cluster check for dev failed: cannot connect to \(server.url)/version"), "\(run.stderr)")
        let unknown = try await check(dir, "qa")
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "baton: no environment \"qa\" in \(dir.path)/Environments (environments: dev)\n")
    }

    @Test("a context the kubeconfig lacks exits 1 naming the file and the context")
    func missingContext() async throws {
        let server = try await KubeSimServer.start()
        let dir = try folder(for: server)
        defer { Task { await server.stop(); dir.remove() } }
        let environment = try String(contentsOfFile: dir.path + "/Environments/dev.yaml", encoding: .utf8)
        try dir.write("Environments/dev.yaml", environment.replacingOccurrences(of: "context: baton-dev", with: "context: kind-dev"))
        let run = try await check(dir)
        #expect(run.status == 1)
        #expect(run.stderr == "baton: cluster check for dev failed: \(dir.path)/kubeconfig: context \"kind-dev\" not found (contexts: baton-dev)\n")
    }
}
