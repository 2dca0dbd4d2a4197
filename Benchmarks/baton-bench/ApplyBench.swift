import BatonCore
import Foundation
import Kube
import KubeSim

/// Server-side apply of 1,000 manifests to one KubeSim cluster (HTTPS, token): Baton's client
/// against `kubectl apply --server-side -f DIR`, each into a fresh namespace, in one run.
/// Both read the same YAML files; Baton's time includes reading them, discovery and the
/// applies. Target: Baton takes at most half of kubectl's time.
enum ApplyBench {
    static func run() async throws -> (kubectl: Double, baton: Double) {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .seconds(3600)  // keep the controllers out of the measurement
        let server = try await KubeSimServer.start(configuration)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-apply-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/manifests", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(SimKubeconfig.yaml([("bench", server)]).utf8).write(to: URL(fileURLWithPath: dir + "/kubeconfig"))
        for index in 0..<1000 {
            try Data(manifest(index).utf8).write(to: URL(fileURLWithPath: dir + "/manifests/" + String(format: "%04d.yaml", index)))
        }
        let client = try KubeClient(try Kubeconfig.load(paths: [dir + "/kubeconfig"]).resolve())
        for namespace in ["bench-kubectl", "bench-baton"] {
            try await client.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(namespace)])]))
        }

        let clock = ContinuousClock()
        let kubectl = try await clock.measure {
            try await SyncBench.kubectl(["apply", "--server-side", "-f", dir + "/manifests", "-n", "bench-kubectl",
                                         "--kubeconfig", dir + "/kubeconfig"])
        }
        let baton = try await clock.measure {
            let fresh = try KubeClient(try Kubeconfig.load(paths: [dir + "/kubeconfig"]).resolve())
            let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/manifests").sorted()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for file in files {
                    group.addTask {
                        var object = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/manifests/" + file)))
                        object[path: ["metadata", "namespace"]] = "bench-baton"
                        try await fresh.apply(object)
                    }
                }
                try await group.waitForAll()
            }
        }
        // Both namespaces must hold every object.
        for namespace in ["bench-kubectl", "bench-baton"] {
            var total = 0
            for (apiVersion, kind) in [("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "Deployment")] {
                total += try await client.list(apiVersion: apiVersion, kind: kind, namespace: namespace).items.count
            }
            guard total == 1000 else { throw KubeSimError(message: "\(namespace) holds \(total) objects, not 1000") }
        }
        await server.stop()
        print("Server-side apply of 1,000 manifests (400 ConfigMaps, 300 Services, 300 Deployments) to KubeSim over HTTPS")
        print("")
        print("| client | time | objects/s |")
        print("|---|---:|---:|")
        print(String(format: "| kubectl apply --server-side -f DIR | %.2f s | %.0f |", kubectl.seconds, 1000 / kubectl.seconds))
        print(String(format: "| Baton (Kube client, 32 in flight) | %.2f s | %.0f |", baton.seconds, 1000 / baton.seconds))
        print(String(format: "\nBaton / kubectl: %.2f (target: at most 0.50)", baton.seconds / kubectl.seconds))
        return (kubectl.seconds, baton.seconds)
    }

    static func manifest(_ index: Int) -> String {
        switch index % 10 {
        case 0..<4:
            return """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: config-\(index)
                  labels: {app: bench, index: "\(index)"}
                data:
                  settings.yaml: |
                    replicas: 3
                    feature: enabled-\(index)
                """
        case 4..<7:
            return """
                apiVersion: v1
                kind: Service
                metadata:
                  name: svc-\(index)
                  labels: {app: bench}
                spec:
                  selector: {app: web-\(index)}
                  ports:
                  - {name: http, port: 80, targetPort: 8080}
                """
        default:
            return """
                apiVersion: apps/v1
                kind: Deployment
                metadata:
                  name: web-\(index)
                  labels: {app: web-\(index)}
                spec:
                  replicas: 2
                  selector:
                    matchLabels: {app: web-\(index)}
                  template:
                    metadata:
                      labels: {app: web-\(index)}
                    spec:
                      containers:
                      - name: web
                        image: nginx:1.27
                        ports: [{containerPort: 8080}]
                        env: [{name: INDEX, value: "\(index)"}]
                """
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
