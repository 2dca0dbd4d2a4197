import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import HTTP
import GitStore
import Kube
import KubeSim
import Manifests
import Reconciler

/// A config repository (real git, made with the git command line), a KubeSim cluster, Baton's
/// client for it, and a reconciler for environment `dev` (namespace `shop`, path `app`).
struct Fixture {
    let dir: TemporaryDirectory
    let git: GitCLI
    let server: KubeSimServer
    let client: KubeClient
    let store: GitStore
    /// The audit database that keeps the environments' inventories (a real SQLite file).
    let audit: AuditStore

    /// `users`: more users of the cluster by token (context `NAME@baton-dev`), allowed only
    /// what RBAC grants them; `client` is the admin's.
    static func start(rolloutDelay: Duration = .milliseconds(100), users: [String: UserInfo] = [:],
                      bookmarkInterval: Duration = .seconds(60)) async throws -> Fixture {
        let dir = try TemporaryDirectory("reconciler")
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/config", withIntermediateDirectories: true)
        let git = GitCLI(directory: dir.path + "/config", home: dir.path + "/home")
        try await git.run(["init", "-q", "-b", "main"])
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = rolloutDelay
        configuration.users = users
        configuration.bookmarkInterval = bookmarkInterval
        let server = try await KubeSimServer.start(configuration)
        try dir.write("kubeconfig", SimKubeconfig.yaml([("dev", server)]))
        let client = try KubeClient(try Kubeconfig.load(paths: [dir.path + "/kubeconfig"]).resolve())
        let store = try await GitStore.open(dir.path + "/config")
        let audit = try AuditStore(path: dir.path + "/baton.db")
        return Fixture(dir: dir, git: git, server: server, client: client, store: store, audit: audit)
    }

    func reconciler(name: String = "dev", namespace: String = "shop", path: String = "app", render: RenderMode = .auto, prune: Bool = true,
                    selfHeal: Bool = false, interval: TimeSpan = .minutes(3), createNamespace: Bool = false,
                    ignore: [IgnoreDifference] = [], client: KubeClient? = nil, scope: DeployScope = Fixture.crdScope) -> Reconciler {
        let environment = EnvironmentConfig(name: name, namespace: namespace, source: ManifestSource(path: path, render: render),
                                            sync: SyncPolicy(interval: interval, prune: prune, selfHeal: selfHeal, createNamespace: createNamespace),
                                            ignoreDifferences: ignore, scope: scope)
        return Reconciler(environment: environment, client: client ?? self.client, renderer: Renderer(store: store, cacheRoot: dir.path + "/cache"),
                          inventory: audit)
    }

    /// The scope most tests give their environment: its own namespace, Namespaces and CRDs.
    static let crdScope = DeployScope(clusterResources: ["Namespace", "apiextensions.k8s.io/CustomResourceDefinition"])

    /// A client for another context of the kubeconfig (`NAME@baton-dev` for a user of `start`).
    func client(context: String) throws -> KubeClient {
        try KubeClient(try Kubeconfig.load(paths: [dir.path + "/kubeconfig"]).resolve(context: context))
    }

    /// Commits `files` (and removes `remove`) and returns the commit.
    @discardableResult
    func commit(_ files: [String: String], remove: [String] = []) async throws -> String {
        for path in remove { try FileManager.default.removeItem(atPath: git.directory + "/" + path) }
        return try await git.commit("change", files: files)
    }

    /// A client for the cluster that gives up at once: one attempt, 1 s to connect and 1 s of
    /// silence at most (5 s for a whole request), its discovery already done (tried a few times:
    /// the limits can run out on a loaded machine). What a test of a fault passes through.
    func impatientClient() async throws -> KubeClient {
        let quick = try KubeClient(try Kubeconfig.load(paths: [dir.path + "/kubeconfig"]).resolve(), retry: .none,
                                   http: HTTPClient.Configuration(connectTimeout: .seconds(1), requestTimeout: .seconds(5), stallTimeout: .seconds(1)))
        var discovered = false
        for _ in 0..<10 where !discovered {
            discovered = (try? await quick.discover()) != nil
            if !discovered { try await Task.sleep(for: .milliseconds(200)) }
        }
        return quick
    }

    func kubectl(_ arguments: [String]) async throws -> CommandRun {
        try await CommandRun.run("/usr/bin/kubectl", ["--kubeconfig", dir.path + "/kubeconfig"] + arguments)
    }

    func stop() async {
        await server.stop()
        dir.remove()
    }
}

let namespaceYAML = """
    apiVersion: v1
    kind: Namespace
    metadata:
      name: shop
    """

func configMapYAML(_ name: String, _ value: String, wave: Int? = nil) -> String {
    """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: \(name)
    \(wave.map { "  annotations:\n    baton.dev/sync-wave: \"\($0)\"" } ?? "")
    data:
      value: "\(value)"
    """
}

func deploymentYAML(_ name: String, image: String, replicas: Int = 2, deadline: Int = 600) -> String {
    """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: \(name)
    spec:
      replicas: \(replicas)
      progressDeadlineSeconds: \(deadline)
      selector:
        matchLabels: {app: \(name)}
      template:
        metadata:
          labels: {app: \(name)}
        spec:
          containers:
          - name: main
            image: \(image)
    """
}
