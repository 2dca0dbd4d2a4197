import BatonCore
import Foundation
import Testing

/// Deploy windows in an IANA time zone, with a test clock.
@Suite("Gates: deploy windows")
struct WindowTests {
    func date(_ text: String) throws -> Date { try Date(text, strategy: .iso8601) }

    @Test("a Sunday-night deny window in Europe/Berlin across both daylight-saving changes")
    func daylightSaving() throws {
        let stage = Stage(environment: "production", windows: [
            DeployWindow(effect: .deny, days: [.sun], from: TimeOfDay(parsing: "01:00")!, to: TimeOfDay(parsing: "04:00")!,
                         timezone: "Europe/Berlin"),
        ])
        // 2026-10-25: clocks go back at 03:00 CEST to 02:00 CET, so 01:00–04:00 local lasts four hours:
        // 23:00Z on the 24th to 03:00Z.
        #expect(stage.blockingWindow(at: try date("2026-10-24T22:59:00Z")) == nil)
        #expect(stage.blockingWindow(at: try date("2026-10-24T23:00:00Z")) != nil)
        #expect(stage.blockingWindow(at: try date("2026-10-25T01:30:00Z")) != nil, "the repeated hour 02:00–03:00 is inside")
        #expect(stage.blockingWindow(at: try date("2026-10-25T02:59:00Z")) != nil)
        #expect(stage.blockingWindow(at: try date("2026-10-25T03:00:00Z")) == nil)
        #expect(stage.windowOpens(after: try date("2026-10-25T00:30:00Z")) == (try date("2026-10-25T03:00:00Z")))
        // 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST, so the same window lasts two hours: 00:00Z to 02:00Z.
        #expect(stage.blockingWindow(at: try date("2026-03-28T23:59:00Z")) == nil)
        #expect(stage.blockingWindow(at: try date("2026-03-29T00:00:00Z")) != nil)
        #expect(stage.blockingWindow(at: try date("2026-03-29T01:59:00Z")) != nil)
        #expect(stage.windowOpens(after: try date("2026-03-29T00:10:20Z")) == (try date("2026-03-29T02:00:00Z")))
        // Open now: it opens now.
        let open = try date("2026-03-25T12:00:00Z")
        #expect(stage.windowOpens(after: open) == open)
    }

    @Test("allow and deny overlap: deny wins; outside every allow window is blocked")
    func overlap() throws {
        let stage = Stage(environment: "production", windows: [
            DeployWindow(effect: .allow, days: [.mon, .tue, .wed, .thu, .fri], from: TimeOfDay(parsing: "09:00")!,
                         to: TimeOfDay(parsing: "17:00")!, timezone: "America/New_York"),
            DeployWindow(effect: .deny, days: [.fri], from: TimeOfDay(parsing: "12:00")!, to: .endOfDay, timezone: "America/New_York"),
        ])
        // Friday 2026-11-27 in New York (UTC-5).
        #expect(stage.blockingWindow(at: try date("2026-11-27T15:00:00Z")) == nil, "Friday 10:00 is allowed")
        #expect(stage.blockingWindow(at: try date("2026-11-27T18:00:00Z"))?.effect == .deny, "Friday 13:00 is denied")
        #expect(stage.blockingWindow(at: try date("2026-11-28T15:00:00Z"))?.effect == .allow, "Saturday is outside every allow window")
        #expect(stage.blockingWindow(at: try date("2026-11-26T21:59:00Z")) == nil, "Thursday 16:59")
        // From Friday 13:00 the next opening is Monday 09:00 (14:00Z).
        #expect(stage.windowOpens(after: try date("2026-11-27T18:00:00Z")) == (try date("2026-11-30T14:00:00Z")))
        // An unknown time zone blocks (fail closed), every minute of the horizon.
        let unknown = Stage(environment: "production", windows: [DeployWindow(effect: .deny, days: [.mon], timezone: "Mars/Olympus")])
        #expect(unknown.blockingWindow(at: try date("2026-11-27T15:00:00Z")) != nil)
        #expect(unknown.windowOpens(after: try date("2026-11-27T15:00:00Z"), horizon: 3600) == nil)
    }
}
