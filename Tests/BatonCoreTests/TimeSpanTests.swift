import BatonCore
import Testing

@Suite("Durations")
struct TimeSpanTests {
    @Test("parses the notations of the files", arguments: [
        ("250ms", Int64(250)), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000),
        ("1.5h", 5_400_000), ("2m30s", 150_000), ("0s", 0), ("1h0m5s", 3_605_000), ("-5s", -5_000),
    ])
    func parses(_ text: String, _ milliseconds: Int64) throws {
        let span = try #require(TimeSpan(parsing: text))
        #expect(span.duration.totalMilliseconds == milliseconds)
    }

    @Test("rejects what is not a duration", arguments: [
        "", "30", "s", "5 m", "5min", "1d", "1.2.3s", ".s", "1h-5m", "--5s", "-", "m5", "30S", "1e3s",
    ])
    func rejects(_ text: String) {
        #expect(TimeSpan(parsing: text) == nil)
    }

    @Test("prints the shortest form", arguments: [
        (Int64(250), "250ms"), (30_000, "30s"), (300_000, "5m"), (5_400_000, "1h30m"), (1_500, "1.5s"),
        (0, "0s"), (3_605_000, "1h5s"), (90_061_001, "25h1m1.001s"),
    ])
    func prints(_ milliseconds: Int64, _ text: String) {
        #expect(TimeSpan.milliseconds(milliseconds).description == text)
    }

    @Test("printing then parsing gives the same value")
    func roundTrips() throws {
        for ms: Int64 in [1, 999, 1_000, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_123] {
            let text = TimeSpan.milliseconds(ms).description
            #expect(try #require(TimeSpan(parsing: text)).duration.totalMilliseconds == ms, "\(text)")
        }
    }
}
