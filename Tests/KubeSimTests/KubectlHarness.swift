import BatonTestSupport
import Foundation
import KubeSim

/// A KubeSim server in this process and the real `kubectl` pointed at it through a
/// kubeconfig in a temp folder (HOME too, so kubectl's discovery cache stays there).
struct KubectlHarness {
    let server: KubeSimServer
    let dir: TemporaryDirectory

    static func start(rolloutDelay: Duration = .milliseconds(300), users: [String: UserInfo] = [:]) async throws -> KubectlHarness {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = rolloutDelay
        configuration.users = users
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("kubesim-test")
        try dir.write("kubeconfig", SimKubeconfig.yaml([("dev", server)]))
        return KubectlHarness(server: server, dir: dir)
    }

    func stop() async {
        await server.stop()
        dir.remove()
    }

    /// Runs `kubectl ARGS` against the server.
    @discardableResult
    func kubectl(_ arguments: String...) async throws -> CommandRun {
        try await run(arguments)
    }

    func run(_ arguments: [String]) async throws -> CommandRun {
        try await CommandRun.run("/usr/bin/kubectl", ["--kubeconfig", dir.path + "/kubeconfig", "--cache-dir", dir.path + "/cache",
                                                "--request-timeout", "20s"] + arguments,
                           in: dir.path, environment: ["HOME": dir.path, "PATH": "/usr/bin:/bin"], replacingEnvironment: true)
    }

    /// Writes `text` to a file in the temp folder and returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        try dir.write(name, text)
        return dir.path + "/" + name
    }

    static let app = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          namespace: shop
          labels: {app: web}
        spec:
          replicas: 2
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  ports:
                    - containerPort: 80
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: shop
        spec:
          selector: {app: web}
          ports:
            - port: 80
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: web-config
          namespace: shop
        data:
          greeting: hello

        """
}
