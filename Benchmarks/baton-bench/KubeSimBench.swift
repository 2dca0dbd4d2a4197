import BatonCore
import Foundation
import KubeSim

/// KubeSim's throughput with 10,000 objects stored: GETs of one object and server-side
/// applies, driven by `wrk` (a separate load generator on loopback) for a few seconds each.
/// KubeSim must not be what limits Baton's own benchmarks: the target is at least 2,000
/// GETs a second.
enum KubeSimBench {
    static func run(seconds: Int) async throws -> (gets: Double, plainGets: Double, applies: Double) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-wrk-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Each wrk request picks another of the 10,000 objects, as user "reader" (a Role binds it).
        let get = """
            counter = 0
            request = function()
              counter = counter + 1
              return wrk.format("GET", "/api/v1/namespaces/default/configmaps/cm-" .. (counter % 10000), {["Authorization"] = "Bearer \(readerToken)"})
            end
            """
        let apply = """
            counter = 0
            request = function()
              counter = counter + 1
              local name = "cm-" .. (counter % 10000)
              local body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"' .. name .. '"},"data":{"round":"' .. counter .. '"}}'
              return wrk.format("PATCH", "/api/v1/namespaces/default/configmaps/" .. name .. "?fieldManager=bench&force=true",
                                {["Content-Type"] = "application/apply-patch+yaml", ["Authorization"] = "Bearer \(readerToken)"}, body)
            end
            """
        try Data(get.utf8).write(to: URL(fileURLWithPath: dir + "/get.lua"))
        try Data(apply.utf8).write(to: URL(fileURLWithPath: dir + "/apply.lua"))

        // The same requests by the same user, on a server that authorizes them by RBAC and on
        // one that does not.
        let withRBAC = try await server(rbac: true)
        let gets = try wrk(withRBAC.url, script: dir + "/get.lua", seconds: seconds)
        let applies = try wrk(withRBAC.url, script: dir + "/apply.lua", seconds: seconds)
        let configMaps = ResourceType.builtIn.first { $0.kind == "ConfigMap" }!
        let status = try await withRBAC.state.get(configMaps, namespace: "default", name: "cm-1")
        await withRBAC.stop()
        guard status["data"]?["round"] != nil else { throw KubeSimError(message: "the applies did not reach the store") }
        let withoutRBAC = try await server(rbac: false)
        let plainGets = try wrk(withoutRBAC.url, script: dir + "/get.lua", seconds: seconds)
        await withoutRBAC.stop()
        print("KubeSim with 10,000 ConfigMaps stored, wrk with 2 threads and 16 connections, \(seconds) s each, as a user bound by a")
        print("RoleBinding among 100 Roles and RoleBindings in other namespaces and 50 ClusterRoleBindings")
        print("")
        print("| request | per second | non-2xx | target |")
        print("|---|---:|---:|---:|")
        print(String(format: "| GET one object, RBAC on | %.0f | %d | 10000 |", gets.rate, gets.errors))
        print(String(format: "| GET one object, RBAC off | %.0f | %d | — |", plainGets.rate, plainGets.errors))
        print(String(format: "| server-side apply, RBAC on | %.0f | %d | — |", applies.rate, applies.errors))
        print(String(format: "RBAC on / off: %.2f", gets.rate / plainGets.rate))
        return (gets.rate, plainGets.rate, applies.rate)
    }

    static let readerToken = "bench-reader-token"

    /// A plain-HTTP server with 10,000 ConfigMaps in `default`, user "reader" (token
    /// `readerToken`) allowed to read and apply them by a RoleBinding, and other RBAC objects
    /// around it so that evaluation has something to search.
    static func server(rbac: Bool) async throws -> KubeSimServer {
        var configuration = KubeSimServer.Configuration()
        configuration.tls = false
        configuration.rbac = rbac
        configuration.users[readerToken] = UserInfo(name: "reader", groups: ["readers"])
        let server = try await KubeSimServer.start(configuration)
        func type(_ kind: String) -> ResourceType { ResourceType.builtIn.first { $0.kind == kind }! }
        for i in 0..<10_000 {
            _ = try await server.state.create(type("ConfigMap"), namespace: "default", body: .object([
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": .string("cm-\(i)")]),
                "data": .object(["index": .string(String(i))]),
            ]), manager: "bench")
        }
        for i in 0..<100 {
            let namespace = "team-\(i)"
            _ = try await server.state.create(type("Namespace"), namespace: "", body: ["apiVersion": "v1", "kind": "Namespace",
                                                                                      "metadata": .object(["name": .string(namespace)])], manager: "bench")
            _ = try await server.state.create(type("Role"), namespace: namespace, body: role("team"), manager: "bench")
            _ = try await server.state.create(type("RoleBinding"), namespace: namespace, body: binding("team", role: "team", user: "user-\(i)"),
                                              manager: "bench")
        }
        for i in 0..<50 {
            _ = try await server.state.create(type("ClusterRoleBinding"), namespace: "", body: binding("viewers-\(i)", clusterRole: "view", user: "viewer-\(i)"),
                                              manager: "bench")
        }
        _ = try await server.state.create(type("Role"), namespace: "default", body: role("config"), manager: "bench")
        _ = try await server.state.create(type("RoleBinding"), namespace: "default", body: binding("readers", role: "config", group: "readers"),
                                          manager: "bench")
        return server
    }

    static func role(_ name: String) -> JSONValue {
        ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": .object(["name": .string(name)]),
         "rules": [["apiGroups": ["", "apps"], "resources": ["deployments", "services", "secrets"], "verbs": ["get", "list", "watch"]],
                   ["apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch"]]]]
    }

    static func binding(_ name: String, role: String? = nil, clusterRole: String? = nil, user: String? = nil, group: String? = nil) -> JSONValue {
        let subject: JSONValue = user.map { ["kind": "User", "name": .string($0)] } ?? ["kind": "Group", "name": .string(group ?? "")]
        return ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": clusterRole == nil ? "RoleBinding" : "ClusterRoleBinding",
                "metadata": .object(["name": .string(name)]),
                "roleRef": .object(["apiGroup": "rbac.authorization.k8s.io", "kind": clusterRole == nil ? "Role" : "ClusterRole",
                                    "name": .string(role ?? clusterRole ?? "")]),
                "subjects": [subject]]
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
