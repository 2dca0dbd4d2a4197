import Foundation

extension DeployWindow {
    /// Whether `date` falls inside this window, in the window's time zone; nil when the time
    /// zone is unknown (callers treat that as blocking: windows fail closed).
    public func contains(_ date: Date) -> Bool? {
        guard let zone = TimeZone(identifier: timezone) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        guard let weekday = parts.weekday, let hour = parts.hour, let minute = parts.minute else { return nil }
        // Calendar weekdays: 1 is Sunday.
        let order: [Weekday] = [.sun, .mon, .tue, .wed, .thu, .fri, .sat]
        let today = order[(weekday - 1) % 7], yesterday = order[(weekday + 5) % 7]
        let now = hour * 60 + minute
        if from.minutes < to.minutes {
            return days.contains(today) && now >= from.minutes && now < to.minutes
        }
        if from.minutes == to.minutes { return false }
        // Overnight: it opens on one of `days` and ends the next morning.
        return (days.contains(today) && now >= from.minutes) || (days.contains(yesterday) && now < to.minutes)
    }
}

extension Stage {
    /// The window that keeps a revision from entering this stage at `date`, or nil when it
    /// may enter: a deny window it is inside of, or (when allow windows exist) the first allow
    /// window when it is inside none. A window with an unknown time zone blocks.
    public func blockingWindow(at date: Date) -> DeployWindow? {
        if let deny = windows.first(where: { $0.effect == .deny && $0.contains(date) != false }) { return deny }
        let allows = windows.filter { $0.effect == .allow }
        if !allows.isEmpty, !allows.contains(where: { $0.contains(date) == true }) { return allows[0] }
        return nil
    }
}

extension Stage {
    /// When the stage next lets a revision enter, looking from `date` minute by minute (windows
    /// are minute-precise) for up to `horizon`: `date` itself when nothing blocks now, nil
    /// when every minute of the horizon is blocked.
    public func windowOpens(after date: Date, horizon: TimeInterval = 8 * 86_400) -> Date? {
        if blockingWindow(at: date) == nil { return date }
        let start = (date.timeIntervalSinceReferenceDate / 60).rounded(.down) * 60
        var minute = Date(timeIntervalSinceReferenceDate: start + 60)
        while minute.timeIntervalSince(date) <= horizon {
            if blockingWindow(at: minute) == nil { return minute }
            minute.addTimeInterval(60)
        }
        return nil
    }
}
