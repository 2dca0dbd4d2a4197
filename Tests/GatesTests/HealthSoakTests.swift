import BatonCore
import Foundation
import Gates
import Testing

/// The health gate, fed reconciler passes and a clock by hand.
@Suite("Gates: health with soak")
struct HealthSoakTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    func report(synced: Bool = true, health: HealthStatus = .healthy, errors: [String] = [],
                objects: [ObjectStatus] = [], unavailable: Bool = false) -> StatusReport {
        StatusReport(environment: "dev", revision: "A", synced: synced, health: health, objects: objects, driftFound: false,
                     applied: true, errors: errors, startedAt: start, duration: .seconds(0), unavailable: unavailable)
    }

    @Test("a cluster that does not answer pauses a soak under way: nothing passes, nothing fails, the time away does not count")
    func blipPausesSoak() {
        let blip = report(synced: false, health: .unknown, errors: ["GET /api/v1/namespaces/shop/configmaps/a: timed out"], unavailable: true)
        var gate = HealthSoak(soak: .seconds(10))
        // Before the soak starts, a blip neither starts nor fails it.
        #expect(gate.observe(blip, at: at(0)) == .unavailable(reason: "GET /api/v1/namespaces/shop/configmaps/a: timed out", started: false))
        #expect(gate.healthySince == nil)
        #expect(gate.observe(report(), at: at(1)) == .healthy)
        // 4 s soaked, then 30 s without answers: paused, once, and never passed meanwhile.
        #expect(gate.observe(blip, at: at(5)) == .unavailable(reason: "GET /api/v1/namespaces/shop/configmaps/a: timed out", started: true))
        #expect(gate.observe(blip, at: at(20)) == .unavailable(reason: "GET /api/v1/namespaces/shop/configmaps/a: timed out", started: false))
        #expect(gate.passed(at: at(34)) == nil)
        // Back at 35 s: the soak resumes with 4 s done; it passes 6 s later, not before.
        #expect(gate.observe(report(), at: at(35)) == .healthy)
        #expect(gate.healthySince == at(31))
        #expect(gate.passed(at: at(40.9)) == nil)
        #expect(gate.passed(at: at(41)) != nil)
        // A definite error still fails it.
        guard case .failed = gate.observe(report(errors: ["ConfigMap shop/a: 422 Invalid"]), at: at(42)) else {
            Issue.record("a definite error did not fail the gate")
            return
        }
    }

    @Test("passes after the soak without a drop; a drop or an out-of-sync pass restarts it; Unknown never starts it")
    func soak() {
        var gate = HealthSoak(soak: .seconds(10))
        #expect(gate.observe(report(health: .unknown), at: at(0)) == .waiting)
        #expect(gate.observe(report(synced: false), at: at(1)) == .waiting)
        #expect(gate.observe(report(), at: at(2)) == .healthy)
        #expect(gate.passed(at: at(11)) == nil)
        #expect(gate.observe(report(health: .progressing), at: at(11)) == .restarted(evidence: ["health": "Progressing", "synced": true]))
        #expect(gate.observe(report(), at: at(12)) == .healthy)
        #expect(gate.observe(report(synced: false), at: at(13)) == .restarted(evidence: ["health": "Healthy", "synced": false]))
        #expect(gate.observe(report(), at: at(14)) == .healthy)
        #expect(gate.passed(at: at(23.9)) == nil)
        let evidence = gate.passed(at: at(24))
        #expect(evidence?["soak"] == "10s" && evidence?["healthySince"] == .string(at(14).formatted(.iso8601)))
    }

    @Test("a sync error or a Degraded object fails it, naming the object; no health within the timeout fails it")
    func failures() {
        var gate = HealthSoak(soak: .seconds(5))
        let web = ResourceKey(group: "apps", kind: "Deployment", namespace: "shop", name: "web")
        let degraded = ObjectStatus(key: web, apiVersion: "apps/v1", action: .update, health: .degraded,
                                    healthMessage: "ProgressDeadlineExceeded")
        guard case .failed(let reason, let evidence) = gate.observe(report(health: .degraded, objects: [degraded]), at: at(1)) else {
            Issue.record("a Degraded object did not fail the gate")
            return
        }
        #expect(reason == "Deployment.apps shop/web is Degraded: ProgressDeadlineExceeded")
        #expect(evidence["health"] == "Degraded")
        guard case .failed(let why, _) = gate.observe(report(errors: ["apply Deployment.apps shop/web: forbidden"]), at: at(2)) else {
            Issue.record("a sync error did not fail the gate")
            return
        }
        #expect(why == "apply Deployment.apps shop/web: forbidden")
        let waiting = HealthSoak(soak: .seconds(5))
        #expect(waiting.timedOut(started: at(0), timeout: .seconds(60), now: at(60), synced: false) == nil)
        #expect(waiting.timedOut(started: at(0), timeout: .seconds(60), now: at(61), synced: false) == "not synced within 1m")
        #expect(waiting.timedOut(started: at(0), timeout: .seconds(60), now: at(61), synced: true) == "not Healthy within 1m")
        let healthy = HealthSoak(soak: .seconds(5), healthySince: at(30))
        #expect(healthy.timedOut(started: at(0), timeout: .seconds(60), now: at(61), synced: true) == nil)
    }
}
