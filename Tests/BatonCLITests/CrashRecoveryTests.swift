import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `baton run` killed with SIGKILL at random moments of promotions and restarted: the intent
/// written before each ref move lets the next run finish what the killed one started.
@Suite("Crash recovery: baton run killed at random moments")
struct CrashRecoveryTests {
    @Test("22 SIGKILLs during promotions: the chain verifies, no promotion is lost or repeated, every ref matches the log")
    func killedAndRestarted() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "0s", "production": "0s"]
        let flow = try await PromotionFlow("flow-crash", options)
        defer { Task { await flow.close() } }
        var random = SeededRandom(seed: 20261127)
        var releases: [String] = []
        var kills = 0
        for round in 0..<22 {
            if round % 3 == 0 { await releases.append(try flow.release("guestbook:1.\(round).0", by: "dev\(round)@example.com")) }
            try flow.start()
            try await Task.sleep(for: .milliseconds(Int.random(in: 100...2500, using: &random)))
            if await flow.stop(SIGKILL) == SIGKILL { kills += 1 }
        }
        #expect(kills == 22, "baton run ended by itself before it was killed")
        try flow.start()
        let head = try #require(releases.last)
        try await flow.wait("the last release verified in production after the crashes", seconds: 120) {
            flow.phase("production", head) == "verified"
        }
        let status = await flow.stop(SIGTERM)
        #expect(status == 0, "baton run did not stop cleanly: \(flow.runOutput().suffix(2000))")

        let audit = try flow.audit()
        let events = try audit.events()
        #expect(try audit.verify() == .intact(rows: events.count))
        let promotions = try audit.promotions(pipeline: "guestbook")
        for environment in ["dev", "staging", "production"] {
            await #expect(flow.ref(environment) == head, "\(environment) is not at the last release")
            // No promotion repeated: one row per revision and environment, and none left half done.
            let rows = promotions.filter { $0.environment == environment }
            #expect(Set(rows.map(\.revision)).count == rows.count, "a promotion into \(environment) was started twice: \(rows.map(\.revision))")
            #expect(rows.allSatisfy { $0.phase == "verified" || $0.phase == "superseded" }, "\(rows.map { "\($0.revision.prefix(8)) \($0.phase)" })")
            // Every ref move is in the log exactly once, in the order git's reflog has them.
            let moved = events.filter { $0.environment == environment && $0.kind == "ref-moved" }.compactMap(\.revision)
            let reflog = try await flow.git.run(["reflog", "show", "--format=%H", "refs/heads/env/\(environment)"])
                .split(separator: "\n").map(String.init).reversed()
            #expect(Array(reflog) == moved, "\(environment): git moved the ref \(reflog.count) times, the log says \(moved.count)")
        }
        // Nothing lost: the last release passed every stage, and every release that reached a
        // stage either passed it or was superseded there by a newer one.
        #expect(promotions.filter { $0.revision == head }.map(\.environment) == ["dev", "staging", "production"])
        #expect(promotions.count >= 9, "only \(promotions.count) promotions happened across the crashes")
    }
}
