import BatonCore
import Foundation
import Synchronization

/// The simulated cluster behind the API: controllers that fill in status, application
/// traffic for HTTP and metric gates, and injected faults. `tick(now:)` advances it; a
/// running server calls it every 100 ms, tests call it with their own clock.
public actor Simulation {
    let state: ClusterState
    let controllers: Controllers
    public nonisolated let faults: Faults
    /// When each workload's current generation was first seen.
    private var rolloutStarted: [ObjectKey: (generation: Int64, at: Date)] = [:]
    /// Workloads whose status will change with time alone, and when it will.
    private var settling: [ObjectKey: Date] = [:]
    /// `sim_http_requests_total` by (namespace, service, code).
    private var requests: [String: [String: [Int: Int64]]] = [:]
    private var lastTraffic: Date?

    /// How often a watch that asked for bookmarks gets one (kube-apiserver: about a minute).
    let bookmarkInterval: Duration

    public static let defaultVersion = "v1.32.0-kubesim"
    /// The server version `/version` reports; tests change it to play an upgrade.
    public private(set) var version = Simulation.defaultVersion

    /// Group versions listed in discovery whose (aggregated) API server is down, as
    /// `metrics.k8s.io/v1beta1` is when metrics-server is: their documents and every request
    /// under them answer 503 `service unavailable` (plain text, as kube-apiserver's aggregator
    /// does), and aggregated discovery lists them `Stale` with no resources.
    /// Read by every request: kept outside the actor, which ticks, so a request never waits
    /// for the controllers to ask about it.
    public nonisolated var unavailableAPIs: [String] { unavailable.withLock { $0 } }
    private nonisolated let unavailable = Mutex<[String]>([])

    public nonisolated func setUnavailableAPIs(_ groupVersions: [String]) {
        unavailable.withLock { $0 = groupVersions }
    }

    /// Reports `version` from now on, as a server upgraded in place does (its watches end
    /// too: drop them with `ClusterState.dropWatches()` for the whole effect).
    public func setVersion(_ version: String) {
        self.version = version
    }

    public init(state: ClusterState, rolloutDelay: Duration = .seconds(1), faults: Faults.Settings = .init(),
                bookmarkInterval: Duration = .seconds(60)) {
        self.state = state
        self.bookmarkInterval = bookmarkInterval
        self.controllers = Controllers(rolloutDelay: rolloutDelay)
        self.faults = Faults(faults)
    }

    /// Runs every controller once over what changed since the last tick (and the workloads
    /// whose rollout is still under way: their status changes with time alone), and once a
    /// second adds steady traffic to each service.
    public func tick(now: Date = Date()) async {
        let work = await state.takeWork()
        await state.finishTerminatingNamespaces()
        for part in work.parts(of: 25) {
            await state.runDeploymentController(part)
            await state.runAutoscalerController(part)
            await state.runEndpointControllers(part)
            await state.runServiceAccountController(part)
        }
        for (group, plural, kind) in [("apps", "deployments", "Deployment"), ("apps", "statefulsets", "StatefulSet"),
                                      ("apps", "daemonsets", "DaemonSet"), ("apps", "replicasets", "ReplicaSet")] {
            for (key, found) in await timed(work, group: group, plural: plural, now: now) {
                guard let object = found else { continue }
                let started = rolloutStarted(key, object, now: now)
                let status = controllers.workloadStatus(kind: kind, object: object, since: started, now: now)
                let broken = Controllers.isBroken(object)
                let deadline = kind == "Deployment" && broken ? Double(object[path: ["spec", "progressDeadlineSeconds"]]?.int ?? 600) : 0
                settle(key, at: started.addingTimeInterval(broken ? deadline : Controllers.delay(object, default: controllers.rolloutDelay)), now: now)
                await state.setStatus(key, status)
            }
        }
        for (key, found) in await timed(work, group: "batch", plural: "jobs", now: now) {
            guard let job = found else { continue }
            let started = rolloutStarted(key, job, now: now)
            let completion = started.addingTimeInterval(Controllers.delay(job, default: controllers.rolloutDelay))
            let done = now >= completion
            settle(key, at: completion, now: now)
            let failed = Controllers.isBroken(job)
            var status: [String: JSONValue] = ["startTime": .string(Controllers.format(started))]
            if done && failed {
                status["failed"] = 1
                status["conditions"] = [.object(["type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"])]
            } else if done {
                status["succeeded"] = 1
                status["completionTime"] = .string(Controllers.format(completion))
                status["conditions"] = [.object(["type": "Complete", "status": "True"])]
            } else {
                status["active"] = 1
            }
            await state.setStatus(key, .object(status))
        }
        for (key, found) in await state.objects(await state.pending(work, group: "", plural: "persistentvolumeclaims")) {
            guard let claim = found else { continue }
            var status: JSONValue = .object(["phase": "Bound", "accessModes": claim[path: ["spec", "accessModes"]] ?? ["ReadWriteOnce"]])
            if let storage = claim[path: ["spec", "resources", "requests", "storage"]] { status["capacity"] = .object(["storage": storage]) }
            await state.setStatus(key, status)
        }
        for (key, found) in await state.objects(await state.pending(work, group: "", plural: "services")) {
            guard let service = found else { continue }
            let balanced = service[path: ["spec", "type"]]?.string == "LoadBalancer"
            await state.setStatus(key, balanced ? .object(["loadBalancer": .object(["ingress": [.object(["ip": "127.0.0.1"])]])])
                                                : .object(["loadBalancer": .object([:])]))
        }
        for (key, found) in await state.objects(await state.pending(work, group: "", plural: "pods")) where found != nil {
            await state.setStatus(key, .object(["phase": "Running", "conditions": [.object(["type": "Ready", "status": "True"])]]))
        }
        if lastTraffic.map({ now.timeIntervalSince($0) >= 1 }) ?? true {
            lastTraffic = now
            // Every service's backends are found once per round, from one read of the store.
            let deployments = Dictionary(grouping: await state.objects(group: "apps", plural: "deployments").map(\.1).filter(Self.isAvailable)) {
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
                && isAvailable(deployment)
        }
    }

    static func isAvailable(_ deployment: JSONValue) -> Bool {
        (deployment[path: ["status", "conditions"]]?.array ?? []).contains { $0["type"] == "Available" && $0["status"] == "True" }
    }

    /// The workloads of one kind whose status this tick computes: those `work` names, and
    /// those whose status changes with time (`settle`) once that time has come — a status is
    /// constant between changes and that moment, so nothing is recomputed every tick while a
    /// rollout is under way. A gone one is forgotten.
    private func timed(_ work: ControllerWork, group: String, plural: String, now: Date) async -> [(ObjectKey, JSONValue?)] {
        var keys = Set(await state.pending(work, group: group, plural: plural))
        keys.formUnion(settling.filter { $0.key.group == group && $0.key.plural == plural && $0.value <= now }.keys)
        let found = await state.objects(keys.sorted())
        for (key, object) in found where object == nil {
            rolloutStarted[key] = nil
            settling[key] = nil
        }
        return found
    }

    /// When `object`'s current generation was first seen (now, for a new one).
    private func rolloutStarted(_ key: ObjectKey, _ object: JSONValue, now: Date) -> Date {
        let generation = object[path: ["metadata", "generation"]]?.int ?? 1
        if rolloutStarted[key]?.generation != generation { rolloutStarted[key] = (generation, now) }
        return rolloutStarted[key]!.at
    }

    /// Looks at `key` again at `time`, when its status changes by itself (rolled out, or past
    /// its progress deadline); after that it changes only with the object.
    private func settle(_ key: ObjectKey, at time: Date, now: Date) {
        settling[key] = now < time ? time : nil
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
