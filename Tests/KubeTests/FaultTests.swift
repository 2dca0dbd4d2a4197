import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Testing

/// Retries through KubeSim's injected faults.
@Suite("Kube: retries under faults")
struct FaultTests {
    @Test("blip or verdict: a path not served yet (a CRD not Established) and a terminating namespace are blips; a missing object, invalid or forbidden are verdicts")
    func transientOrDefinite() {
        func error(_ code: Int, _ reason: String, _ message: String) -> KubeError {
            .api(KubeStatus(code: code, reason: reason, message: message), method: "PATCH", path: "/apis/example.com/v1/namespaces/a/widgets/w")
        }
        #expect(error(404, "NotFound", "the server could not find the requested resource").isTransient)
        #expect(error(403, "Forbidden", "widgets \"w\" is forbidden: unable to create new content in namespace a because it is being terminated").isTransient)
        #expect(error(503, "ServiceUnavailable", "the server is currently unable to handle the request").isTransient)
        #expect(!error(404, "NotFound", "namespaces \"a\" not found").isTransient)
        #expect(!error(404, "NotFound", "widgets.example.com \"w\" not found").isTransient)
        #expect(!error(422, "Invalid", "Widget.example.com \"w\" is invalid: spec.size: Invalid value").isTransient)
        #expect(!error(403, "Forbidden", "widgets.example.com is forbidden: User \"u\" cannot patch resource").isTransient)
    }

    @Test("with a fifth of the answers 500, every operation still succeeds")
    func serverErrors() async throws {
        // Six attempts per request, and room in time for them: on a loaded machine late timers
        // spent the usual 30 s budget (the question here is retrying, not speed).
        let cluster = try await SimCluster.start(retry: RetryPolicy(maxElapsed: .seconds(120))) { $0.faults = .init(errorRate: 0.2) }
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        for index in 0..<40 {
            try await client.apply(configMap("c\(index)", data: ["n": "\(index)"]))
            let read = try await client.get(apiVersion: "v1", kind: "ConfigMap", name: "c\(index)")
            #expect(read[path: ["data", "n"]]?.string == "\(index)")
        }
        #expect(try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default").items.count >= 40)
        // The faults were met and retried: more requests than operations.
        let reads = (0..<40).map { cluster.server.requests.count("GET", "/api/v1/namespaces/default/configmaps/c\($0)") }.reduce(0, +)
        let writes = (0..<40).map { cluster.server.requests.count("PATCH", "/api/v1/namespaces/default/configmaps/c\($0)") }.reduce(0, +)
        #expect(reads + writes > 80, "\(reads + writes) requests for 80 operations")
    }

    @Test("the request budget lets a burst go at once, then paces to its rate")
    func requestBudget() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let resolved = try Kubeconfig.load(paths: [cluster.folder.path + "/kubeconfig"]).resolve()
        let paced = try KubeClient(resolved, budget: RequestBudget(qps: 20, burst: 5))
        try await paced.discover()  // discovery takes tokens too; let the bucket refill
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<25 { group.addTask { _ = try await paced.version() } }
            try await group.waitForAll()
        }
        let took = ContinuousClock.now - started
        // 5 at once, 20 more at 20 a second: about one second, never much less.
        #expect(took >= .milliseconds(950), "25 requests with a budget of 20/s and a burst of 5 took \(took)")
        // Pacing at 1 a second instead of 20 would take 20 s: a bound a starved test process
        // (the whole suite runs in parallel on two cores) stays well under.
        #expect(took < .seconds(12), "\(took)")
        #expect(cluster.server.requests.count("GET", "/version") == 25)
    }

    @Test("429 answers are retried no sooner than their Retry-After")
    func throttling() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try await cluster.client.discover()
        await cluster.server.simulation.faults.set(.init(throttleRate: 1, retryAfterSeconds: 2))
        // Throttling ends after 1.2 s. Backoff alone would try again at about 0.2, 0.6 and 1.4 s;
        // honouring Retry-After: 2 means the first retry comes at 2 s.
        let lift = Task {
            try await Task.sleep(for: .milliseconds(1200))
            await cluster.server.simulation.faults.set(.init())
        }
        let started = ContinuousClock.now
        try await cluster.client.apply(configMap("throttled"))
        let took = ContinuousClock.now - started
        try await lift.value
        #expect(took >= .milliseconds(1950), "succeeded after \(took)")
        // One retry only (the count below); the time bound is loose for a loaded machine.
        #expect(took < .seconds(15), "\(took)")
        #expect(cluster.server.requests.count("PATCH", "/api/v1/namespaces/default/configmaps/throttled") == 2)
    }

    /// Makes the server stop listening for `duration` and returns once it refuses.
    func refuse(_ cluster: SimCluster, for duration: Duration) async throws {
        await cluster.server.refuseConnections(for: duration)
        #expect(!FreePort.canConnect(cluster.server.port), "the server still listens")
    }

    @Test("a server that refuses connections gives a clear error after bounded retries")
    func refusedConnections() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try await refuse(cluster, for: .seconds(60))  // long: a busy machine may delay this test by seconds; stop() ends it
        let bounded = try cluster.client(retry: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(100), maxElapsed: .seconds(3)))
        let started = ContinuousClock.now
        let error = await kubeError { _ = try await bounded.version() }
        let took = ContinuousClock.now - started
        guard case .transport(.cannotConnect(let url, _))? = error else { Issue.record("expected cannotConnect, got \(String(describing: error))"); return }
        #expect(url == cluster.server.url + "/version")
        // Bounded: far below the 60 s outage (loose: a loaded run once took 4.1 s for 0.7 s of delays).
        #expect(took < .seconds(10), "gave up after \(took)")
        #expect(took >= .milliseconds(150), "gave up after \(took) without retrying")
    }

    @Test("a write whose answer is lost (kube-apiserver's 504 Timeout after the work was done) is retried: the apply lands once, and a delete that then finds nothing counts as done")
    func lostAnswers() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        let path = "/api/v1/namespaces/default/configmaps/lost"
        await cluster.server.simulation.faults.loseAnswers(1)
        let stored = try await client.apply(configMap("lost", data: ["n": "1"]), force: true)
        #expect(stored[path: ["data", "n"]]?.string == "1")
        #expect(cluster.server.requests.count("PATCH", path) == 2, "the apply whose answer was lost was not sent again")

        let uid = try #require(stored[path: ["metadata", "uid"]]?.string)
        await cluster.server.simulation.faults.loseAnswers(1)
        let found = try await client.delete(apiVersion: "v1", kind: "ConfigMap", name: "lost", uid: uid)
        #expect(!found, "the retried delete found the object still there")
        #expect(cluster.server.requests.count("DELETE", path) == 2)
        #expect(await kubeError { _ = try await client.get(apiVersion: "v1", kind: "ConfigMap", name: "lost") }?.isNotFound == true)

        // A definite answer is not hidden: a write the server refuses keeps its refusal.
        await cluster.server.simulation.faults.loseAnswers(1)
        let refused = await kubeError { _ = try await client.apply(configMap("Not_A_Name")) }
        #expect(refused?.statusCode == 422, "\(String(describing: refused))")
        let lost = try await client.apply(configMap("after", data: ["n": "2"]))
        #expect(lost[path: ["data", "n"]]?.string == "2")
        #expect(cluster.server.requests.count("PATCH", "/api/v1/namespaces/default/configmaps/after") == 2,
                "the refusal kept its own answer, so the next write is the one whose answer is lost (and sent again)")
    }

    @Test("a short outage is ridden out by the retries")
    func shortOutage() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try await refuse(cluster, for: .seconds(1))
        let client = try cluster.client()
        #expect(try await client.version().major == "1")
    }
}
