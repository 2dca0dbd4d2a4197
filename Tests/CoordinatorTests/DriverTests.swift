import AuditStore
import BatonCore
import BatonTestSupport
import Coordinator
import Foundation
import GitStore
import Logging
import Synchronization
import Testing

/// The pipeline driver on a real git repository and a real audit database, its time given by
/// the test; no reconcile loops (the tests feed the reports a loop would).
@Suite("Coordinator: the pipeline driver")
struct DriverTests {
    static let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo"), stages: [
        Stage(environment: "dev", gates: [.health(HealthGate(soak: .seconds(0)))]),
        Stage(environment: "production", promote: .manual, gates: [.health(HealthGate(soak: .seconds(0)))],
              approval: ApprovalPolicy(required: 1, approvers: ["alice@x"], allowCommitAuthors: true)),
    ], identity: .unverified)  // decisions by claimed names: signed ones are SignedApprovalTests'
    static let environments = ["dev", "production"].map { EnvironmentConfig(name: $0, source: ManifestSource(path: "app")) }

    /// Time as the test sets it.
    final class TestTime: Sendable {
        private let time = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        var now: Date { time.withLock { $0 } }
        func advance(_ seconds: Double) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    struct Setup {
        let dir: TemporaryDirectory
        let git: GitCLI
        let audit: AuditStore
        let time = TestTime()

        init(_ label: String) async throws {
            dir = try TemporaryDirectory(label)
            try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.path + "/repo", withIntermediateDirectories: true)
            git = GitCLI(directory: dir.path + "/repo", home: dir.path + "/home")
            try await git.run(["init", "-q", "-b", "main"])
            audit = try AuditStore(path: dir.path + "/.baton/baton.db")
        }

        func driver(_ pipeline: PipelineConfig = DriverTests.pipeline, now: (@Sendable () -> Date)? = nil) async throws -> PipelineDriver {
            let refs = EnvironmentRefs(store: try await GitStore.open(dir.path + "/repo"), remote: nil)
            let time = self.time
            return try PipelineDriver(ledger: PromotionLedger(pipeline: pipeline, environments: DriverTests.environments, audit: audit),
                                      refs: refs, environments: DriverTests.environments, gates: nil, now: now ?? { time.now },
                                      logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        }

        func ref(_ environment: String) async -> String? {
            try? await git.line("rev-parse", "--verify", "-q", "refs/heads/env/\(environment)")
        }

        func kinds(after sequence: Int64 = 0) throws -> [String] {
            try audit.events(after: sequence).map { "\($0.kind) \($0.environment ?? "-")" }
        }

        /// The ref poller alone on `clock`, reading the environment refs every ten seconds (it
        /// feeds `driver` through observe): one sleeper. Until cancelled.
        func pollerAlone(_ driver: PipelineDriver, clock: ManualClock) async throws -> Task<Void, Never> {
            let poller = RefPoller(refs: EnvironmentRefs(store: try await GitStore.open(dir.path + "/repo"), remote: nil), drivers: [driver],
                                   environmentRefsEvery: .seconds(10))
            return Task { await poller.run(clock: clock, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) }
        }

        /// `driver` (ticking every second) and a ref poller of its own, on `clock`, until cancelled.
        func runWithPoller(_ driver: PipelineDriver, clock: ManualClock) async throws -> Task<Void, Never> {
            let poller = RefPoller(refs: EnvironmentRefs(store: try await GitStore.open(dir.path + "/repo"), remote: nil), drivers: [driver])
            return Task {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await driver.run(reconcilers: [], tick: .seconds(1), clock: clock) }
                    group.addTask { await poller.run(clock: clock, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }) }
                }
            }
        }

        func report(_ environment: String, _ revision: String, health: HealthStatus = .healthy) -> StatusReport {
            StatusReport(environment: environment, revision: revision, synced: true, health: health, objects: [], driftFound: false,
                         applied: true, errors: [], startedAt: time.now, duration: .seconds(0))
        }
    }

    @Test("an input is one transaction and its ref move is carried out at once, waking the loop; ticks and repeated passes write nothing")
    func effectsCarriedOut() async throws {
        let setup = try await Setup("driver-effects")
        defer { setup.dir.remove() }
        let driver = try await setup.driver()
        let devWakeup = await driver.wakeup(for: "dev")
        await driver.recover()
        #expect(await driver.transactions == 0, "recovering a pipeline on an empty repository wrote something")
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])

        await driver.feed(.commit(c1))
        await #expect(setup.ref("dev") == c1, "the moveRef effect was not carried out")
        #expect(devWakeup.take(), "the dev reconcile loop was not woken when its ref moved")
        #expect(try setup.kinds() == ["entered dev", "promoting dev", "ref-moved dev"])
        // The commit (entered, promoting: the intent) and the move it led to: two transactions.
        #expect(await driver.transactions == 2)

        await driver.feed(.report(setup.report("dev", c1)))
        #expect(try setup.kinds().suffix(3) == ["verifying dev", "verified dev", "awaiting-approval production"])
        let written = await driver.transactions
        for _ in 0..<5 {
            setup.time.advance(1)
            await driver.feed(.tick)
        }
        setup.time.advance(30)
        await driver.feed(.report(setup.report("dev", c1)))
        await driver.feed(.commit(c1))
        #expect(await driver.transactions == written, "ticks, a pass that saw what the last one saw, or the same head were written")
        #expect(await driver.stateReads == 1, "the driver read its saved state again")
        // A pass that sees something new is written.
        await driver.feed(.report(setup.report("dev", c1, health: .progressing)))
        #expect(await driver.transactions == written + 1)
    }

    @Test("decisions come through the inbox: a refused one is recorded with why, an accepted one applied and its ref moved, neither twice")
    func inboxDecisions() async throws {
        let setup = try await Setup("driver-inbox")
        defer { setup.dir.remove() }
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let driver = try await setup.driver()
        await driver.feed(.commit(c1))
        await driver.feed(.report(setup.report("dev", c1)))
        let before = try setup.audit.lastSequence()

        let approve = Decision.approve(environment: "production", revision: c1, isCommitAuthor: false, comment: "ok")
        let refused = try setup.audit.enqueue(pipeline: "shop", actor: "mallory@x", body: approve.encoded())
        let accepted = try setup.audit.enqueue(pipeline: "shop", actor: "alice@x", body: approve.encoded())
        let other = try setup.audit.enqueue(pipeline: "blog", actor: "alice@x", body: approve.encoded())
        let waiting = try setup.audit.waitingInbox()
        #expect(waiting.map(\.id) == [refused, accepted, other])
        await driver.handle(waiting)

        #expect(try setup.audit.inboxItem(refused)?.outcome == .refused("mallory@x may not approve production (approvers: alice@x)"))
        #expect(try setup.audit.inboxItem(accepted)?.outcome == .accepted)
        #expect(try setup.audit.inboxItem(other)?.outcome == nil, "another pipeline's decision was handled")
        await #expect(setup.ref("production") == c1)
        let events = try setup.audit.events(after: before)
        #expect(events.map { "\($0.kind) \($0.actor)" } == ["approval-refused mallory@x", "approved-by alice@x", "approved alice@x",
                                                             "promoting alice@x", "ref-moved baton"])

        // The same items handed over again (a stale list): nothing is applied twice.
        let written = try setup.audit.lastSequence()
        await driver.handle(waiting)
        #expect(try setup.audit.lastSequence() == written)
        #expect(try setup.audit.waitingInbox().map(\.id) == [other])
    }

    @Test("a move decided and not made (the ref was locked, then the process stopped) is made once by the next driver's recover")
    func recoverMakesTheMove() async throws {
        let setup = try await Setup("driver-recover")
        defer { setup.dir.remove() }
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let lock = setup.dir.path + "/repo/.git/refs/heads/env/dev.lock"
        try FileManager.default.createDirectory(atPath: setup.dir.path + "/repo/.git/refs/heads/env", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: lock, contents: Data()))
        // A live holder's lock, however slow the machine: a lock is taken for a dead process's
        // only once 10 s old (GitStore.staleLockAge).
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: lock)
        do {
            let first = try await setup.driver()
            await first.feed(.commit(c1))
            await #expect(setup.ref("dev") == nil, "the ref moved although git's lock was held")
            #expect(try setup.kinds() == ["entered dev", "promoting dev"])
        }
        try FileManager.default.removeItem(atPath: lock)
        let second = try await setup.driver()
        await second.recover()
        await #expect(setup.ref("dev") == c1)
        await second.recover()
        #expect(try setup.kinds() == ["entered dev", "promoting dev", "ref-moved dev"], "the move was recorded other than once")
        let reflog = try await setup.git.run(["reflog", "show", "--format=%H", "refs/heads/env/dev"]).split(separator: "\n")
        #expect(reflog == [Substring(c1)])
    }

    @Test("a change another process made to the saved state is read again, never overwritten; the input is taken on its next coming")
    func conflictReadsAgain() async throws {
        let setup = try await Setup("driver-conflict")
        defer { setup.dir.remove() }
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let driver = try await setup.driver()
        await driver.feed(.tick)
        // Another process (breaking the one-driver rule) saves a hold.
        try setup.audit.update(state: "pipeline:shop") { data in
            let saved = try data.map { try JSONValue.parse($0) } ?? ["stages": [], "holds": []]
            var fields = saved.object ?? [:]
            fields["holds"] = ["0123456789abcdef0123456789abcdef01234567"]
            data = JSONValue.object(fields).encoded()
            return []
        }
        await driver.feed(.commit(c1))
        await #expect(setup.ref("dev") == nil, "the input was applied over a state it had not read")
        await driver.feed(.commit(c1))
        await #expect(setup.ref("dev") == c1)
        let ledger = PromotionLedger(pipeline: Self.pipeline, environments: Self.environments, audit: setup.audit)
        #expect(try ledger.load().holds == ["0123456789abcdef0123456789abcdef01234567"], "the other process's hold was overwritten")
        #expect(await driver.stateReads == 2)
    }

    @Test("on a test clock: the branch is looked at every poll, and a 60 s soak passes at 60 s, not a tick before")
    func soakOnTheTestClock() async throws {
        let setup = try await Setup("driver-clock")
        defer { setup.dir.remove() }
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo", poll: .seconds(5)),
                                      stages: [Stage(environment: "dev", gates: [.health(HealthGate(soak: .seconds(60)))])])
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let clock = ManualClock()
        let driver = try await setup.driver(pipeline, now: { clock.date })
        let running = try await setup.runWithPoller(driver, clock: clock)
        defer { running.cancel() }
        // The poller and the driver (ticking while the first revision is on its way) asleep.
        #expect(await clock.waitForSleepers(2))
        await #expect(setup.ref("dev") == c1, "the first look at the branch did not promote its head")

        // A commit between two looks waits for the next one, five seconds after the last.
        let c2 = try await setup.git.commit("two", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {}\n"])
        for _ in 0..<4 {
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(2))
        }
        await #expect(setup.ref("dev") == c1, "the branch was looked at before its poll")
        clock.advance(by: .seconds(1))
        #expect(await clock.waitForSleepers(2))
        await #expect(setup.ref("dev") == c2)

        await driver.feed(.report(setup.report("dev", c2)))
        for _ in 0..<59 {
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(2))
        }
        #expect(try !setup.kinds().contains("verified dev"), "the soak passed before its 60 s")
        clock.advance(by: .seconds(1))
        #expect(await clock.waitForSleepers(2))
        #expect(try setup.kinds().last == "verified dev")
        // At rest, the driver stops ticking: it waits for its next input (and the poller polls).
        let written = await driver.transactions
        for _ in 0..<30 {
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(2))
        }
        #expect(await driver.transactions == written)
        running.cancel()
        await running.value
    }

    @Test("on a test clock: the branch is read every poll, environment refs every ten seconds; a move made outside Baton is seen then, recorded and set back")
    func environmentRefsReadLessOften() async throws {
        let setup = try await Setup("driver-env-refs")
        defer { setup.dir.remove() }
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo", poll: .seconds(1)), stages: [Stage(environment: "dev")])
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let clock = ManualClock()
        let driver = try await setup.driver(pipeline, now: { clock.date })
        let running = try await setup.pollerAlone(driver, clock: clock)
        defer { running.cancel() }
        #expect(await clock.waitForSleepers(1))
        await #expect(setup.ref("dev") == c1)
        // Someone moves env/dev to a commit of their own, outside Baton.
        let side = try await setup.git.run(["commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "side"]).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await setup.git.run(["update-ref", "refs/heads/env/dev", side])
        for _ in 0..<9 {
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(1))
        }
        #expect(try !setup.kinds().contains("ref-moved-outside dev"), "environment refs were read at every poll")
        // The tenth poll reads every ref again: the move is recorded and undone.
        clock.advance(by: .seconds(1))
        #expect(await clock.waitForSleepers(1))
        #expect(try setup.kinds().contains("ref-moved-outside dev"), "the move outside Baton was not seen after ten seconds")
        await #expect(setup.ref("dev") == c1, "the ref moved outside Baton was not set back")
        await #expect(driver.recordedRevision("dev") == c1)
        // Deleted outside Baton: made again where the pipeline put it, and recorded.
        _ = try await setup.git.run(["update-ref", "-d", "refs/heads/env/dev"])
        for _ in 0..<10 {
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(1))
        }
        await #expect(setup.ref("dev") == c1, "the deleted ref was not made again")
        #expect(try setup.kinds().filter { $0 == "ref-moved-outside dev" }.count == 2)
        running.cancel()
        await running.value
    }

    @Test("on a test clock: new heads read between two reads of the environment refs are promoted, and no environment ref is taken for deleted")
    func headsBetweenEnvironmentRefReads() async throws {
        let setup = try await Setup("driver-heads-only")
        defer { setup.dir.remove() }
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo", poll: .seconds(1)), stages: [Stage(environment: "dev")])
        _ = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let clock = ManualClock()
        let driver = try await setup.driver(pipeline, now: { clock.date })
        let running = try await setup.pollerAlone(driver, clock: clock)
        defer { running.cancel() }
        #expect(await clock.waitForSleepers(1))
        var last = ""
        for round in 2...4 {
            last = try await setup.git.commit("change \(round)", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {n: \"\(round)\"}\n"])
            clock.advance(by: .seconds(1))
            #expect(await clock.waitForSleepers(1))
            await #expect(setup.ref("dev") == last, "round \(round): the new head was not promoted")
        }
        let kinds = try setup.kinds()
        #expect(!kinds.contains { $0.hasPrefix("ref-moved-outside") }, "a read of the branch alone was taken for a deleted environment ref: \(kinds)")
        #expect(kinds.filter { $0 == "ref-moved dev" }.count == 4, "\(kinds)")
        running.cancel()
        await running.value
    }

    @Test("with repo.paths, a head that changes nothing under them is passed over; the next one that does brings both")
    func pathsFilterHeads() async throws {
        let setup = try await Setup("driver-paths")
        defer { setup.dir.remove() }
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: "./repo", paths: ["app"]), stages: [Stage(environment: "dev")])
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let driver = try await setup.driver(pipeline)
        func head(_ commit: String) async {
            await driver.observe(["refs/heads/main": commit], environmentRefsRead: false, epoch: await driver.moveEpoch)
        }
        await head(c1)
        await #expect(setup.ref("dev") == c1, "the first head is promoted whatever it touches")
        let c2 = try await setup.git.commit("another app", files: ["blog/cm.yaml": "kind: ConfigMap\n", "apps/x.yaml": "kind: ConfigMap\n"])
        await head(c2)
        await head(c2)
        await #expect(setup.ref("dev") == c1, "a head that changes nothing under app was promoted")
        #expect(try setup.kinds().filter { $0.hasPrefix("entered") }.count == 1)
        let c3 = try await setup.git.commit("this app", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {}\n"])
        await head(c3)
        await #expect(setup.ref("dev") == c3)
        let promotions = try setup.audit.promotions(pipeline: "shop")
        #expect(promotions.map(\.revision) == [c1, c3] && promotions.last?.from == c1, "\(promotions.map { ($0.revision.prefix(8), $0.from?.prefix(8)) })")
    }

    @Test("a CLI command driving for a moment (recover without the head) moves no ref for a new head; baton run's recover does")
    func recoverWithoutHead() async throws {
        let setup = try await Setup("driver-recover-head")
        defer { setup.dir.remove() }
        let c1 = try await setup.git.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        let command = try await setup.driver()
        await command.recover(takingHead: false)
        let kinds = try setup.kinds()
        await #expect(setup.ref("dev") == nil && kinds.isEmpty, "a decision's command promoted the branch head: \(kinds)")
        let run = try await setup.driver()
        await run.recover()
        await #expect(setup.ref("dev") == c1)
    }
}
