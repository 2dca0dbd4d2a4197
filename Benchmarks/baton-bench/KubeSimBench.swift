import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import KubeSim

/// KubeSim's throughput with 10,000 objects stored: GETs of one object and server-side
/// applies, over HTTP from 8 concurrent clients for a few seconds each. KubeSim must not be
/// what limits Baton's own benchmarks: the target is at least 2,000 GETs a second.
enum KubeSimBench {
    static func run(seconds: Double) async throws {
        var configuration = KubeSimServer.Configuration()
        configuration.tls = false
        configuration.token = nil
        let server = try await KubeSimServer.start(configuration)
        let configMaps = ResourceType.builtIn.first { $0.kind == "ConfigMap" }!
        for i in 0..<10_000 {
            _ = try await server.state.create(configMaps, namespace: "default", body: .object([
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": .string("cm-\(i)")]),
                "data": .object(["index": .string(String(i))]),
            ]), manager: "bench")
        }
        let session = URLSession(configuration: .ephemeral)
        let base = server.url + "/api/v1/namespaces/default/configmaps/"

        let gets = try await measure(seconds: seconds, session: session) { n in
            var request = URLRequest(url: URL(string: base + "cm-\(n % 10_000)")!)
            request.httpMethod = "GET"
            return request
        }
        let applies = try await measure(seconds: seconds, session: session) { n in
            var request = URLRequest(url: URL(string: base + "cm-\(n % 10_000)?fieldManager=bench-apply&force=true")!)
            request.httpMethod = "PATCH"
            request.setValue("application/apply-patch+yaml", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-\#(n % 10_000)"},"data":{"round":"\#(n)"}}"#.utf8)
            return request
        }
        await server.stop()
        print("KubeSim with 10,000 ConfigMaps stored, 8 concurrent HTTP clients, \(Int(seconds)) s each")
        print("")
        print("| request | per second | target |")
        print("|---|---:|---:|")
        print(String(format: "| GET one object | %.0f | 2000 |", gets))
        print(String(format: "| server-side apply | %.0f | — |", applies))
    }

    /// Requests per second answered with 2xx by 8 workers sending `make(n)` for `seconds`.
    static func measure(seconds: Double, session: URLSession, _ make: @escaping @Sendable (Int) -> URLRequest) async throws -> Double {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(seconds * 1_000))
        let start = clock.now
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var n = worker, ok = 0
                    while clock.now < deadline {
                        let (_, response) = try await session.data(for: make(n))
                        if let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) { ok += 1 }
                        n += 8
                    }
                    return ok
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = (clock.now - start).components
        return Double(counts) / (Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
    }
}
