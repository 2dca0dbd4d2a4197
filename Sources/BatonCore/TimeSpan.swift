/// Durations as Baton's files write them: a sequence of numbers with units, as in Go and
/// Kubernetes (`250ms`, `30s`, `5m`, `1h30m`, `1.5h`).
extension Duration {
    /// The units a duration may use, longest suffix first so that `ms` is not read as `m`.
    private static let units: [(suffix: String, milliseconds: Double)] = [
        ("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1_000),
    ]

    /// Parses `text` such as `1h30m`; nil when it is not a duration. A leading `-` gives a
    /// negative duration, which callers reject with a message of their own.
    public init?(config text: String) {
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" {
            negative = true
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != ".",
                  let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = Self.units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            total += value * unit.milliseconds
        }
        guard total.isFinite, total < 1e15 else { return nil }
        let milliseconds = Int64(total.rounded())
        self = .milliseconds(negative ? -milliseconds : milliseconds)
    }

    /// The whole number of milliseconds in this duration.
    public var totalMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    /// The duration in the files' notation: `250ms`, `30s`, `1.5s`, `5m`, `1h30m`, `0s`.
    public var configText: String {
        var ms = totalMilliseconds
        if ms == 0 { return "0s" }
        let sign = ms < 0 ? "-" : ""
        ms = abs(ms)
        if ms < 1_000 { return "\(sign)\(ms)ms" }
        var text = sign
        let hours = ms / 3_600_000
        let minutes = ms % 3_600_000 / 60_000
        let seconds = ms % 60_000 / 1_000
        let fraction = ms % 1_000
        if hours > 0 { text += "\(hours)h" }
        if minutes > 0 { text += "\(minutes)m" }
        if seconds > 0 || fraction > 0 {
            text += "\(seconds)"
            if fraction > 0 {
                var digits = String(fraction)
                digits = String(repeating: "0", count: 3 - digits.count) + digits
                while digits.hasSuffix("0") { digits.removeLast() }
                text += "." + digits
            }
            text += "s"
        }
        return text
    }
}

/// A duration as the configuration files write it. Encodes as its text (`"1h30m"`), so JSON
/// output reads like the file; `duration` is the value to compute with.
public struct TimeSpan: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var duration: Duration

    public init(_ duration: Duration) {
        self.duration = duration
    }

    public static func milliseconds(_ value: Int64) -> TimeSpan { TimeSpan(.milliseconds(value)) }
    public static func seconds(_ value: Int64) -> TimeSpan { TimeSpan(.seconds(value)) }
    public static func minutes(_ value: Int64) -> TimeSpan { TimeSpan(.seconds(value * 60)) }

    /// Parses `30s`, `1h30m`; nil when the text is not a duration.
    public init?(parsing text: String) {
        guard let duration = Duration(config: text) else { return nil }
        self.duration = duration
    }

    public var description: String { duration.configText }

    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.duration < b.duration }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let duration = Duration(config: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not a duration: \(text)"))
        }
        self.duration = duration
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
