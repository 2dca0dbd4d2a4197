import BatonCore
import BatonTestSupport
import Foundation
import KubeSim

/// KubeSim with simulated applications to aim gates at: each a Deployment and a Service.
enum SimApp {
    /// Runs `image` behind the service `name` in `default`.
    static func deploy(_ server: KubeSimServer, _ name: String, image: String) async throws {
        let deployments = ResourceType.builtIn.first { $0.kind == "Deployment" }!
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name)],
            "spec": ["selector": ["matchLabels": ["app": .string(name)]],
                     "template": ["metadata": ["labels": ["app": .string(name)]],
                                  "spec": ["containers": [["name": "app", "image": .string(image)]]]]],
        ]
        _ = try await server.state.apply(deployments, namespace: "default", name: name, body: deployment.encoded(), manager: "test", force: true)
        try await service(server, name)
    }

    /// A Service `name` in `default` (with no Deployment behind it unless one is deployed).
    static func service(_ server: KubeSimServer, _ name: String) async throws {
        let services = ResourceType.builtIn.first { $0.kind == "Service" }!
        let service: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": .string(name)],
                                  "spec": ["selector": ["app": .string(name)], "ports": [["port": 80]]]]
        _ = try await server.state.apply(services, namespace: "default", name: name, body: service.encoded(), manager: "test", force: true)
    }

    /// Waits until the service answers 200 (its Deployment rolled out).
    static func waitAvailable(_ server: KubeSimServer, _ name: String, caFile: String) async throws {
        for _ in 0..<100 {
            let run = try await CommandRun.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile,
                                                                     server.url + "/sim/services/default/\(name)/healthz"])
            if run.stdout == "200" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CancellationError()
    }
}
