import Foundation

/// RFC 3339 times as Kubernetes writes them in metadata and status (`2026-01-02T03:04:05Z`).
enum Timestamp {
    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    static func parse(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle().parse(text)
    }
}
