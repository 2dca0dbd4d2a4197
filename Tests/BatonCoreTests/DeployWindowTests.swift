import BatonCore
import Foundation
import Testing

@Suite("BatonCore: deploy windows")
struct DeployWindowTests {
    /// `text` as an instant: "2026-11-28T10:00:00Z".
    func date(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test("a weekend deny window in Berlin time, across the UTC day boundary")
    func weekendDeny() {
        let stage = Stage(environment: "production", windows: [DeployWindow(effect: .deny, days: [.sat, .sun], timezone: "Europe/Berlin")])
        #expect(stage.blockingWindow(at: date("2026-11-28T10:00:00Z")) != nil)  // Saturday
        #expect(stage.blockingWindow(at: date("2026-11-27T23:30:00Z")) != nil)  // Friday in UTC, Saturday 00:30 in Berlin
        #expect(stage.blockingWindow(at: date("2026-11-29T22:59:00Z")) != nil)  // Sunday 23:59 in Berlin
        #expect(stage.blockingWindow(at: date("2026-11-29T23:00:00Z")) == nil)  // Monday 00:00 in Berlin
        #expect(stage.blockingWindow(at: date("2026-11-27T15:00:00Z")) == nil)  // Friday afternoon
    }

    @Test("an overnight allow window: inside it only, the morning after counting for the day it opened")
    func overnightAllow() throws {
        let window = DeployWindow(effect: .allow, days: [.tue], from: try #require(TimeOfDay(parsing: "22:00")),
                                  to: try #require(TimeOfDay(parsing: "06:00")))
        let stage = Stage(environment: "production", windows: [window])
        #expect(stage.blockingWindow(at: date("2026-12-01T23:00:00Z")) == nil)  // Tuesday 23:00
        #expect(stage.blockingWindow(at: date("2026-12-02T05:59:00Z")) == nil)  // Wednesday 05:59, opened Tuesday
        #expect(stage.blockingWindow(at: date("2026-12-02T06:00:00Z")) == window)
        #expect(stage.blockingWindow(at: date("2026-12-02T23:00:00Z")) == window)  // Wednesday night: not a Tuesday
        #expect(stage.blockingWindow(at: date("2026-12-01T21:59:00Z")) == window)
    }

    @Test("deny wins over allow; an unknown time zone blocks")
    func precedenceAndFailClosed() {
        let allow = DeployWindow(effect: .allow), deny = DeployWindow(effect: .deny, days: [.fri])
        #expect(Stage(environment: "p", windows: [allow, deny]).blockingWindow(at: date("2026-11-27T12:00:00Z")) == deny)
        #expect(Stage(environment: "p", windows: [allow, deny]).blockingWindow(at: date("2026-11-26T12:00:00Z")) == nil)
        let broken = DeployWindow(effect: .deny, days: [.mon], timezone: "Mars/Olympus")
        #expect(Stage(environment: "p", windows: [broken]).blockingWindow(at: date("2026-11-26T12:00:00Z")) == broken)
    }
}
