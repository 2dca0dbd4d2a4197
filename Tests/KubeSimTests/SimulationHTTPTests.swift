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
        let run = try await CommandRun.run("/usr/bin/curl", arguments + [server.url + path])
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

    /// What curl received on `path` within `seconds` (a watch is cut off then), and curl's exit
    /// status; `connectTimeout` bounds the connect and TLS handshake.
    func stream(_ server: KubeSimServer, _ path: String, seconds: Double, connectTimeout: Double = 5,
                dir: TemporaryDirectory) async throws -> (status: Int32, body: String) {
        try dir.write("ca.pem", server.caPEM ?? "")
        let run = try await CommandRun.run("/usr/bin/curl", [
            "-s", "-N", "--cacert", dir.path + "/ca.pem", "-H", "Authorization: Bearer \(server.token ?? "")",
            "--connect-timeout", String(connectTimeout), "--max-time", String(seconds), server.url + path,
        ])
        return (run.status, run.stdout)
    }

    static let configMaps = ResourceType.builtIn.first { $0.kind == "ConfigMap" }!

    static func configMap(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name)], "data": ["a": "1"]]
    }

    @Test("a watch that allows bookmarks gets one every interval with the current resourceVersion; one that does not gets none")
    func bookmarks() async throws {
        var configuration = KubeSimServer.Configuration()
        configuration.bookmarkInterval = .milliseconds(500)
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("kubesim-http")
        defer { Task { await server.stop(); dir.remove() } }
        _ = try await server.state.create(Self.configMaps, namespace: "default", body: Self.configMap("one"), manager: "test")
        let now = await server.state.revision
        async let with = stream(server, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(now)&allowWatchBookmarks=true",
                                seconds: 30, dir: dir)
        async let without = stream(server, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(now)", seconds: 30, dir: dir)
        // Timed from when both watches are open (curl may take a while to start on a busy machine).
        try await waitUntil("two watches to be open") { await server.state.watcherCount >= 2 }
        try await Task.sleep(for: .milliseconds(1600))
        _ = try await server.state.create(Self.configMaps, namespace: "default", body: Self.configMap("two"), manager: "test")
        let later = await server.state.revision
        try await Task.sleep(for: .milliseconds(1600))
        await server.state.dropWatches()  // ends both answers
        let (bookmarked, plain) = try await (with, without)
        let events = bookmarked.body.split(separator: "\n").compactMap { try? JSONValue.parse(Data($0.utf8)) }
        let marks = events.filter { $0["type"]?.string == "BOOKMARK" }
        // About six in 3.2 s at 0.5 s; a loaded machine may send fewer, but one after the change.
        #expect(marks.count >= 2, "\(bookmarked.body)")
        #expect(marks.allSatisfy { $0[path: ["object", "kind"]]?.string == "ConfigMap" && $0[path: ["object", "apiVersion"]]?.string == "v1" })
        // Each names the version reached, in order with the events: never behind one already sent.
        let versions = events.compactMap { Int64($0[path: ["object", "metadata", "resourceVersion"]]?.string ?? "") }
        #expect(versions == versions.sorted(), "\(versions)")
        #expect(marks.last.flatMap { Int64($0[path: ["object", "metadata", "resourceVersion"]]?.string ?? "") } == later)
        #expect(events.contains { $0["type"]?.string == "ADDED" && $0[path: ["object", "metadata", "name"]]?.string == "two" })
        #expect(!plain.body.contains("BOOKMARK") && plain.body.contains(#""name":"two""#), "\(plain.body)")
    }

    @Test("a black hole: a new connection never gets through its TLS handshake; a watch it caught stays silent after it; new connections work again")
    func blackHole() async throws {
        var configuration = KubeSimServer.Configuration()
        configuration.bookmarkInterval = .milliseconds(300)
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("kubesim-http")
        defer { Task { await server.stop(); dir.remove() } }
        let start = await server.state.revision
        // A watch open across the hole: the bookmarks written meanwhile are lost and catch it.
        async let caught = stream(server, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(start)&allowWatchBookmarks=true",
                                  seconds: 10, dir: dir)
        try await waitUntil("the watch to be open") { await server.state.watcherCount >= 1 }
        try await Task.sleep(for: .milliseconds(1000))  // a few bookmarks get through
        // Five seconds, so that a test process starved by the rest of the suite still sees it open.
        #expect(try await curl(server, "/sim/faults", method: "POST", body: #"{"blackHoleSeconds": 5}"#, dir: dir).code == 200)
        for _ in 0..<160 where !server.simulation.faults.blackHole.isOpen { try await Task.sleep(for: .milliseconds(25)) }
        #expect(server.simulation.faults.blackHole.isOpen)
        let during = try await stream(server, "/version", seconds: 1.5, connectTimeout: 1, dir: dir)
        #expect(during.status == 28, "curl should time out (28), got \(during.status): \(during.body)")
        _ = try await server.state.create(Self.configMaps, namespace: "default", body: Self.configMap("during"), manager: "test")
        for _ in 0..<200 where server.simulation.faults.blackHole.isOpen { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try await curl(server, "/version", dir: dir).code == 200, "a new connection after the hole")
        _ = try await server.state.create(Self.configMaps, namespace: "default", body: Self.configMap("after"), manager: "test")
        try await Task.sleep(for: .milliseconds(500))
        await server.state.dropWatches()  // the server ends the answer: nothing of that reaches a half-open connection either
        let watched = try await caught
        #expect(watched.status == 28, "curl should still be waiting when cut off (28), got \(watched.status)")
        #expect(watched.body.contains("BOOKMARK"), "the watch heard nothing before the hole: \(watched.body)")
        #expect(!watched.body.contains(#""name":"during""#) && !watched.body.contains(#""name":"after""#),
                "a half-open connection delivered: \(watched.body)")
    }

    @Test("a watch from a version older than the kept history opens and gets one ERROR event with a 410 Expired Status")
    func watchTooOld() async throws {
        let server = try await KubeSimServer.start(state: ClusterState(historyLimit: 5))
        let dir = try TemporaryDirectory("kubesim-http")
        defer { Task { await server.stop(); dir.remove() } }
        let first = await server.state.revision
        for index in 0..<20 {
            _ = try await server.state.create(Self.configMaps, namespace: "default", body: Self.configMap("cm-\(index)"), manager: "test")
        }
        let watched = try await stream(server, "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=\(first + 1)", seconds: 10, dir: dir)
        #expect(watched.status == 0, "the answer did not end by itself")
        let lines = watched.body.split(separator: "\n").compactMap { try? JSONValue.parse(Data($0.utf8)) }
        #expect(lines.count == 1, "\(watched.body)")
        #expect(lines.first?["type"] == "ERROR" && lines.first?[path: ["object", "code"]] == .int(410))
        #expect(lines.first?[path: ["object", "reason"]] == "Expired")
        #expect(lines.first?[path: ["object", "message"]]?.string?.hasPrefix("too old resource version: \(first + 1) (") == true, "\(watched.body)")
    }
}
