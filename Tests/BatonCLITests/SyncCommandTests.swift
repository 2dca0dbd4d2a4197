import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// `baton diff`, `baton sync` and `baton status`, run as the real binary against a KubeSim
/// cluster in this process and a real git repository.
@Suite("baton diff, sync, status")
struct SyncCommandTests {
    struct Setup {
        let dir: TemporaryDirectory
        let git: GitCLI
        let server: KubeSimServer

        func baton(_ arguments: [String]) async throws -> CommandRun {
            try await CommandRun.run(CommandRun.batonPath, arguments + ["--dir", dir.path], environment: ["BATON_ACTOR": "tester@example.com"])
        }
    }

    func setup() async throws -> Setup {
        let dir = try TemporaryDirectory("sync-command")
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/repo", withIntermediateDirectories: true)
        let git = GitCLI(directory: dir.path + "/repo", home: dir.path + "/home")
        try await git.run(["init", "-q", "-b", "main"])
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(200)
        let server = try await KubeSimServer.start(configuration)
        try dir.write("kubeconfig", SimKubeconfig.yaml([("dev", server)]))
        try dir.write("Environments/dev.yaml", """
            apiVersion: baton/v1
            kind: Environment
            name: dev
            cluster: {kubeconfig: \(dir.path)/kubeconfig, context: baton-dev}
            namespace: shop
            source: {path: app}
            sync: {prune: true, timeout: 20s}
            """)
        try dir.write("Pipelines/shop.yaml", """
            apiVersion: baton/v1
            kind: Pipeline
            name: shop
            repo: {url: ./repo, branch: main}
            stages:
              - environment: dev
            """)
        return Setup(dir: dir, git: git, server: server)
    }

    static let app: [String: String] = [
        "app/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
        "app/web.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: "shop:1"}]}
            """,
        "app/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n",
    ]

    @Test("diff shows the changes with Secret values masked; sync applies and waits for health; status and diff then agree")
    func diffSyncStatus() async throws {
        let setup = try await setup()
        defer { Task { await setup.server.stop(); setup.dir.remove() } }
        let first = try await setup.git.commit("first", files: Self.app)
        try await setup.git.run(["branch", "env/dev", first])

        let diff = try await setup.baton(["diff", "dev"])
        #expect(diff.status == 1)
        #expect(diff.stdout.contains("+ create Deployment.apps shop/web (app/web.yaml:1)"))
        #expect(diff.stdout.contains("password: \"++++++++\"") && !diff.stdout.contains("hunter2"), "\(diff.stdout)")
        #expect(diff.stdout.hasSuffix("dev at \(first.prefix(8)): 3 to create, 0 to update, 0 to prune, 0 unchanged\n"))

        let sync = try await setup.baton(["sync", "dev"])
        #expect(sync.status == 0, "\(sync.stdout)\(sync.stderr)")
        #expect(sync.stdout.contains("create  Deployment.apps  shop       web    Healthy"), "\(sync.stdout)")
        #expect(sync.stdout.hasSuffix("environment dev at \(first.prefix(8)): Synced, Healthy\n"))

        // The sync is in the audit log: who, which revision, what it did to each object.
        let events = try AuditStore(path: setup.dir.path + "/.baton/baton.db").events()
        #expect(events.map(\.kind) == ["sync"])
        #expect(events.first?.actor == "tester@example.com" && events.first?.revision == first && events.first?.environment == "dev")
        #expect(events.first?.details.contains(#"{"action":"create","error":null,"object":"Deployment.apps shop/web"}"#) == true,
                "\(events.first?.details ?? "")")
        #expect(events.first.map { !$0.details.contains("hunter2") } == true)

        let status = try await setup.baton(["status", "dev"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("Synced  Deployment.apps  shop       web    Healthy"), "\(status.stdout)")
        let again = try await setup.baton(["diff", "dev"])
        #expect(again.status == 0 && again.stdout == "dev at \(first.prefix(8)): 0 to create, 0 to update, 0 to prune, 3 unchanged\n")

        // A new commit not yet on the env ref: --revision previews it.
        let second = try await setup.git.commit("second", files: ["app/web.yaml": Self.app["app/web.yaml"]!.replacingOccurrences(of: "shop:1", with: "shop:2")])
        let preview = try await setup.baton(["diff", "dev", "--revision", second])
        #expect(preview.status == 1)
        let lines = preview.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("    - ") && $0.contains("image: \"shop:1\"") }, "\(preview.stdout)")
        #expect(lines.contains { $0.hasPrefix("    + ") && $0.contains("image: \"shop:2\"") }, "\(preview.stdout)")
        #expect(preview.stdout.contains("~ update Deployment.apps shop/web (app/web.yaml:1)"))
        let dry = try await setup.baton(["sync", "dev", "--revision", "main", "--dry-run"])
        #expect(dry.status == 1 && dry.stdout.contains("dry run: environment dev at \(second.prefix(8)): OutOfSync"))
        #expect(try AuditStore(path: setup.dir.path + "/.baton/baton.db").events().count == 1, "a dry run was recorded")
        // Without --dry-run, a revision other than its ref's (env/dev, at `first`) would bypass
        // the pipeline: refused, recorded, nothing applied.
        let writes = ["PATCH", "POST", "PUT", "DELETE"].map { setup.server.requests.count($0) }.reduce(0, +)
        let bypass = try await setup.baton(["sync", "dev", "--revision", second])
        #expect(bypass.status == 1 && bypass.stderr.contains("refused: dev runs what pipeline") && bypass.stderr.contains("bypass its gates"),
                "\(bypass.stderr)")
        let recorded = try AuditStore(path: setup.dir.path + "/.baton/baton.db").events()
        #expect(recorded.map(\.kind) == ["sync", "sync-refused"] && recorded.last?.revision == second)
        #expect(["PATCH", "POST", "PUT", "DELETE"].map { setup.server.requests.count($0) }.reduce(0, +) == writes,
                "the refused sync wrote to the cluster")
        let json = try await setup.baton(["status", "dev", "--output", "json"])
        let report = try #require(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["revision"] as? String == first && report["synced"] as? Bool == true && report["health"] as? String == "Healthy")
    }

    @Test("a revision that does not render exits 1 naming file and line; nothing is applied")
    func brokenRevision() async throws {
        let setup = try await setup()
        defer { Task { await setup.server.stop(); setup.dir.remove() } }
        var files = Self.app
        files["app/bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n"
        try await setup.git.commit("broken", files: files)
        let sync = try await setup.baton(["sync", "dev"])
        #expect(sync.status == 1)
        #expect(sync.stderr.contains("baton: env/dev does not exist yet; using main"))
        #expect(sync.stderr.contains("baton: render failed: app/bad.yaml:"), "\(sync.stderr)")
        #expect(setup.server.requests.count("PATCH") == 0)
        let unknown = try await setup.baton(["status", "qa"])
        #expect(unknown.status == 2)
    }
}
