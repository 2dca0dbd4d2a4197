import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Testing

/// Baton's main job end to end: `baton run` promoting commits of a real repository through
/// three KubeSim clusters, with approvals, failures, rollbacks and crashes.
@Suite("Promotions end to end: baton run, approve, rollback, release, status, history, who-changed")
struct PromotionFlowTests {
    @Test("a commit reaches dev and staging by itself; production waits for two approvers other than its author")
    func approvalsToProduction() async throws {
        let flow = try await PromotionFlow("flow-approve")
        defer { Task { await flow.close() } }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("v1 awaiting approval in production") {
            guard flow.phase("staging", v1) == "verified" else { return false }
            return try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.contains("\"phase\" : \"awaiting-approval\"")
        }
        await #expect(flow.ref("production") == nil)

        let status = try await flow.baton(["status", "guestbook"])
        #expect(status.stdout.contains("production: \(v1.prefix(8)) \"guestbook guestbook:1.0.0\" is awaiting-approval"), "\(status.stdout)")
        #expect(status.stdout.contains("approvals: 0 of 2\n  may still approve: bob@example.com, carol@example.com\n"
                                       + "  may not approve: alice@example.com"), "\(status.stdout)")

        let byAuthor = try await flow.baton(["approve", "guestbook", "production"], as: "alice@example.com")
        #expect(byAuthor.status == 1)
        #expect(byAuthor.stderr == "baton: refused: alice@example.com wrote a commit in this promotion and may not approve it\n")
        let outsider = try await flow.baton(["approve", "guestbook", "production"], as: "mallory@example.com")
        #expect(outsider.status == 1 && outsider.stderr.contains("mallory@example.com may not approve production"))
        let bob = try await flow.baton(["approve", "guestbook", "production", "--comment", "looks good"], as: "bob@example.com")
        #expect(bob.status == 0 && bob.stdout == "approved \(v1.prefix(8)) for production as bob@example.com, unverified (1 of 2)\n", "\(bob.stderr)")
        await #expect(flow.ref("production") == nil, "one approval of two promoted")
        let carol = try await flow.baton(["approve", "guestbook", "production"], as: "carol@example.com")
        #expect(carol.status == 0, "\(carol.stderr)")

        try await flow.wait("v1 verified in production") { flow.phase("production", v1) == "verified" }
        await #expect(flow.ref("production") == v1)
        #expect(await flow.image(in: "production") == "guestbook:1.0.0")
        // An approval for a revision no longer waiting is refused with the reason.
        let late = try await flow.baton(["approve", "guestbook", "production", "--revision", v1], as: "bob@example.com")
        #expect(late.status == 1 && late.stderr.contains("is not awaiting approval in production (\(v1.prefix(8)) is verified)"), "\(late.stderr)")

        let who = try await flow.baton(["audit", "who-changed", "deployment/guestbook", "--env", "production"])
        #expect(who.status == 0)
        #expect(who.stdout.contains("create at \(v1.prefix(8)), promotion from nothing (approved, started by baton)"), "\(who.stdout)")
        #expect(who.stdout.contains("commits by: alice@example.com"))
        #expect(who.stdout.contains("approved by: bob@example.com at") && who.stdout.contains("(\"looks good\"), carol@example.com at"))
        #expect(who.stdout.contains("gate health in staging: passed"))
        let history = try await flow.baton(["history", "guestbook", "--output", "json"])
        let entries = try JSONValue.parse(Data(history.stdout.utf8)).array ?? []
        #expect(entries.map { $0[path: ["promotion", "environment"]]?.string } == ["dev", "staging", "production"])
        #expect(entries.last?["approvedBy"] == ["bob@example.com", "carol@example.com"])
        let verify = try await flow.baton(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stderr)")
        // A database named by a bare file name is found in the current folder.
        let relative = try await CommandRun.run(CommandRun.batonPath, ["audit", "verify", "--db", "baton.db"], in: flow.dir.path + "/.baton",
                                                     environment: flow.environment)
        #expect(relative.status == 0, "\(relative.stderr)")
        // The refused attempts are in the log too, with who tried.
        let refused = try flow.audit().events().filter { $0.kind == "approval-refused" }.map(\.actor)
        #expect(refused == ["alice@example.com", "mallory@example.com", "bob@example.com"])
        #expect(await flow.stop(SIGTERM) == 0)
        // Stopped cleanly, and the driver read the saved state once (at start), never while it ran.
        #expect(flow.runOutput().hasSuffix(" reads of it)\n"), "\(flow.runOutput().suffix(300))")
        #expect(flow.runOutput().contains("write transactions of promotion state, 1 reads of it)"), "\(flow.runOutput().suffix(300))")
        #expect(flow.runOutput().contains("guestbook/production \(v1.prefix(8)) approved-by (actor bob@example.com; 1 of 2 approvals)"))
    }

    @Test("through faults on every cluster (a fifth of the answers 500, a tenth 429, each 50 ms slow), staging frozen for 3 s, production's watches dropped into 410 and black-holed for 3 s, a release reaches production and nothing fails")
    func faultsFailNothing() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks["production"] = "4s"  // the production faults below come while it soaks
        // A request sent into the black hole below hears nothing until the client's stall limit
        // (30 s) ends it: with 40 s, a run whose first production sync met the hole failed there
        // on the timeout, as it should. The timeout must leave room for that and the retries.
        options.syncTimeout = "120s"
        let flow = try await PromotionFlow("flow-faults", options)
        defer { Task { await flow.close() } }
        for server in flow.servers.values {
            await server.simulation.faults.set(Faults.Settings(latencyMs: 50, errorRate: 0.2, throttleRate: 0.1, retryAfterSeconds: 1))
        }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("v1 verified in dev", seconds: 90) { flow.phase("dev", v1) == "verified" }
        await flow.servers["staging"]?.simulation.faults.freeze(for: .seconds(3))
        // Production's watches are dropped and their history compacted (each resumes into 410
        // Expired and lists again), then every byte to it is lost for 3 s (connections half-open).
        try await flow.wait("v1 entering production", seconds: 120) { flow.phase("production", v1) != nil }
        #expect(flow.phase("production", v1) != "verified", "v1 was verified in production before the faults")
        if let production = flow.servers["production"] {
            await production.state.compact()
            await production.state.dropWatches()
            production.simulation.faults.blackHole.open(for: .seconds(3))
        }
        try await flow.wait("v1 verified in production", seconds: 120) { flow.phase("production", v1) == "verified" }
        #expect(await flow.image(in: "production") == "guestbook:1.0.0")
        let failed = try flow.audit().promotions().filter { $0.phase == "failed" }
        #expect(failed.isEmpty, "\(failed.map { "\($0.environment): \($0.reason ?? "")" })")
        let injected = flow.servers.values.map { $0.requests.count("GET") + $0.requests.count("PATCH") }.reduce(0, +)
        #expect(injected > 50, "too few requests (\(injected)) for the faults to have been met")
        #expect(await flow.stop(SIGTERM) == 0)
    }

    @Test("a newer commit supersedes one still soaking; a -broken release fails in dev, never reaches staging, and status says why")
    func supersedeAndFailure() async throws {
        var options = PromotionFlow.Options()
        options.soaks["dev"] = "30s"
        let flow = try await PromotionFlow("flow-fail", options)
        defer { Task { await flow.close() } }
        let good = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("the first release soaking in dev") { flow.phase("dev", good) == "verifying" }
        let broken = try await flow.release("guestbook:1.1.0-broken", by: "dave@example.com", deadline: 2)
        try await flow.wait("the broken release failing in dev") { flow.phase("dev", broken) == "failed" }
        #expect(flow.phase("dev", good) == "superseded")
        await #expect(flow.ref("staging") == nil, "something reached staging")
        let status = try await flow.baton(["status", "guestbook"])
        #expect(status.stdout.contains("dev: \(broken.prefix(8)) \"guestbook guestbook:1.1.0-broken\" is failed since"), "\(status.stdout)")
        #expect(status.stdout.contains("  why: Deployment.apps guestbook/guestbook is Degraded"), "\(status.stdout)")
        #expect(status.stdout.contains("  superseded \(good.prefix(8)), which had not left dev\n"), "\(status.stdout)")
        let json = try JSONValue.parse(Data(try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.utf8))
        #expect(json[path: ["stages"]]?.array?.first?[path: ["candidate", "phase"]] == "failed")
        let superseded = try flow.audit().events().first { $0.kind == "superseded" }
        #expect(superseded?.revision == good && superseded?.details.contains(broken) == true)
        // Time passing changes nothing: the failed revision stays out of staging.
        try await Task.sleep(for: .seconds(3))
        await #expect(flow.ref("staging") == nil)

        // By hand: a revision not verified in dev goes to staging only with --force and a reason.
        let unverified = try await flow.baton(["promote", "guestbook", "--to", "staging", "--revision", broken], as: "bob@example.com")
        #expect(unverified.status == 1)
        #expect(unverified.stderr == "baton: refused: \(broken.prefix(8)) was not verified in dev; promote it with --force --reason to bypass that\n")
        let noReason = try await flow.baton(["promote", "guestbook", "--to", "staging", "--revision", good, "--force"])
        #expect(noReason.status == 2 && noReason.stderr.contains("--force needs --reason"))
        let forced = try await flow.baton(["promote", "guestbook", "--to", "staging", "--revision", good, "--force", "--reason", "hotfix"],
                                          as: "bob@example.com")
        #expect(forced.status == 0, "\(forced.stderr)")
        await #expect(flow.ref("staging") == good)
        try await flow.wait("the forced revision verified in staging") { flow.phase("staging", good) == "verified" }
        let row = try #require(try flow.audit().promotions(environment: "staging").last)
        #expect(row.kind == "forced" && row.actor == "bob@example.com" && row.reason == "hotfix" && row.revision == good)
        let history = try await flow.baton(["history", "guestbook"])
        #expect(history.stdout.contains("staging      \(good.prefix(8))  -         forced"), "\(history.stdout)")
    }

    /// A running flow whose stages all promote by themselves (no soaks), with a first release
    /// (guestbook:1.0.0) verified in production; returns it and that revision.
    static func verifiedInProduction(_ label: String) async throws -> (PromotionFlow, String) {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "0s", "production": "0s"]
        let flow = try await PromotionFlow(label, options)
        do {
            let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
            try flow.start()
            try await flow.wait("v1 in production") { flow.phase("production", v1) == "verified" }
            return (flow, v1)
        } catch {
            await flow.close()
            throw error
        }
    }

    @Test("a rollback in production holds the bad revision; auto-promotion does not bring it back; release lets it through")
    func rollbackHoldRelease() async throws {
        let (flow, v1) = try await Self.verifiedInProduction("flow-rollback")
        defer { Task { await flow.close() } }
        let v2 = try await flow.release("guestbook:2.0.0", by: "alice@example.com")
        try await flow.wait("v2 in production") { flow.phase("production", v2) == "verified" }

        // A commit production never ran (on a branch the pipeline does not follow): refused.
        try await flow.git.run(["checkout", "-q", "-b", "side"])
        let side = try await flow.git.commit("never promoted", files: ["app/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"])
        try await flow.git.run(["checkout", "-q", "main"])
        let elsewhere = try await flow.baton(["rollback", "production", "--to", side, "--reason", "try this"], as: "bob@example.com")
        #expect(elsewhere.status == 1 && elsewhere.stderr.contains("never ran verified in production"), "\(elsewhere.stderr)")
        await #expect(flow.ref("production") == v2)

        let back = try await flow.baton(["rollback", "production", "--to", String(v1.prefix(10)), "--reason", "v2 leaks memory"],
                                        as: "bob@example.com")
        #expect(back.status == 0, "\(back.stderr)")
        #expect(back.stdout.contains("rolled production back from \(v2.prefix(8)) to \(v1.prefix(8)); \(v2.prefix(8)) is held"))
        await #expect(flow.ref("production") == v1, "the rollback did not move the ref at once")
        try await flow.wait("production running v1 again") { await flow.image(in: "production") == "guestbook:1.0.0" }
        // Restarted, baton run feeds the branch's head (still v2) again: it stays out of production.
        await flow.stop(SIGTERM)
        try flow.start()
        try await Task.sleep(for: .seconds(3))
        await #expect(flow.ref("production") == v1)
        let status = try await flow.baton(["status", "guestbook"])
        #expect(status.stdout.contains("held: \(v2.prefix(8)) (a rollback replaced it; baton release guestbook \(v2.prefix(8))"), "\(status.stdout)")
        // The rollback's verification, cut short by the restart, ends after it (not within the
        // 3 s above on a loaded machine: two runs saw it still verifying).
        try await flow.wait("the rollback verified") { flow.phase("production", v1) == "verified" }
        let history = try await flow.baton(["history", "--env", "production"])
        #expect(history.stdout.contains("production   \(v1.prefix(8))  \(v2.prefix(8))  rollback  verified  bob@example.com"), "\(history.stdout)")

        let release = try await flow.baton(["release", "guestbook", v2], as: "bob@example.com")
        #expect(release.status == 0, "\(release.stderr)")
        try await flow.wait("v2 back in production") { await flow.ref("production") == v2 && flow.phase("production", v2) == "verified" }
        #expect(await flow.image(in: "production") == "guestbook:2.0.0")
        let again = try await flow.baton(["release", "guestbook", v2])
        #expect(again.status == 1 && again.stderr.contains("is not held"))
        // Breaking the glass goes anywhere, and says so.
        let glass = try await flow.baton(["rollback", "production", "--to", side, "--reason", "hotfix", "--break-glass"], as: "bob@example.com")
        #expect(glass.status == 0, "\(glass.stderr)")
        await #expect(flow.ref("production") == side)
        let flagged = try await flow.baton(["history", "--env", "production", "--output", "json"])
        #expect(flagged.stdout.contains("break glass: hotfix"), "\(flagged.stdout)")
    }

    @Test("an environment ref moved by hand is recorded and set back; the cluster never runs the revision it pointed at")
    func foreignRefMove() async throws {
        let (flow, v1) = try await Self.verifiedInProduction("flow-foreign-ref")
        defer { Task { await flow.close() } }
        // Someone with push access points env/production at a commit the pipeline never saw.
        try await flow.git.run(["checkout", "-q", "-b", "side"])
        let foreign = try await flow.release("guestbook:6.6.6", by: "mallory@example.com")
        try await flow.git.run(["checkout", "-q", "main"])
        try await flow.git.run(["update-ref", "refs/heads/env/production", foreign])
        var images: Set<String> = []
        try await flow.wait("the move recorded and undone", seconds: 60) {
            if let image = await flow.image(in: "production") { images.insert(image) }
            let recorded = try flow.audit().events().contains { $0.kind == "ref-moved-outside" && $0.revision == foreign }
            let current = await flow.ref("production")
            return recorded && current == v1
        }
        try await Task.sleep(for: .seconds(2))
        if let image = await flow.image(in: "production") { images.insert(image) }
        #expect(images == ["guestbook:1.0.0"], "production ran \(images)")
        #expect(flow.phase("production", foreign) == nil, "the foreign revision became a promotion")
    }

    @Test("ten approvals from ten processes at once while baton run writes: every row kept, no lock error")
    func concurrentApprovals() async throws {
        var options = PromotionFlow.Options()
        options.approval = "{required: 10}"
        let flow = try await PromotionFlow("flow-concurrent", options)
        defer { Task { await flow.close() } }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("v1 awaiting approval") { flow.phase("staging", v1) == "verified" }
        try await Task.sleep(for: .milliseconds(500))
        let runs = try await withThrowingTaskGroup(of: CommandRun.self) { group in
            for person in 0..<10 {
                group.addTask { try await flow.baton(["approve", "guestbook", "production", "--revision", v1], as: "approver\(person)@example.com") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        #expect(!runs.contains { $0.stderr.contains("locked") })
        let decisions = try flow.audit().decisions(environment: "production", revision: v1)
        #expect(Set(decisions.map(\.actor)) == Set((0..<10).map { "approver\($0)@example.com" }) && decisions.count == 10)
        try await flow.wait("v1 promoted after the tenth approval") { flow.phase("production", v1) == "verified" }
        #expect(try flow.audit().verify() == .intact(rows: try flow.audit().events().count))
    }

    @Test("with a remote repository (git daemon) the environment refs are pushed there, and git log shows what each ran")
    func remoteRepository() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "0s", "production": "0s"]
        options.remote = true
        let flow = try await PromotionFlow("flow-remote", options)
        defer { Task { await flow.close() } }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        // Several commands making the first mirror at once: each clones aside and renames into place.
        let first = try await withThrowingTaskGroup(of: CommandRun.self) { group in
            for _ in 0..<4 { group.addTask { try await flow.baton(["status", "guestbook"]) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(first.allSatisfy { $0.status == 0 && $0.stderr.isEmpty }, "\(first.map(\.stderr))")
        try flow.start()
        try await flow.wait("v1 in production") { flow.phase("production", v1) == "verified" }
        let v2 = try await flow.release("guestbook:2.0.0", by: "bob@example.com")
        try await flow.wait("v2 in production") { flow.phase("production", v2) == "verified" }
        for environment in ["dev", "staging", "production"] {
            await #expect(flow.ref(environment) == v2, "\(environment) on the remote is not at v2")
        }
        let served = GitCLI(directory: flow.servedPath, home: flow.dir.path + "/home")
        await #expect(try served.run(["log", "--format=%H", "env/production"]) == "\(v2)\n\(v1)\n")
        #expect(await flow.image(in: "production") == "guestbook:2.0.0")
        // The user's own clone is untouched: Baton works in its mirror.
        await #expect((try? flow.git.line("rev-parse", "--verify", "-q", "refs/heads/env/dev")) == nil)
        // One mirror for the repository, named after its URL.
        let mirrors = try FileManager.default.contentsOfDirectory(atPath: flow.dir.path + "/.baton/cache/repos")
        #expect(mirrors.count == 1 && mirrors.first?.hasSuffix(".git") == true, "\(mirrors)")
    }

    @Test("environment refs that exist before the first baton run are where the first promotions move from")
    func existingRefs() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "0s", "production": "0s"]
        let flow = try await PromotionFlow("flow-existing", options)
        defer { Task { await flow.close() } }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        for environment in ["dev", "staging", "production"] { try await flow.git.run(["branch", "env/\(environment)", v1]) }
        let v2 = try await flow.release("guestbook:2.0.0", by: "bob@example.com")
        try flow.start()
        try await flow.wait("v2 in production") { flow.phase("production", v2) == "verified" }
        let rows = try flow.audit().promotions(pipeline: "guestbook")
        #expect(rows.map(\.environment) == ["dev", "staging", "production"] && rows.allSatisfy { $0.from == v1 && $0.authors == ["bob@example.com"] },
                "\(rows.map { "\($0.environment) \($0.from ?? "-") \($0.authors)" })")
    }

    @Test("a deny window keeps a revision out of production, and baton status says until when")
    func windowInStatus() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "0s", "production": "0s"]
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let hour = utc.component(.hour, from: Date())
        let end = (hour + 2) % 24
        options.productionWindows = [String(format: "{deny: {from: \"%02d:00\", to: \"%02d:00\", timezone: UTC}}", hour, end)]
        let flow = try await PromotionFlow("flow-window", options)
        defer { Task { await flow.close() } }
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("v1 verified in staging") { flow.phase("staging", v1) == "verified" }
        let status = try await flow.baton(["status", "guestbook"])
        let opens = utc.date(bySettingHour: end, minute: 0, second: 0, of: Date().addingTimeInterval(end < hour ? 86_400 : 0))!
        #expect(status.stdout.contains("production: \(v1.prefix(8)) \"guestbook guestbook:1.0.0\" is pending since"), "\(status.stdout)")
        #expect(status.stdout.contains(String(format: "  waiting: blocked by the deny window every day %02d:00–%02d:00 (UTC) until ", hour, end)
                                       + opens.formatted(.iso8601)), "\(status.stdout)")
        await #expect(flow.ref("production") == nil)
    }
}
