import Foundation
import Synchronization

/// RFC 3339 times as Kubernetes writes them in metadata and status (`2026-01-02T03:04:05Z`).
enum Timestamp {
    private static let style = Date.ISO8601FormatStyle()
    /// The last second formatted: every object written within one second carries the same
    /// text, so a burst of writes formats once.
    private static let last = Mutex<(second: Int64, text: String)>((.min, ""))

    static func format(_ date: Date) -> String {
        let second = Int64(date.timeIntervalSince1970.rounded(.down))
        if let text = last.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = Date(timeIntervalSince1970: Double(second)).formatted(style)
        last.withLock { $0 = (second, text) }
        return text
    }

    static func parse(_ text: String) -> Date? {
        try? style.parse(text)
    }
}
