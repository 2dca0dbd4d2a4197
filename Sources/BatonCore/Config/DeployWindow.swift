/// A time when revisions may (`allow`) or may not (`deny`) enter a stage. With any allow
/// window, entry is possible only inside one; deny wins over allow.
public struct DeployWindow: Sendable, Hashable, Codable {
    public enum Effect: String, Sendable, Hashable, Codable {
        case allow
        case deny
    }

    public var effect: Effect
    /// The days the window opens on (for overnight windows, the day it starts); all seven
    /// when the file names none.
    public var days: [Weekday]
    /// Start of the window each day; `00:00` when not given.
    public var from: TimeOfDay
    /// End of the window; `24:00` when not given. Earlier than `from` means it ends the
    /// next day (`22:00` to `06:00`).
    public var to: TimeOfDay
    /// An IANA time zone name such as `Europe/Berlin`; `UTC` when not given.
    public var timezone: String

    public init(effect: Effect, days: [Weekday] = Weekday.allCases, from: TimeOfDay = .startOfDay,
                to: TimeOfDay = .endOfDay, timezone: String = "UTC") {
        self.effect = effect
        self.days = days
        self.from = from
        self.to = to
        self.timezone = timezone
    }
}

public enum Weekday: String, Sendable, Hashable, Codable, CaseIterable {
    case mon, tue, wed, thu, fri, sat, sun

    /// Reads `mon`, `Monday`, `MON`; nil for anything else.
    public init?(name: String) {
        let lower = name.lowercased()
        guard let day = Weekday.allCases.first(where: { lower == $0.rawValue || lower == $0.fullName }) else {
            return nil
        }
        self = day
    }

    public var fullName: String {
        switch self {
        case .mon: "monday"
        case .tue: "tuesday"
        case .wed: "wednesday"
        case .thu: "thursday"
        case .fri: "friday"
        case .sat: "saturday"
        case .sun: "sunday"
        }
    }
}

/// A time of day in minutes since midnight, `00:00` to `24:00`. Encodes as `HH:MM`.
public struct TimeOfDay: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var minutes: Int

    public static let startOfDay = TimeOfDay(minutes: 0)
    public static let endOfDay = TimeOfDay(minutes: 24 * 60)

    public init(minutes: Int) {
        self.minutes = minutes
    }

    /// Reads `HH:MM` (24-hour, `24:00` allowed as the end of a day); nil otherwise.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let hours = Int(parts[0]), let minutes = Int(parts[1]),
              hours <= 24, minutes <= 59, hours < 24 || minutes == 0 else { return nil }
        self.minutes = hours * 60 + minutes
    }

    public var description: String {
        let h = minutes / 60, m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    public static func < (a: TimeOfDay, b: TimeOfDay) -> Bool { a.minutes < b.minutes }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = TimeOfDay(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a time of day: \(text)"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension DeployWindow: CustomStringConvertible {
    /// The days, the hours and the time zone, as Baton writes a window everywhere (logs, the
    /// audit log, `baton status`, `baton config`): `sat, sun all day (UTC)`,
    /// `every day 09:00–17:00 (Europe/Berlin)`. The effect is the caller's to say.
    public var description: String {
        let days = days.count == 7 ? "every day" : days.map(\.rawValue).joined(separator: ", ")
        let hours = from == .startOfDay && to == .endOfDay ? "all day" : "\(from)–\(to)"
        return "\(days) \(hours) (\(timezone))"
    }
}
