import BatonCore
import BatonTestSupport
import Foundation
import HTTP
import Kube
import KubeSim
import Manifests
import Reconciler
import Testing

/// The reconcile loop following an environment ref in a real repository.
@Suite("Reconciler: the loop")
struct LoopTests {
    actor Reports {
        var all: [StatusReport] = []
        /// When each report came, by index.
        var times: [ContinuousClock.Instant] = []
        func add(_ report: StatusReport) {
            all.append(report)
            times.append(.now)
        }
        /// When the reports from index `start` on that `match` came.
        func times(from start: Int, _ match: (StatusReport) -> Bool) -> [ContinuousClock.Instant] {
            zip(all, times).dropFirst(start).filter { match($0.0) }.map(\.1)
        }

        /// Waits (up to 15 s) for a report that `matches`.
        func wait(_ matches: @Sendable (StatusReport) -> Bool) async throws -> StatusReport? {
            for _ in 0..<150 {
                if let found = all.last(where: matches) { return found }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
    }

    func run(_ fixture: Fixture, selfHeal: Bool, scope: DeployScope = Fixture.crdScope) -> (Task<Void, Never>, Reports) {
        let reports = Reports()
        let loop = ReconcileLoop(reconciler: fixture.reconciler(selfHeal: selfHeal, interval: .seconds(1), scope: scope), store: fixture.store,
                                 refPoll: .milliseconds(200))
        let task = Task { await loop.run { await reports.add($0) } }
        return (task, reports)
    }

    @Test("syncs when the ref moves; with self-heal, drift is undone at the next interval")
    func followsRefAndHeals() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1")])
        try await fixture.git.run(["branch", "env/dev", first])
        let (task, reports) = run(fixture, selfHeal: true)
        defer { task.cancel() }
        let synced = try await reports.wait { $0.revision == first && $0.applied }
        #expect(synced?.synced == true && synced?.errors == [])

        let second = try await fixture.commit(["app/web.yaml": deploymentYAML("web", image: "shop:2")])
        try await fixture.git.run(["branch", "-f", "env/dev", second])
        let moved = try await reports.wait { $0.revision == second && $0.applied }
        #expect(moved?.objects.filter { $0.action == .update }.map(\.key.name) == ["web"])

        _ = try await fixture.kubectl(["-n", "shop", "patch", "deployment", "web", "--type", "merge", "-p", #"{"spec":{"replicas":7}}"#])
        let healed = try await reports.wait { $0.revision == second && $0.driftFound && $0.applied }
        #expect(healed != nil, "drift was not healed")
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["spec", "replicas"]] == 2)
    }

    /// A Deployment on env/dev, and a self-healing loop (interval 10 minutes) over the
    /// cluster's shared cache, running.
    func selfHealingLoop(_ fixture: Fixture, refPoll: Duration) async throws -> (ClusterCache, Reports, Task<Void, Never>) {
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1")])
        try await fixture.git.run(["branch", "env/dev", first])
        let cache = ClusterCache(client: fixture.client, labelSelector: "app.kubernetes.io/managed-by=baton")
        let plain = fixture.reconciler(selfHeal: true, interval: .minutes(10))
        let reconciler = Reconciler(environment: plain.environment, client: fixture.client, renderer: plain.renderer, inventory: fixture.audit,
                                    cache: cache)
        let reports = Reports()
        let loop = ReconcileLoop(reconciler: reconciler, store: fixture.store, refPoll: refPoll)
        return (cache, reports, Task { await loop.run { await reports.add($0) } })
    }

    @Test("with the shared cache, a change to an environment's object wakes its loop long before the interval")
    func watchEventWakesLoop() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let (cache, reports, task) = try await selfHealingLoop(fixture, refPoll: .milliseconds(200))
        defer { task.cancel() }
        #expect(try await reports.wait { $0.applied && $0.synced } != nil)
        #expect(try await reports.wait { $0.synced && $0.health == .healthy } != nil, "the rollout did not settle")
        let deployments = ClusterCache.Scope(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop")
        for _ in 0..<50 where await !cache.isSynced(deployments) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(await cache.isSynced(deployments))
        let changed = ContinuousClock.now
        _ = try await fixture.kubectl(["-n", "shop", "patch", "deployment", "web", "--type", "merge", "-p", #"{"spec":{"replicas":7}}"#])
        let healed = try await reports.wait { $0.driftFound && $0.applied }
        #expect(healed != nil, "the change did not wake the loop (its interval is 10 minutes)")
        #expect(ContinuousClock.now - changed < .seconds(10))
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["spec", "replicas"]] == 2)
        task.cancel()
        await task.value
        await cache.stop()  // before the server stops: no watch reconnects while it does
    }

    @Test("self-heal against another controller that keeps undoing it: heals back off (2, 4, 8 s…) instead of one per change or per settling pass")
    func selfHealBacksOff() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let (cache, reports, task) = try await selfHealingLoop(fixture, refPoll: .milliseconds(100))
        #expect(try await reports.wait { $0.synced && $0.health == .healthy } != nil, "the rollout did not settle")
        let deployments = ClusterCache.Scope(apiVersion: "apps/v1", kind: "Deployment", namespace: "shop")
        for _ in 0..<50 where await !cache.isSynced(deployments) { try await Task.sleep(for: .milliseconds(100)) }
        // Another writer sets the replicas every 100 ms until the third heal (40 s at most):
        // each change a watch event that would wake the environment. Stopping at a count of heals,
        // not after a fixed time, so a loaded machine's slow passes cannot make too few of them
        // (a clean-checkout run once saw one heal in a fixed 8 s).
        let before = await reports.all.count
        let fighting = ContinuousClock.now
        var changes = 0
        let healed: @Sendable (StatusReport) -> Bool = { $0.driftFound && $0.applied }
        while ContinuousClock.now - fighting < .seconds(40), await reports.times(from: before, healed).count < 3 {
            _ = try await fixture.client.apply(["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web", "namespace": "shop"],
                                                "spec": ["replicas": .int(Int64(3 + changes % 2))]], fieldManager: "other-controller", force: true)
            changes += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        let heals = await reports.times(from: before, healed)
        task.cancel()
        await task.value
        await cache.stop()
        // With the back-off, heals about 2 s and then 4 s apart; the passes between, woken or
        // looking at the rollout, only report the drift. Without it they would follow the changes
        // (100 ms apart, or as fast as a loaded machine makes them); a back-off that does not grow
        // would give a second gap of 2 s.
        #expect(changes >= 10, "the other writer made only \(changes) changes")
        try #require(heals.count >= 3, "self-heal gave up: \(heals.count) heals in 40 s, for \(changes) changes")
        let gaps = zip(heals.dropFirst(), heals).map { $0 - $1 }
        #expect(gaps[0] >= .milliseconds(1500), "heals \(gaps[0]) apart: no back-off")
        #expect(gaps[1] >= .seconds(3), "heals \(gaps[1]) apart after \(gaps[0]): the back-off did not grow")
    }

    @Test("a pass cut short by stopping the loop is not reported")
    func cancelledPassNotReported() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1")])
        try await fixture.git.run(["branch", "env/dev", first])
        // Every answer takes 1.5 s: the first pass is still under way when the loop is stopped.
        await fixture.server.simulation.faults.set(.init(latencyMs: 1500))
        let (task, reports) = run(fixture, selfHeal: true)
        for _ in 0..<100 where fixture.server.requests.count("GET") == 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(fixture.server.requests.count("GET") > 0, "the pass had not begun")
        task.cancel()
        await task.value
        let reported = await reports.all
        #expect(reported.isEmpty, "a cancelled pass was reported: \(reported.map(\.errors))")
    }

    @Test("without self-heal, drift is reported and left alone")
    func reportsDrift() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/web.yaml": deploymentYAML("web", image: "shop:1")])
        try await fixture.git.run(["branch", "env/dev", first])
        let (task, reports) = run(fixture, selfHeal: false)
        defer { task.cancel() }
        #expect(try await reports.wait { $0.applied } != nil)
        _ = try await fixture.kubectl(["-n", "shop", "patch", "deployment", "web", "--type", "merge", "-p", #"{"spec":{"replicas":7}}"#])
        let drifted = try await reports.wait { $0.driftFound }
        #expect(drifted?.synced == false && drifted?.applied == false)
        #expect(try await fixture.client.get(apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "shop")[path: ["spec", "replicas"]] == 7)
    }

    @Test("a pass that failed is tried again at the next interval, even without self-heal")
    func retriesFailedPass() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        // The config map's namespace does not exist yet: applying it fails until someone creates it.
        let first = try await fixture.commit(["app/cm.yaml": configMapYAML("settings", "1").replacingOccurrences(of: "name: settings",
                                                                                                         with: "name: settings\n  namespace: later")])
        try await fixture.git.run(["branch", "env/dev", first])
        let (task, reports) = run(fixture, selfHeal: false, scope: DeployScope(namespaces: ["shop", "later"]))
        defer { task.cancel() }
        let failed = try await reports.wait { !$0.errors.isEmpty }
        #expect(failed?.errors == ["namespace later does not exist (create it, or set sync.createNamespace: true)"], "\(failed?.errors ?? [])")
        let created = try await fixture.kubectl(["create", "namespace", "later"])
        #expect(created.status == 0, "\(created.stderr)")
        let recovered = try await reports.wait { $0.errors.isEmpty && $0.applied && $0.synced }
        #expect(recovered != nil, "the failed revision was not applied again")
        #expect(try await fixture.client.get(apiVersion: "v1", kind: "ConfigMap", name: "settings", namespace: "later")[path: ["data", "value"]] == "1")
    }

    @Test("a pass that could not reach the cluster is tried again within seconds, not at the next interval")
    func retriesUnavailablePassSoon() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        try await fixture.git.run(["branch", "env/dev", first])
        // An impatient client (one attempt, 1 s limits) and a ten-minute interval.
        let quick = try await fixture.impatientClient()
        let plain = fixture.reconciler(interval: .minutes(10))
        let reconciler = Reconciler(environment: plain.environment, client: quick, renderer: plain.renderer, inventory: fixture.audit)
        fixture.server.simulation.faults.blackHole.open(for: .seconds(60))
        let reports = Reports()
        let loop = ReconcileLoop(reconciler: reconciler, store: fixture.store, refPoll: .milliseconds(200))
        let task = Task { await loop.run { await reports.add($0) } }
        defer { task.cancel() }
        let lost = try await reports.wait { $0.unavailable }
        #expect(lost?.health == .unknown && lost?.errors.isEmpty == false)
        fixture.server.simulation.faults.blackHole.close()
        let back = try await reports.wait { $0.revision == first && $0.applied && $0.synced }
        #expect(back != nil, "the pass was not tried again before the interval")
        // Each failed pass was followed by another after at most a few seconds of back-off.
        let unavailable = await reports.all.filter(\.unavailable).count
        #expect(unavailable >= 1 && unavailable <= 6, "\(unavailable) unavailable passes")
    }

    @Test("on a test clock: a synced environment is not looked at again before its interval (less 10 %), and is by its end (plus 10 %)")
    func intervalOnTestClock() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let first = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/cm.yaml": configMapYAML("settings", "1")])
        try await fixture.git.run(["branch", "env/dev", first])
        let clock = ManualClock()
        let reports = Reports()
        let loop = ReconcileLoop(reconciler: fixture.reconciler(interval: .minutes(10)), store: fixture.store, refPoll: .seconds(30))
        let task = Task { await loop.run(clock: clock) { await reports.add($0) } }
        defer { task.cancel() }
        // The start-up spread (up to half a second), then the first pass.
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .seconds(1))
        let synced = try await reports.wait { $0.revision == first && $0.applied && $0.synced }
        #expect(synced != nil)
        #expect(await clock.waitForSleepers(1))
        let passes = await reports.all.count
        // Nine minutes in steps of the ref poll: the ref is read, nothing is synced.
        for _ in 0..<18 {
            clock.advance(by: .seconds(30))
            #expect(await clock.waitForSleepers(1))
        }
        #expect(await reports.all.count == passes, "a pass came before its interval")
        // By eleven minutes the interval's pass has come, and only one.
        for _ in 0..<4 {
            clock.advance(by: .seconds(30))
            #expect(await clock.waitForSleepers(1))
        }
        let again = try await reports.wait { _ in true }
        #expect(await reports.all.count == passes + 1 && again?.synced == true && again?.applied == false)
        task.cancel()
        await task.value
    }
}
