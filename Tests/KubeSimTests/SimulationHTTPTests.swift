import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// Simulated application traffic, metrics and injected faults, over HTTP with curl.
@Suite("KubeSim: simulated traffic, metrics and faults")
struct SimulationHTTPTests {
    func curl(_ server: KubeSimServer, _ path: String, method: String = "GET", body: String? = nil, dir: TemporaryDirectory) async throws -> (code: Int, body: String) {
        try dir.write("ca.pem", server.caPEM ?? "")
        var arguments = ["-s", "-o", "-", "-w", "\n%header{retry-after}\n%{http_code}", "--cacert", dir.path + "/ca.pem",
                         "-H", "Authorization: Bearer \(server.token ?? "")", "-X", method]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data", body] }
        let run = try await CommandRun.runAsync("/usr/bin/curl", arguments + [server.url + path])
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    /// The Retry-After header of the last answer is the line before the code.
    func retryAfter(_ body: String) -> String {
        String(body.split(separator: "\n", omittingEmptySubsequences: false).last ?? "")
    }

    static func apply(_ server: KubeSimServer, image: String) async throws {
        let deployments = ResourceType.builtIn.first { $0.kind == "Deployment" }!
        let services = ResourceType.builtIn.first { $0.kind == "Service" }!
        let deployment: JSONValue = [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"],
            "spec": ["selector": ["matchLabels": ["app": "web"]],
                     "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": .string(image)]]]]],
        ]
        let service: JSONValue = ["apiVersion": "v1", "kind": "Service", "metadata": ["name": "web"],
                                  "spec": ["selector": ["app": "web"], "ports": [["port": 80]]]]
        _ = try await server.state.apply(deployments, namespace: "default", name: "web", body: deployment.encoded(), manager: "t", force: true)
        _ = try await server.state.apply(services, namespace: "default", name: "web", body: service.encoded(), manager: "t", force: true)
    }

    @Test("a service answers 503 until its deployment is available, then 200; -errors serves one 500 in five")
    func traffic() async throws {
        var configuration = KubeSimServer.Configuration()
        // Long enough that the 503 before the rollout is seen even when starting curl is slow.
        configuration.rolloutDelay = .seconds(2)
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("kubesim-http")
        defer { Task { await server.stop(); dir.remove() } }
        #expect(try await curl(server, "/sim/services/default/web/healthz", dir: dir).code == 503)
        try await Self.apply(server, image: "shop:1")
        #expect(try await curl(server, "/sim/services/default/web/healthz", dir: dir).code == 503)
        // Once the rollout delay has passed (polled, so a loaded machine does not fail it).
        var code = 0
        for _ in 0..<100 where code != 200 {
            try await Task.sleep(for: .milliseconds(100))
            code = try await curl(server, "/sim/services/default/web/healthz", dir: dir).code
        }
        #expect(code == 200)

        try await Self.apply(server, image: "shop:2-errors")
        var codes: [Int] = []
        for _ in 0..<10 { codes.append(try await curl(server, "/sim/services/default/web/", dir: dir).code) }
        #expect(codes.filter { $0 == 500 }.count == 2, "\(codes)")
        #expect(codes.filter { $0 == 200 }.count == 8, "\(codes)")

        let metrics = try await curl(server, "/metrics", dir: dir)
        #expect(metrics.code == 200)
        #expect(metrics.body.contains(#"sim_http_requests_total{namespace="default",service="web",code="500"}"#))
        #expect(metrics.body.contains(#"sim_http_requests_total{namespace="default",service="web",code="200"}"#))
    }

    @Test("injected faults: a share of 500s, 429 with Retry-After, then back to normal")
    func faults() async throws {
        let server = try await KubeSimServer.start()
        let dir = try TemporaryDirectory("kubesim-http")
        defer { Task { await server.stop(); dir.remove() } }
        #expect(try await curl(server, "/sim/faults", method: "POST", body: #"{"errorRate": 1}"#, dir: dir).code == 200)
        let failed = try await curl(server, "/api/v1/namespaces", dir: dir)
        #expect(failed.code == 500)
        #expect(failed.body.contains(#""reason":"InternalError""#))
        _ = try await curl(server, "/sim/faults", method: "POST", body: #"{"throttleRate": 1, "retryAfterSeconds": 3}"#, dir: dir)
        let throttled = try await curl(server, "/api/v1/namespaces", dir: dir)
        #expect(throttled.code == 429)
        #expect(throttled.body.contains(#""retryAfterSeconds":3"#))
        #expect(retryAfter(throttled.body) == "3")
        _ = try await curl(server, "/sim/faults", method: "POST", body: "{}", dir: dir)
        #expect(try await curl(server, "/api/v1/namespaces", dir: dir).code == 200)
        #expect(try await curl(server, "/healthz", dir: dir).code == 200)

        // Refusing connections for three seconds: curl cannot connect (code 0), then it can again.
        // (Polled: the refusal starts a moment after the answer, later on a busy machine.)
        #expect(try await curl(server, "/sim/faults", method: "POST", body: #"{"refuseSeconds": 3}"#, dir: dir).code == 200)
        var waited = 0
        while FreePort.canConnect(server.port), waited < 60 {
            try await Task.sleep(for: .milliseconds(50))
            waited += 1
        }
        #expect(!FreePort.canConnect(server.port))
        #expect(try await curl(server, "/healthz", dir: dir).code == 0)
        var code = 0
        for _ in 0..<100 where code != 200 {
            try await Task.sleep(for: .milliseconds(100))
            code = try await curl(server, "/healthz", dir: dir).code
        }
        #expect(code == 200, "the server did not listen again")
    }
}
