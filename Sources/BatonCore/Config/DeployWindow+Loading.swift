import Foundation

/// Decoding the entries of a stage's `windows` list: `- deny: { days: [sat, sun], ... }`.
extension DeployWindow {
    static let keys = ["days", "from", "to", "timezone"]

    static func decode(_ value: ValueReader) -> DeployWindow? {
        guard let outer = value.mapping(keys: ["allow", "deny"]) else { return nil }
        guard outer.keys.count == 1, let effectName = outer.keys.first,
              let effect = Effect(rawValue: effectName), let body = outer.raw(effectName) else {
            value.fail(outer.keys.isEmpty
                ? "a window needs one of the keys allow, deny"
                : "a window is either allow or deny, found both; make each its own list entry")
            return nil
        }
        guard let map = body.mapping(keys: keys, nullIsEmpty: true) else { return nil }
        let before = map.log.issues.count
        var window = DeployWindow(effect: effect)

        if let raw = map.optional("days") {
            var days: [Weekday] = []
            let elements = raw.oneOrMany()
            for element in elements {
                guard let name = element.string() else { continue }
                guard let day = Weekday(name: name) else {
                    let names = Weekday.allCases.map(\.rawValue)
                    if let near = Spelling.closest(to: name, in: names + Weekday.allCases.map(\.fullName)) {
                        element.fail("unknown weekday \(ValueReader.quote(name)); did you mean \(ValueReader.quote(near))?")
                    } else {
                        element.fail("unknown weekday \(ValueReader.quote(name)); use \(names.joined(separator: ", "))")
                    }
                    continue
                }
                if days.contains(day) {
                    element.fail("\(ValueReader.quote(name)) is listed twice")
                } else {
                    days.append(day)
                }
            }
            if elements.isEmpty {
                raw.fail("must name at least one day, or be left out to mean every day")
            }
            window.days = days
        }

        let from = map.optional("from"), to = map.optional("to")
        if let from, let time = timeOfDay(from) {
            if time == .endOfDay {
                from.fail("a window cannot start at 24:00; use 00:00")
            }
            window.from = time
        }
        if let to, let time = timeOfDay(to) {
            window.to = time
        }
        if let to, window.from == window.to {
            to.fail("the window is empty: \"to\" must differ from \"from\"")
        }

        if let raw = map.optional("timezone"), let name = raw.nonEmptyString() {
            if TimeZone(identifier: name) != nil {
                window.timezone = name
            } else if let near = Spelling.closest(to: name, in: TimeZone.knownTimeZoneIdentifiers) {
                raw.fail("unknown time zone \(ValueReader.quote(name)); did you mean \(ValueReader.quote(near))?")
            } else {
                raw.fail("unknown time zone \(ValueReader.quote(name)); use an IANA name such as \"Europe/Berlin\" or \"UTC\"")
            }
        }
        return map.log.issues.count == before ? window : nil
    }

    private static func timeOfDay(_ value: ValueReader) -> TimeOfDay? {
        guard let text = value.string() else { return nil }
        guard let time = TimeOfDay(parsing: text) else {
            value.fail("expected a time of day as HH:MM (24-hour clock), got \(ValueReader.quote(text))")
            return nil
        }
        return time
    }
}
