import BatonCore
import Foundation

/// The simulated cluster behind the API: controllers that fill in status, application
/// traffic for HTTP and metric gates, and injected faults. `tick(now:)` advances it; a
/// running server calls it every 100 ms, tests call it with their own clock.
public actor Simulation {
    let state: ClusterState
    let controllers: Controllers
    public nonisolated let faults: Faults
    /// When each workload's current generation was first seen.
    private var rolloutStarted: [ObjectKey: (generation: Int64, at: Date)] = [:]
    /// `sim_http_requests_total` by (namespace, service, code).
    private var requests: [String: [String: [Int: Int64]]] = [:]
    private var lastTraffic: Date?

    /// How often a watch that asked for bookmarks gets one (kube-apiserver: about a minute).
    let bookmarkInterval: Duration

    public init(state: ClusterState, rolloutDelay: Duration = .seconds(1), faults: Faults.Settings = .init(),
                bookmarkInterval: Duration = .seconds(60)) {
        self.state = state
        self.bookmarkInterval = bookmarkInterval
        self.controllers = Controllers(rolloutDelay: rolloutDelay)
        self.faults = Faults(faults)
    }

    /// Runs every controller once, and once a second adds steady traffic to each service.
    public func tick(now: Date = Date()) async {
        await state.finishTerminatingNamespaces()
        await state.runDeploymentController()
        await state.runEndpointControllers()
        await state.runServiceAccountController()
        for (group, plural, kind) in [("apps", "deployments", "Deployment"), ("apps", "statefulsets", "StatefulSet"),
                                      ("apps", "daemonsets", "DaemonSet"), ("apps", "replicasets", "ReplicaSet")] {
            for (key, object) in await state.objects(group: group, plural: plural) {
                let generation = object[path: ["metadata", "generation"]]?.int ?? 1
                if rolloutStarted[key]?.generation != generation { rolloutStarted[key] = (generation, now) }
                let status = controllers.workloadStatus(kind: kind, object: object, since: rolloutStarted[key]!.at, now: now)
                await state.setStatus(key, status)
            }
        }
        for (key, job) in await state.objects(group: "batch", plural: "jobs") {
            let generation = job[path: ["metadata", "generation"]]?.int ?? 1
            if rolloutStarted[key]?.generation != generation { rolloutStarted[key] = (generation, now) }
            let done = now.timeIntervalSince(rolloutStarted[key]!.at) >= Controllers.delay(job, default: controllers.rolloutDelay)
            let failed = Controllers.isBroken(job)
            var status: [String: JSONValue] = ["startTime": .string(Controllers.format(rolloutStarted[key]!.at))]
            if done && failed {
                status["failed"] = 1
                status["conditions"] = [.object(["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"])]
            } else if done {
                status["succeeded"] = 1
                status["completionTime"] = .string(Controllers.format(now))
                status["conditions"] = [.object(["type": "Complete", "status": "True"])]
            } else {
                status["active"] = 1
            }
            await state.setStatus(key, .object(status))
        }
        for (key, claim) in await state.objects(group: "", plural: "persistentvolumeclaims") {
            var status: JSONValue = .object(["phase": "Bound", "accessModes": claim[path: ["spec", "accessModes"]] ?? ["ReadWriteOnce"]])
            if let storage = claim[path: ["spec", "resources", "requests", "storage"]] { status["capacity"] = .object(["storage": storage]) }
            await state.setStatus(key, status)
        }
        for (key, service) in await state.objects(group: "", plural: "services") {
            let balanced = service[path: ["spec", "type"]]?.string == "LoadBalancer"
            await state.setStatus(key, balanced ? .object(["loadBalancer": .object(["ingress": [.object(["ip": "127.0.0.1"])]])])
                                                : .object(["loadBalancer": .object([:])]))
        }
        for (key, _) in await state.objects(group: "", plural: "pods") {
            await state.setStatus(key, .object(["phase": "Running", "conditions": [.object(["type": "Ready", "status": "True"])]]))
        }
        if lastTraffic.map({ now.timeIntervalSince($0) >= 1 }) ?? true {
            lastTraffic = now
            // Every service's backends are found once per round, from one read of the store.
            let deployments = Dictionary(grouping: await state.objects(group: "apps", plural: "deployments").map(\.1)) {
                $0[path: ["metadata", "namespace"]]?.string ?? ""
            }
            for (key, service) in await state.objects(group: "", plural: "services") {
                let backend = Self.backend(of: service, among: deployments[key.namespace] ?? [])
                for _ in 0..<10 {
                    let code = respond(backend)
                    requests[key.namespace, default: [:]][key.name, default: [:]][code, default: 0] += 1
                }
            }
        }
    }

    /// Calls `tick` every 100 ms until the task is cancelled; with `stateFile`, writes the
    /// cluster there whenever it changed (and once more at the end).
    public func run(stateFile: String? = nil) async {
        while !Task.isCancelled {
            await tick()
            await state.sendBookmarks(every: bookmarkInterval)
            await save(to: stateFile)
            try? await Task.sleep(for: .milliseconds(100))
        }
        await save(to: stateFile)
    }

    private var savedRevision: Int64 = -1

    private func save(to stateFile: String?) async {
        guard let stateFile else { return }
        let revision = await state.revision
        guard revision != savedRevision else { return }
        savedRevision = revision
        try? await state.snapshot().write(to: URL(fileURLWithPath: stateFile), options: .atomic)
    }

    /// The code a request to a service gets: 503 unless a Deployment it selects is
    /// available; one in five is 500 when that Deployment runs an `-errors` image.
    private func answer(namespace: String, service: String, count: Bool) async -> Int {
        let code = await code(namespace: namespace, service: service)
        if count { requests[namespace, default: [:]][service, default: [:]][code, default: 0] += 1 }
        return code
    }

    private var rotation = 0

    private func code(namespace: String, service: String) async -> Int {
        guard let svc = try? await state.get(.service, namespace: namespace, name: service) else { return 503 }
        let deployments = await state.objects(group: "apps", plural: "deployments").map(\.1).filter {
            $0[path: ["metadata", "namespace"]]?.string == namespace
        }
        return respond(Self.backend(of: svc, among: deployments))
    }

    /// An available Deployment (of `deployments`, all in the service's namespace) that the
    /// service's selector matches.
    static func backend(of service: JSONValue, among deployments: [JSONValue]) -> JSONValue? {
        guard let selector = service[path: ["spec", "selector"]]?.object?.compactMapValues(\.string), !selector.isEmpty else { return nil }
        return deployments.first { deployment in
            selector.allSatisfy { deployment[path: ["spec", "template", "metadata", "labels", $0.key]]?.string == $0.value }
                && (deployment[path: ["status", "conditions"]]?.array ?? []).contains { $0["type"] == "Available" && $0["status"] == "True" }
        }
    }

    /// 503 without a backend; one answer in five 500 when it runs an `-errors` image.
    private func respond(_ backend: JSONValue?) -> Int {
        guard let backend else { return 503 }
        rotation += 1
        if Controllers.servesErrors(backend) && rotation % 5 == 0 { return 500 }
        return 200
    }

    /// `GET /sim/services/NAMESPACE/NAME/PATH`.
    func serviceTraffic(_ path: String) async throws -> SimResponse {
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count >= 4 else { throw APIError.notFoundPath(path) }
        let code = await answer(namespace: parts[2], service: parts[3], count: true)
        let text = code == 200 ? "ok\n" : code == 500 ? "internal error (simulated)\n" : "service unavailable: no available backend\n"
        return .text(code, text, contentType: "text/plain")
    }

    /// The Prometheus text exposition of the traffic counters.
    func metrics() -> String {
        var lines = ["# HELP sim_http_requests_total Requests answered by simulated services.",
                     "# TYPE sim_http_requests_total counter"]
        for (namespace, services) in requests.sorted(by: { $0.key < $1.key }) {
            for (service, codes) in services.sorted(by: { $0.key < $1.key }) {
                for (code, total) in codes.sorted(by: { $0.key < $1.key }) {
                    lines.append("sim_http_requests_total{namespace=\"\(namespace)\",service=\"\(service)\",code=\"\(code)\"} \(total)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
