import BatonCore
import Coordinator
import Foundation
import Gates
import Testing

/// The promotion state machine, driven by hand with a clock the test controls.
@Suite("Coordinator: the promotion state machine")
struct PromotionMachineTests {
    static let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: [
        Stage(environment: "dev", gates: [.health(HealthGate(soak: .seconds(10)))]),
        Stage(environment: "staging", gates: [.health(HealthGate(soak: .seconds(20)))]),
        Stage(environment: "production", promote: .manual, gates: [.health(HealthGate(soak: .seconds(0)))],
              approval: ApprovalPolicy(required: 2, approvers: ["alice@x", "bob@x", "carol@x"], allowCommitAuthors: false)),
    ])
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { start.addingTimeInterval(seconds) }

    func report(_ environment: String, _ revision: String, synced: Bool = true, health: HealthStatus = .healthy,
                errors: [String] = []) -> StatusReport {
        StatusReport(environment: environment, revision: revision, synced: synced, health: health, objects: [], driftFound: false,
                     applied: true, errors: errors, startedAt: start, duration: .seconds(0))
    }

    func moves(_ effects: [PromotionEffect]) -> [String] {
        effects.compactMap {
            guard case .moveRef(_, let environment, let from, let to) = $0 else { return nil }
            return "\(environment): \(from ?? "-") → \(to)"
        }
    }

    func kinds(_ effects: [PromotionEffect]) -> [String] {
        effects.compactMap {
            guard case .record(let kind, let stage, let revision, _, _) = $0 else { return nil }
            return "\(kind) \(stage.map { Self.pipeline.stages[$0].environment } ?? "-") \(revision)"
        }
    }

    /// Takes `revision` through a stage that promotes by itself: ref moved, synced, healthy.
    mutating func deliver(_ machine: inout PromotionMachine, stage: Int, _ revision: String, at time: Double) -> [PromotionEffect] {
        let environment = Self.pipeline.stages[stage].environment
        return machine.refMoved(stage: stage, revision: revision, now: at(time))
            + machine.report(stage: stage, report(environment, revision), now: at(time + 1))
    }

    @Test("a cluster that stops answering mid-soak fails nothing: the soak pauses, resumes when it answers, and only then passes")
    mutating func blipPausesSoak() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)  // Healthy from 2 s; the soak is 10 s
        var blip = report("dev", "A", synced: false, health: .unknown, errors: ["GET /api/v1/namespaces/shop/configmaps: timed out"])
        blip.unavailable = true
        #expect(kinds(machine.report(stage: 0, blip, now: at(5))) == ["cluster-unavailable dev A", "soak-paused dev A"])
        #expect(kinds(machine.report(stage: 0, blip, now: at(30))) == [], "a pause is recorded once")
        #expect(kinds(machine.report(stage: 0, blip, now: at(90))) == [])
        #expect(machine.stages[0].candidate?.outage?.passes == 3)
        #expect(kinds(machine.tick(now: at(400))) == [], "a blip failed or verified the revision")
        #expect(machine.stages[0].candidate?.phase == .verifying)
        // Back at 400 s with 3 s soaked: 7 s more, not a moment less. The return is recorded
        // with how long the cluster was away and how many passes found it so.
        let back = machine.report(stage: 0, report("dev", "A"), now: at(400))
        #expect(kinds(back) == ["cluster-available dev A"])
        if case .record(_, _, _, let details, _)? = back.first {
            #expect(details["unavailableSeconds"] == .double(395) && details["unavailablePasses"] == .int(3))
            #expect(details["reason"]?.string == "GET /api/v1/namespaces/shop/configmaps: timed out")
        }
        #expect(machine.stages[0].candidate?.outage == nil)
        #expect(kinds(machine.tick(now: at(406.9))) == [])
        #expect(kinds(machine.tick(now: at(407))).first == "verified dev A")
    }

    @Test("a commit walks dev and staging after each soak and waits for approval before production")
    mutating func happyPath() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        let entered = machine.commit("A", now: at(0))
        #expect(kinds(entered) == ["entered dev A", "promoting dev A"])
        #expect(moves(entered) == ["dev: - → A"])
        _ = deliver(&machine, stage: 0, "A", at: 1)
        #expect(machine.stages[0].candidate?.phase == .verifying)
        #expect(kinds(machine.tick(now: at(11))) == [], "verified before its 10 s soak")
        let verified = machine.tick(now: at(12))
        #expect(kinds(verified) == ["verified dev A", "entered staging A", "promoting staging A"])
        #expect(moves(verified) == ["staging: - → A"])
        _ = deliver(&machine, stage: 1, "A", at: 13)
        let waiting = machine.tick(now: at(34))
        #expect(kinds(waiting) == ["verified staging A", "awaiting-approval production A"])
        #expect(moves(waiting) == [])
        #expect(machine.stages[2].candidate?.phase == .awaitingApproval)
    }

    @Test("approvals: listed approvers only, no commit authors, distinct people, then the quorum promotes")
    mutating func approvals() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = deliver(&machine, stage: 1, "A", at: 13)
        _ = machine.tick(now: at(34))
        #expect(throws: Refusal(message: "alice@x wrote a commit in this promotion and may not approve it")) {
            try machine.approve(stage: 2, revision: "A", actor: "alice@x", isCommitAuthor: true, comment: nil, now: at(40))
        }
        #expect(throws: Refusal(message: "dave@x may not approve production (approvers: alice@x, bob@x, carol@x)")) {
            try machine.approve(stage: 2, revision: "A", actor: "dave@x", isCommitAuthor: false, comment: nil, now: at(40))
        }
        #expect(throws: Refusal(message: "B is not awaiting approval in production (A is awaiting-approval)")) {
            try machine.approve(stage: 2, revision: "B", actor: "bob@x", isCommitAuthor: false, comment: nil, now: at(40))
        }
        let first = try machine.approve(stage: 2, revision: "A", actor: "bob@x", isCommitAuthor: false, comment: "looks good", now: at(41))
        #expect(kinds(first) == ["approved-by production A"] && moves(first) == [])
        #expect(throws: Refusal(message: "bob@x has already approved A for production")) {
            try machine.approve(stage: 2, revision: "A", actor: "bob@x", isCommitAuthor: false, comment: nil, now: at(42))
        }
        let second = try machine.approve(stage: 2, revision: "A", actor: "carol@x", isCommitAuthor: false, comment: nil, now: at(43))
        #expect(kinds(second) == ["approved-by production A", "approved production A", "promoting production A"])
        #expect(moves(second) == ["production: - → A"])
        #expect(machine.stages[2].candidate?.approvals.map(\.actor) == ["bob@x", "carol@x"])
        #expect(throws: Refusal(message: "dev promotes automatically: there is nothing to approve")) {
            try machine.approve(stage: 0, revision: "A", actor: "bob@x", isCommitAuthor: false, comment: nil, now: at(44))
        }
    }

    @Test("a drop in health restarts the soak; Degraded fails the revision and it goes no further")
    mutating func soakAndFailure() {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        let dropped = machine.report(stage: 0, report("dev", "A", health: .progressing), now: at(8))
        #expect(kinds(dropped) == ["soak-restarted dev A"])
        _ = machine.report(stage: 0, report("dev", "A"), now: at(9))
        #expect(kinds(machine.tick(now: at(15))) == [], "the soak did not restart")
        // Out of sync (someone deleted an object) is a drop too, even while Healthy.
        #expect(kinds(machine.report(stage: 0, report("dev", "A", synced: false), now: at(16))) == ["soak-restarted dev A"])
        _ = machine.report(stage: 0, report("dev", "A"), now: at(17))
        #expect(kinds(machine.tick(now: at(26))) == [], "an out-of-sync report did not restart the soak")
        #expect(kinds(machine.tick(now: at(27))).first == "verified dev A")

        var broken = PromotionMachine(pipeline: Self.pipeline)
        _ = broken.commit("B", now: at(0))
        _ = broken.refMoved(stage: 0, revision: "B", now: at(1))
        let failed = broken.report(stage: 0, report("dev", "B", health: .degraded), now: at(2))
        #expect(kinds(failed) == ["failed dev B"])
        #expect(broken.stages[0].candidate?.reason == "the environment is Degraded")
        #expect(kinds(broken.tick(now: at(100))) == [] && broken.stages[1].candidate == nil)
        // A report for another revision (the previous one, still running) is not evidence.
        var other = PromotionMachine(pipeline: Self.pipeline)
        _ = other.commit("C", now: at(0))
        _ = other.refMoved(stage: 0, revision: "C", now: at(1))
        _ = other.report(stage: 0, report("dev", "old"), now: at(2))
        #expect(other.stages[0].candidate?.phase == .syncing)
    }

    @Test("a newer commit supersedes one still soaking; a sync that never comes fails after the timeout")
    mutating func supersedeAndTimeout() {
        var machine = PromotionMachine(pipeline: Self.pipeline, syncTimeouts: ["dev": .seconds(60)])
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        let newer = machine.commit("B", now: at(5))
        #expect(kinds(newer) == ["superseded dev A", "entered dev B", "promoting dev B"])
        #expect(moves(newer) == ["dev: A → B"])
        _ = machine.refMoved(stage: 0, revision: "B", now: at(6))
        #expect(kinds(machine.tick(now: at(60))) == [])
        let timedOut = machine.tick(now: at(67))
        #expect(kinds(timedOut) == ["failed dev B"] && machine.stages[0].candidate?.reason == "not synced within 1m")
    }

    @Test("gates that cannot measure (Prometheus down) are no verdict: the revision waits, they are asked again 10 s later and a verdict then counts; only the sync timeout fails it")
    mutating func unknownGates() {
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: [
            Stage(environment: "dev", gates: [.health(HealthGate(soak: .seconds(0))), .prometheus(PrometheusGate(url: "http://127.0.0.1:9", query: "up"))]),
            Stage(environment: "staging", gates: [.health(HealthGate(soak: .seconds(0)))]),
        ])
        func evaluations(_ effects: [PromotionEffect]) -> Int {
            effects.filter { if case .evaluateGates = $0 { true } else { false } }.count
        }
        func records(_ effects: [PromotionEffect]) -> [String] {
            effects.compactMap { if case .record(let kind, _, _, _, _) = $0 { kind } else { nil } }
        }
        let unknown = GateOutcome(gate: "prometheus", verdict: .unknown, summary: "could not be measured: Prometheus unreachable", evidence: [:])
        let passed = GateOutcome(gate: "prometheus", verdict: .passed, summary: "1 of 1 measurements", evidence: [:])
        var machine = PromotionMachine(pipeline: pipeline, syncTimeouts: ["dev": .seconds(60)])
        _ = machine.commit("A", now: at(0))
        _ = machine.refMoved(stage: 0, revision: "A", now: at(1))
        #expect(evaluations(machine.report(stage: 0, report("dev", "A"), now: at(2))) == 1)
        #expect(records(machine.gatesEvaluated(stage: 0, revision: "A", outcomes: [unknown], now: at(3))) == ["gates-unknown"])
        #expect(machine.stages[0].candidate?.phase == .verifying && machine.stages[0].candidate?.checksUnknownSince == at(3))
        #expect(evaluations(machine.tick(now: at(12.9))) == 0, "asked again before the retry delay")
        #expect(evaluations(machine.tick(now: at(13))) == 1)
        #expect(records(machine.gatesEvaluated(stage: 0, revision: "A", outcomes: [unknown], now: at(14))) == [], "recorded once in a row")
        #expect(evaluations(machine.tick(now: at(24))) == 1)
        #expect(records(machine.gatesEvaluated(stage: 0, revision: "A", outcomes: [passed], now: at(25)))
                == ["gates-passed", "verified", "entered", "promoting"])
        #expect(machine.stages[0].candidate?.checksUnknownSince == nil)

        // Unknown for as long as the environment's sync timeout: that fails it, saying so.
        var stuck = PromotionMachine(pipeline: pipeline, syncTimeouts: ["dev": .seconds(60)])
        _ = stuck.commit("B", now: at(0))
        _ = stuck.refMoved(stage: 0, revision: "B", now: at(1))
        _ = stuck.report(stage: 0, report("dev", "B"), now: at(2))
        _ = stuck.gatesEvaluated(stage: 0, revision: "B", outcomes: [unknown], now: at(3))
        for time in stride(from: 13.0, through: 53.0, by: 10) {
            #expect(evaluations(stuck.tick(now: at(time))) == 1)
            #expect(records(stuck.gatesEvaluated(stage: 0, revision: "B", outcomes: [unknown], now: at(time))) == [])
        }
        #expect(evaluations(stuck.tick(now: at(63))) == 1)
        #expect(records(stuck.gatesEvaluated(stage: 0, revision: "B", outcomes: [unknown], now: at(63))) == ["failed"])
        #expect(stuck.stages[0].candidate?.phase == .failed)
        #expect(stuck.stages[0].candidate?.reason
                == "gate prometheus could not be evaluated for 1m (the environment's sync.timeout): could not be measured: Prometheus unreachable")
    }

    @Test("state saved before gate verdicts existed still loads: an outcome with passed alone, a candidate without the unknown-gate fields")
    func oldStateDecodes() throws {
        let outcome = try JSONDecoder().decode(GateOutcome.self, from: Data(#"{"gate":"http","passed":false,"summary":"503","evidence":{}}"#.utf8))
        #expect(outcome.verdict == .failed && !outcome.passed)
        let passed = try JSONDecoder().decode(GateOutcome.self, from: Data(#"{"gate":"http","passed":true,"summary":"200","evidence":{}}"#.utf8))
        #expect(passed.verdict == .passed)
        let unknown = GateOutcome(gate: "prometheus", verdict: .unknown, summary: "down", evidence: [:])
        let again = try JSONDecoder().decode(GateOutcome.self, from: try JSONEncoder().encode(unknown))
        #expect(again == unknown)
        let candidate = try JSONDecoder().decode(Candidate.self, from: Data(#"{"revision":"abc","phase":"verifying","since":0}"#.utf8))
        #expect(candidate.checksUnknownSince == nil && candidate.checksRetryAt == nil && candidate.phase == .verifying)
    }

    @Test("a held revision does not enter until released")
    mutating func holds() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        machine.hold("A")
        #expect(kinds(machine.commit("A", now: at(0))) == ["held dev A"])
        #expect(machine.stages[0].candidate == nil)
        // Released, the branch's head goes on where it was stopped.
        #expect(kinds(try machine.release("A", actor: "bob@x", now: at(1))) == ["released - A", "entered dev A", "promoting dev A"])
        #expect(kinds(machine.commit("A", now: at(1))) == [], "the same head entered twice")
        // Holding a revision does not disturb the one a stage is working on.
        machine.hold("B")
        #expect(kinds(machine.commit("B", now: at(2))) == ["held dev B"])
        #expect(machine.stages[0].candidate?.revision == "A" && machine.stages[0].candidate?.phase == .promoting)
    }

    @Test("a rejection is final for that revision in that stage")
    mutating func rejection() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = deliver(&machine, stage: 1, "A", at: 13)
        _ = machine.tick(now: at(34))
        let rejected = try machine.reject(stage: 2, revision: "A", actor: "bob@x", reason: "wrong build", now: at(35))
        #expect(kinds(rejected) == ["rejected production A"])
        #expect(throws: Refusal(message: "A is not waiting in production")) {
            try machine.reject(stage: 2, revision: "A", actor: "bob@x", reason: "again", now: at(36))
        }
        #expect(throws: Refusal(message: "A is not awaiting approval in production (A is rejected)")) {
            try machine.approve(stage: 2, revision: "A", actor: "carol@x", isCommitAuthor: false, comment: nil, now: at(37))
        }
        #expect(machine.stages[2].candidate?.phase == .rejected && machine.stages[2].deployed == nil)
    }

    @Test("a deny window keeps an approved revision from entering until it closes, and never interrupts a promotion")
    mutating func windows() throws {
        var stages = Self.pipeline.stages
        stages[2].windows = [DeployWindow(effect: .deny, days: [.sat, .sun], timezone: "UTC")]
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: stages)
        // 2026-11-27 is a Friday: the revision reaches production late on Friday, is approved on Saturday.
        let friday = try Date("2026-11-27T23:50:00Z", strategy: .iso8601)
        func at(_ seconds: Double) -> Date { friday.addingTimeInterval(seconds) }
        var machine = PromotionMachine(pipeline: pipeline)
        _ = machine.commit("A", now: at(0))
        _ = machine.refMoved(stage: 0, revision: "A", now: at(1))
        _ = machine.report(stage: 0, report("dev", "A"), now: at(2))
        _ = machine.tick(now: at(12))
        _ = machine.refMoved(stage: 1, revision: "A", now: at(13))
        _ = machine.report(stage: 1, report("staging", "A"), now: at(14))
        _ = machine.tick(now: at(34))
        _ = try machine.approve(stage: 2, revision: "A", actor: "bob@x", isCommitAuthor: false, comment: nil, now: at(900))
        let blocked = try machine.approve(stage: 2, revision: "A", actor: "carol@x", isCommitAuthor: false, comment: nil, now: at(901))
        #expect(kinds(blocked) == ["approved-by production A", "approved production A", "blocked-by-window production A"])
        #expect(moves(blocked) == [] && machine.stages[2].candidate?.blockedBy == "blocked by the deny window sat, sun all day (UTC)")
        #expect(kinds(machine.tick(now: at(3600))) == [], "the block was recorded twice")
        let monday = machine.tick(now: at(2 * 86_400 + 600))
        #expect(moves(monday) == ["production: - → A"])
        #expect(machine.stages[2].candidate?.blockedBy == nil)
    }

    /// A verified in dev, then B (the branch's head) verified there and entering staging.
    mutating func twoVerifiedInDev() -> PromotionMachine {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = machine.commit("B", now: at(13))
        _ = deliver(&machine, stage: 0, "B", at: 14)
        _ = machine.tick(now: at(25))
        return machine
    }

    @Test("a rollback moves the ref anywhere, holds what it replaced, and does not move on; release lets it through again")
    mutating func rollbackAndRelease() throws {
        var machine = twoVerifiedInDev()
        #expect(machine.stages[0].verified == "B" && machine.stages[1].candidate?.revision == "B")
        let back = try machine.rollback(stage: 0, to: "A", actor: "bob@x", reason: "B is slow", now: at(26))
        #expect(kinds(back) == ["held dev B", "promoting dev A"])
        #expect(moves(back) == ["dev: B → A"] && machine.holds == ["B"])
        _ = deliver(&machine, stage: 0, "A", at: 27)
        _ = machine.tick(now: at(40))
        #expect(machine.stages[0].candidate?.phase == .verified && machine.stages[1].candidate?.revision == "B",
                "a rollback's revision moved on to staging")
        #expect(throws: Refusal(message: "B is held after a rollback; release it first (baton release shop B)")) {
            try machine.promote(stage: 0, revision: "B", actor: "bob@x", verifiedBefore: true, force: false, reason: nil, now: at(41))
        }
        // Released, B (still the branch's head) enters dev again, the stage the rollback took it out of.
        #expect(kinds(try machine.release("B", actor: "bob@x", now: at(42))) == ["released - B", "entered dev B", "promoting dev B"])
        #expect(machine.holds.isEmpty)
        #expect(throws: Refusal(message: "B is already promoting in dev")) {
            try machine.promote(stage: 0, revision: "B", actor: "bob@x", verifiedBefore: true, force: false, reason: nil, now: at(43))
        }
    }

    @Test("a release while the rollback is still verifying brings the held revision back to the stage the rollback took it out of")
    mutating func releaseDuringRollbackVerification() throws {
        var machine = twoVerifiedInDev()
        _ = try machine.rollback(stage: 0, to: "A", actor: "bob@x", reason: "B is slow", now: at(26))
        _ = deliver(&machine, stage: 0, "A", at: 27)  // dev runs A again; its 10 s soak has not passed
        #expect(machine.stages[0].candidate?.phase == .verifying && machine.stages[0].verified == "B")
        // Dev still lists B as verified (the rollback is not yet): B must come back to dev all the
        // same, not be sent on to staging, nor go nowhere (it once went nowhere).
        let released = try machine.release("B", actor: "bob@x", now: at(29))
        #expect(kinds(released) == ["released - B", "superseded dev A", "entered dev B", "promoting dev B"])
        #expect(moves(released) == ["dev: A → B"])
        #expect(machine.holds.isEmpty)
    }

    @Test("a manual promotion needs the revision verified in the stage before, or --force; the machine survives a snapshot")
    mutating func manualPromotionAndSnapshot() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        #expect(throws: Refusal(message: "A was not verified in dev; promote it with --force --reason to bypass that")) {
            try machine.promote(stage: 1, revision: "A", actor: "bob@x", verifiedBefore: false, force: false, reason: nil, now: at(1))
        }
        let forced = try machine.promote(stage: 1, revision: "A", actor: "bob@x", verifiedBefore: false, force: true, reason: "hotfix", now: at(2))
        #expect(kinds(forced) == ["entered staging A", "promoting staging A"])
        #expect(machine.stages[1].candidate?.kind == .forced && machine.stages[1].candidate?.actor == "bob@x")
        let data = try JSONEncoder().encode(machine.snapshot)
        let restored = PromotionMachine(pipeline: Self.pipeline, snapshot: try JSONDecoder().decode(PromotionSnapshot.self, from: data))
        #expect(restored.snapshot == machine.snapshot)
        #expect(restored.stages[1].candidate?.reason == "hotfix")
    }
}

extension PromotionMachineTests {
    @Test("revisions waiting through a deny window coalesce: when it opens only the newest goes")
    mutating func windowCoalesces() throws {
        var stages = Self.pipeline.stages
        stages[1].windows = [DeployWindow(effect: .deny, days: [.sat, .sun], timezone: "Europe/Berlin")]
        stages[2].promote = .auto
        stages[2].approval = nil
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: stages)
        // Saturday 2026-11-28, 10:00 in Berlin.
        let saturday = try Date("2026-11-28T09:00:00Z", strategy: .iso8601)
        func at(_ seconds: Double) -> Date { saturday.addingTimeInterval(seconds) }
        var machine = PromotionMachine(pipeline: pipeline)
        for (offset, revision) in [(0.0, "A"), (100.0, "B")] {
            _ = machine.commit(revision, now: at(offset))
            _ = machine.refMoved(stage: 0, revision: revision, now: at(offset + 1))
            _ = machine.report(stage: 0, report("dev", revision), now: at(offset + 2))
            let verified = machine.tick(now: at(offset + 12))
            #expect(kinds(verified).contains("blocked-by-window staging \(revision)"))
        }
        #expect(machine.stages[1].candidate?.revision == "B" && machine.stages[1].candidate?.phase == .pending)
        #expect(moves(machine.tick(now: at(3600))) == [], "a revision entered staging during the deny window")
        // Monday 00:00 in Berlin is Sunday 23:00Z.
        let monday = try Date("2026-11-29T23:00:00Z", strategy: .iso8601)
        #expect(moves(machine.tick(now: monday.addingTimeInterval(-60))) == [])
        let opened = machine.tick(now: monday)
        #expect(moves(opened) == ["staging: - → B"])
        #expect(kinds(opened).filter { $0.hasSuffix(" A") }.isEmpty, "the older waiting revision was promoted too")
    }
}

extension PromotionMachineTests {
    @Test("a rollback's hold stops the held revision waiting further down; approvals for it are refused")
    mutating func holdReachesDownstream() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = deliver(&machine, stage: 1, "A", at: 13)
        _ = machine.tick(now: at(34))
        #expect(machine.stages[2].candidate?.phase == .awaitingApproval)
        _ = machine.commit("B", now: at(35))
        _ = deliver(&machine, stage: 0, "B", at: 36)
        // Dev goes back from B to A, holding B; then staging is rolled back from A too, holding A.
        _ = try machine.rollback(stage: 1, to: "Z", actor: "bob@x", reason: "bad", now: at(40))
        #expect(machine.holds.contains("A"))
        #expect(throws: Refusal(message: "A is held after a rollback; release it first (baton release shop A)")) {
            try machine.approve(stage: 2, revision: "A", actor: "bob@x", isCommitAuthor: false, comment: nil, now: at(41))
        }
    }

    @Test("a rejection is for revisions not yet under way, by the stage's approvers")
    mutating func rejectionRules() throws {
        var machine = PromotionMachine(pipeline: Self.pipeline)
        _ = machine.commit("A", now: at(0))
        #expect(throws: Refusal(message: "A is already promoting in dev; to take it out, roll back (baton rollback dev --to REV --reason ...)")) {
            try machine.reject(stage: 0, revision: "A", actor: "bob@x", reason: "no", now: at(1))
        }
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = deliver(&machine, stage: 1, "A", at: 13)
        _ = machine.tick(now: at(34))
        #expect(throws: Refusal(message: "mallory@x may not reject in production (approvers: alice@x, bob@x, carol@x)")) {
            try machine.reject(stage: 2, revision: "A", actor: "mallory@x", reason: "no", now: at(35))
        }
        #expect(kinds(try machine.reject(stage: 2, revision: "A", actor: "carol@x", reason: "no", now: at(36))) == ["rejected production A"])
    }

    @Test("once Healthy, a drop restarts the soak even past the sync timeout; verifying needs the latest pass Healthy")
    mutating func dropsAfterHealthy() {
        var machine = PromotionMachine(pipeline: Self.pipeline, syncTimeouts: ["dev": .seconds(5)])
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)   // Healthy at 2
        _ = machine.report(stage: 0, report("dev", "A", health: .progressing), now: at(8))
        #expect(kinds(machine.tick(now: at(20))) == [], "a drop after being Healthy failed the revision on the sync timeout")
        _ = machine.report(stage: 0, report("dev", "A"), now: at(21))
        #expect(kinds(machine.tick(now: at(31))).first == "verified dev A")
        // The ref moved away while B was being verified: B cannot pass any more.
        _ = machine.commit("B", now: at(40))
        _ = deliver(&machine, stage: 0, "B", at: 41)
        let moved = machine.refMoved(stage: 0, revision: "C", now: at(45))
        #expect(kinds(moved) == ["ref-changed dev C", "failed dev B"])
        #expect(machine.stages[0].candidate?.reason == "dev's ref was moved outside Baton to C")
    }

    @Test("a stage made manual after a revision began waiting to enter it asks for approval first")
    mutating func modeChange() throws {
        var stages = Self.pipeline.stages
        stages[2].promote = .auto
        stages[2].approval = nil
        stages[2].windows = [DeployWindow(effect: .deny, timezone: "UTC")]
        let auto = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: stages)
        var machine = PromotionMachine(pipeline: auto)
        _ = machine.commit("A", now: at(0))
        _ = deliver(&machine, stage: 0, "A", at: 1)
        _ = machine.tick(now: at(12))
        _ = deliver(&machine, stage: 1, "A", at: 13)
        _ = machine.tick(now: at(34))
        #expect(machine.stages[2].candidate?.phase == .pending && machine.stages[2].candidate?.blockedBy != nil)
        let reloaded = PromotionMachine(pipeline: Self.pipeline, snapshot: machine.snapshot)
        #expect(reloaded.stages[2].candidate?.phase == .awaitingApproval)
    }
}
