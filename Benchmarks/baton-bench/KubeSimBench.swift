import Foundation
import KubeSim

/// KubeSim's throughput with 10,000 objects stored: GETs of one object and server-side
/// applies, driven by `wrk` (a separate load generator on loopback) for a few seconds each.
/// KubeSim must not be what limits Baton's own benchmarks: the target is at least 2,000
/// GETs a second.
enum KubeSimBench {
    static func run(seconds: Int) async throws -> (gets: Double, applies: Double) {
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
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-wrk-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Each wrk request picks another of the 10,000 objects.
        let get = """
            counter = 0
            request = function()
              counter = counter + 1
              return wrk.format("GET", "/api/v1/namespaces/default/configmaps/cm-" .. (counter % 10000))
            end
            """
        let apply = """
            counter = 0
            request = function()
              counter = counter + 1
              local name = "cm-" .. (counter % 10000)
              local body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"' .. name .. '"},"data":{"round":"' .. counter .. '"}}'
              return wrk.format("PATCH", "/api/v1/namespaces/default/configmaps/" .. name .. "?fieldManager=bench&force=true",
                                {["Content-Type"] = "application/apply-patch+yaml"}, body)
            end
            """
        try Data(get.utf8).write(to: URL(fileURLWithPath: dir + "/get.lua"))
        try Data(apply.utf8).write(to: URL(fileURLWithPath: dir + "/apply.lua"))
        let gets = try wrk(server.url, script: dir + "/get.lua", seconds: seconds)
        let applies = try wrk(server.url, script: dir + "/apply.lua", seconds: seconds)
        let status = try await server.state.get(configMaps, namespace: "default", name: "cm-1")
        await server.stop()
        guard status["data"]?["round"] != nil else { throw KubeSimError(message: "the applies did not reach the store") }
        print("KubeSim with 10,000 ConfigMaps stored, wrk with 2 threads and 16 connections, \(seconds) s each")
        print("")
        print("| request | per second | non-2xx | target |")
        print("|---|---:|---:|---:|")
        print(String(format: "| GET one object | %.0f | %d | 2000 |", gets.rate, gets.errors))
        print(String(format: "| server-side apply | %.0f | %d | — |", applies.rate, applies.errors))
        return (gets.rate, applies.rate)
    }

    /// Runs wrk and reads its "Requests/sec" and "Non-2xx" lines.
    static func wrk(_ url: String, script: String, seconds: Int) throws -> (rate: Double, errors: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t2", "-c16", "-d\(seconds)s", "-s", script, url]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        func number(after label: String) -> Double? {
            output.split(separator: "\n").first { $0.contains(label) }
                .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
        }
        guard let rate = number(after: "Requests/sec:") else { throw KubeSimError(message: "wrk printed no rate:\n\(output)") }
        return (rate, Int(number(after: "Non-2xx or 3xx responses:") ?? 0))
    }
}
