import BatonCore
import Foundation
@testable import KubeSim
import Testing

/// The simulated controllers, driven by a clock the test sets.
@Suite("KubeSim: simulated controllers")
struct ControllerTests {
    static let deployments = ResourceType.builtIn.first { $0.kind == "Deployment" }!

    func make(image: String, annotations: [String: JSONValue] = [:]) -> Data {
        JSONValue.object([
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": .object(["name": "web", "annotations": .object(annotations)]),
            "spec": .object(["replicas": 3, "progressDeadlineSeconds": 30, "selector": .object(["matchLabels": ["app": "web"]]),
                             "template": .object(["metadata": .object(["labels": ["app": "web"]]),
                                                  "spec": .object(["containers": [.object(["name": "web", "image": .string(image)])]])])]),
        ]).encoded()
    }

    func condition(_ object: JSONValue, _ type: String) -> JSONValue? {
        object[path: ["status", "conditions"]]?.array?.first { $0["type"]?.string == type }
    }

    @Test("a controller pass over many changes runs in parts of at most 25 keys, each key in exactly one part; a full pass stays whole")
    func workInParts() {
        func key(_ plural: String, _ index: Int) -> ObjectKey { ObjectKey(group: "", plural: plural, namespace: "n", name: "o\(index)") }
        let changed: [String: Set<ObjectKey>] = ["/services": Set((0..<30).map { key("services", $0) }),
                                                 "apps/deployments": Set((0..<22).map { key("deployments", $0) }),
                                                 "/namespaces": [key("namespaces", 0)]]
        let parts = ControllerWork(changed: changed).parts(of: 25)
        #expect(parts.map { $0.changed?.values.reduce(0) { $0 + $1.count } ?? -1 } == [25, 25, 3])
        var seen: [String: Set<ObjectKey>] = [:]
        for part in parts {
            for (kind, keys) in part.changed ?? [:] {
                #expect(seen[kind, default: []].isDisjoint(with: keys))
                seen[kind, default: []].formUnion(keys)
            }
        }
        #expect(seen == changed)
        #expect(ControllerWork(changed: [:]).parts(of: 25).count == 1)
        let full = ControllerWork(changed: nil).parts(of: 25)
        #expect(full.count == 1 && full[0].isFull)
    }

    @Test("60 Deployments and 60 Services created at once: one tick makes every ReplicaSet, Endpoints and EndpointSlice, part by part")
    func manyAtOnce() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(1))
        let services = try #require(ResourceType.builtIn.first { $0.kind == "Service" })
        for index in 0..<60 {
            let labels: JSONValue = ["app": .string("web\(index)")]
            _ = try await state.apply(Self.deployments, namespace: "default", name: "web\(index)", body: JSONValue.object([
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": .object(["name": .string("web\(index)")]),
                "spec": .object(["selector": .object(["matchLabels": labels]),
                                 "template": .object(["metadata": .object(["labels": labels]),
                                                      "spec": .object(["containers": [.object(["name": "web", "image": "app:1"])]])])]),
            ]).encoded(), manager: "t", force: false)
            _ = try await state.apply(services, namespace: "default", name: "web\(index)", body: JSONValue.object([
                "apiVersion": "v1", "kind": "Service", "metadata": .object(["name": .string("web\(index)")]),
                "spec": .object(["selector": labels, "ports": [.object(["port": 80])]]),
            ]).encoded(), manager: "t", force: false)
        }
        await simulation.tick(now: Date(timeIntervalSince1970: 1_000_000))
        #expect(await state.keys(group: "apps", plural: "replicasets").count == 60)
        #expect(await state.keys(group: "", plural: "endpoints").count == 60)
        #expect(await state.keys(group: "discovery.k8s.io", plural: "endpointslices").count == 60)
    }

    @Test("the HPA keeps its target within minReplicas and maxReplicas, as kube-controller-manager does without metrics; a target at 0 is left alone")
    func autoscalerBounds() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(1))
        let start = Date(timeIntervalSince1970: 1_000_000)
        let hpas = try #require(ResourceType.builtIn.first { $0.kind == "HorizontalPodAutoscaler" })
        func replicas() async throws -> JSONValue? {
            try await state.get(Self.deployments, namespace: "default", name: "web")[path: ["spec", "replicas"]]
        }
        func scale(_ count: Int) async throws {
            _ = try await state.patch(Self.deployments, namespace: "default", name: "web", contentType: "application/merge-patch+json",
                                      body: Data(#"{"spec":{"replicas":\#(count)}}"#.utf8), manager: "someone")
        }
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:1"), manager: "t", force: false)
        _ = try await state.apply(hpas, namespace: "default", name: "web", body: JSONValue.object([
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": .object(["name": "web"]),
            "spec": .object(["scaleTargetRef": .object(["apiVersion": "apps/v1", "kind": "Deployment", "name": "web"]),
                             "minReplicas": 4, "maxReplicas": 6]),
        ]).encoded(), manager: "t", force: false)
        await simulation.tick(now: start)
        #expect(try await replicas() == 4, "3 is below minReplicas 4")
        let hpa = try await state.get(hpas, namespace: "default", name: "web")
        #expect(hpa[path: ["status", "currentReplicas"]] == 3 && hpa[path: ["status", "desiredReplicas"]] == 4)
        let managers = try await state.get(Self.deployments, namespace: "default", name: "web")[path: ["metadata", "managedFields"]]?.array ?? []
        #expect(managers.contains { $0["manager"]?.string == "kube-controller-manager" })

        try await scale(9)
        await simulation.tick(now: start.addingTimeInterval(1))
        #expect(try await replicas() == 6, "9 is above maxReplicas 6")
        try await scale(5)
        await simulation.tick(now: start.addingTimeInterval(2))
        #expect(try await replicas() == 5, "within the bounds the HPA needs metrics to act")
        try await scale(0)
        await simulation.tick(now: start.addingTimeInterval(3))
        #expect(try await replicas() == 0, "a target scaled to 0 has autoscaling disabled")
    }

    @Test("a deployment rolls out after the delay and reports Available")
    func rollsOut() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(5))
        let start = Date(timeIntervalSince1970: 1_000_000)
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:1"), manager: "t", force: false)
        await simulation.tick(now: start)
        var live = try await state.get(Self.deployments, namespace: "default", name: "web")
        #expect(live[path: ["status", "availableReplicas"]] == .int(0))
        #expect(condition(live, "Available")?["status"] == "False")
        #expect(live[path: ["status", "observedGeneration"]] == .int(1))
        await simulation.tick(now: start.addingTimeInterval(5))
        live = try await state.get(Self.deployments, namespace: "default", name: "web")
        #expect(live[path: ["status", "availableReplicas"]] == .int(3))
        #expect(live[path: ["status", "updatedReplicas"]] == .int(3))
        #expect(condition(live, "Available")?["status"] == "True")
        #expect(condition(live, "Progressing")?["reason"] == "NewReplicaSetAvailable")
    }

    @Test("a -broken image never becomes available and exceeds its progress deadline")
    func broken() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(1))
        let start = Date(timeIntervalSince1970: 1_000_000)
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:2-broken"), manager: "t", force: false)
        await simulation.tick(now: start)
        await simulation.tick(now: start.addingTimeInterval(10))
        var live = try await state.get(Self.deployments, namespace: "default", name: "web")
        #expect(condition(live, "Available")?["status"] == "False")
        #expect(condition(live, "Progressing")?["status"] == "True")
        await simulation.tick(now: start.addingTimeInterval(31))
        live = try await state.get(Self.deployments, namespace: "default", name: "web")
        #expect(condition(live, "Progressing")?["status"] == "False")
        #expect(condition(live, "Progressing")?["reason"] == "ProgressDeadlineExceeded")
    }

    @Test("the rollout annotation overrides the delay, and the fail annotation breaks a good image")
    func annotations() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(100))
        let start = Date(timeIntervalSince1970: 1_000_000)
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web",
                                  body: make(image: "app:1", annotations: ["sim.baton.dev/rollout-seconds": "2"]), manager: "t", force: false)
        await simulation.tick(now: start)
        await simulation.tick(now: start.addingTimeInterval(2))
        #expect(condition(try await state.get(Self.deployments, namespace: "default", name: "web"), "Available")?["status"] == "True")
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web",
                                  body: make(image: "app:1", annotations: ["sim.baton.dev/rollout-seconds": "2", "sim.baton.dev/fail": "true"]),
                                  manager: "t", force: false)
        await simulation.tick(now: start.addingTimeInterval(10))
        #expect(condition(try await state.get(Self.deployments, namespace: "default", name: "web"), "Available")?["status"] == "False")
    }

    static let jobs = ResourceType.builtIn.first { $0.kind == "Job" }!

    func objects(_ state: ClusterState, _ kind: String) async throws -> [JSONValue] {
        let type = ResourceType.builtIn.first { $0.kind == kind }!
        return try await state.list(type, namespace: "default", labels: LabelSelector(parsing: ""), fields: nil, limit: nil, continueToken: nil).items
    }

    @Test("controllers follow changes, not a clock: a tick with nothing changed writes nothing; a changed, deleted or recreated object is seen at the next tick")
    func eventDriven() async throws {
        let state = ClusterState()
        let simulation = Simulation(state: state, rolloutDelay: .seconds(5))
        let start = Date(timeIntervalSince1970: 1_000_000)
        let service: (String) -> Data = { team in
            JSONValue.object(["apiVersion": "v1", "kind": "Service",
                              "metadata": .object(["name": "web", "labels": ["team": .string(team)]]),
                              "spec": .object(["selector": ["app": "web"], "ports": [.object(["port": 80])]])]).encoded()
        }
        _ = try await state.apply(ResourceType.service, namespace: "default", name: "web", body: service("a"), manager: "t", force: false)
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:1"), manager: "t", force: false)
        _ = try await state.apply(Self.jobs, namespace: "default", name: "migrate", body: JSONValue.object([
            "apiVersion": "batch/v1", "kind": "Job", "metadata": .object(["name": "migrate"]),
            "spec": .object(["template": .object(["spec": .object(["restartPolicy": "Never",
                                                                   "containers": [.object(["name": "m", "image": "m:1"])]])])]),
        ]).encoded(), manager: "t", force: false)
        for second in 0...6 { await simulation.tick(now: start.addingTimeInterval(Double(second))) }
        let endpoints = try #require(try await objects(state, "Endpoints").first)
        let slice = try #require(try await objects(state, "EndpointSlice").first)
        #expect(endpoints[path: ["metadata", "labels", "team"]] == "a" && slice[path: ["metadata", "labels", "team"]] == "a")
        #expect(try await objects(state, "ReplicaSet").count == 1)
        #expect(try await objects(state, "Job").first?[path: ["status", "succeeded"]] == .int(1))

        // Settled: more ticks, even seconds apart, change nothing (no completion time moving on).
        let settled = await state.revision
        for second in 7...12 { await simulation.tick(now: start.addingTimeInterval(Double(second))) }
        #expect(await state.revision == settled, "a tick with nothing changed wrote something")

        // A change to the Service reaches its Endpoints and EndpointSlice, which keep their uid.
        _ = try await state.apply(ResourceType.service, namespace: "default", name: "web", body: service("b"), manager: "t", force: false)
        await simulation.tick(now: start.addingTimeInterval(13))
        let relabelled = try #require(try await objects(state, "Endpoints").first)
        let relabelledSlice = try #require(try await objects(state, "EndpointSlice").first)
        #expect(relabelled[path: ["metadata", "labels", "team"]] == "b" && relabelledSlice[path: ["metadata", "labels", "team"]] == "b")
        #expect(relabelled[path: ["metadata", "uid"]] == endpoints[path: ["metadata", "uid"]])
        #expect(relabelledSlice[path: ["metadata", "uid"]] == slice[path: ["metadata", "uid"]])

        // Endpoints deleted by hand come back; a deleted ReplicaSet too.
        let endpointsType = ResourceType.builtIn.first { $0.kind == "Endpoints" }!
        _ = try await state.delete(endpointsType, namespace: "default", name: "web")
        let replicaSetType = ResourceType.builtIn.first { $0.kind == "ReplicaSet" }!
        let replicaSet = try #require(try await objects(state, "ReplicaSet").first?[path: ["metadata", "name"]]?.string)
        _ = try await state.delete(replicaSetType, namespace: "default", name: replicaSet)
        await simulation.tick(now: start.addingTimeInterval(14))
        #expect(try await objects(state, "Endpoints").count == 1)
        #expect(try await objects(state, "ReplicaSet").map { $0[path: ["metadata", "name"]]?.string } == [replicaSet])

        // A new pod template: a new ReplicaSet, the old one scaled to zero, a new rollout.
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:2"), manager: "t", force: false)
        await simulation.tick(now: start.addingTimeInterval(15))
        await simulation.tick(now: start.addingTimeInterval(15.5))
        let replicaSets = try await objects(state, "ReplicaSet")
        #expect(replicaSets.count == 2)
        #expect(replicaSets.filter { $0[path: ["spec", "replicas"]] == .int(0) }.count == 1)
        // Still Available (the old pods serve) while the new ReplicaSet progresses.
        #expect(condition(try await state.get(Self.deployments, namespace: "default", name: "web"), "Progressing")?["reason"] == "ReplicaSetUpdated")
        await simulation.tick(now: start.addingTimeInterval(20))
        #expect(condition(try await state.get(Self.deployments, namespace: "default", name: "web"), "Progressing")?["reason"] == "NewReplicaSetAvailable",
                "a rollout under way was not looked at again once its delay was over")

        // The Service deleted: its Endpoints go at the next tick, its EndpointSlice with it (its owner).
        _ = try await state.delete(ResourceType.service, namespace: "default", name: "web")
        await simulation.tick(now: start.addingTimeInterval(21))
        #expect(try await objects(state, "Endpoints").isEmpty)
        #expect(try await objects(state, "EndpointSlice").isEmpty)
    }

    @Test("after a snapshot is restored, the controllers look at everything once")
    func afterRestore() async throws {
        let state = ClusterState()
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: make(image: "app:1"), manager: "t", force: false)
        let snapshot = await state.snapshot()
        let restored = ClusterState()
        let simulation = Simulation(state: restored, rolloutDelay: .seconds(1))
        await simulation.tick(now: Date(timeIntervalSince1970: 1_000_000))
        try await restored.restore(snapshot)
        await simulation.tick(now: Date(timeIntervalSince1970: 1_000_001))
        #expect(try await objects(restored, "ReplicaSet").count == 1)
    }
}
