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
}
