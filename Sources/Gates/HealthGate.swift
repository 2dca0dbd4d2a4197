import BatonCore
import Foundation

/// The health gate (DESIGN.md §4, §5): a revision passes when its environment has been synced
/// at exactly that revision and Healthy, without a drop, for `soak`. Any drop (not Healthy, or
/// out of sync) restarts the soak; an error in the sync or a Degraded object fails the revision
/// there. Unknown is never healthy: it only keeps the soak from starting.
///
/// Pure: the caller feeds it reconciler passes and the time, and keeps `healthySince`.
public struct HealthSoak: Sendable, Hashable {
    public var soak: Duration
    /// Since when the environment has been synced and Healthy without a drop.
    public var healthySince: Date?

    public init(soak: Duration, healthySince: Date? = nil) {
        self.soak = soak
        self.healthySince = healthySince
    }

    /// What a reconciler pass meant.
    public enum Observation: Sendable, Hashable {
        /// The revision failed here: a sync error or a Degraded object.
        case failed(reason: String, evidence: JSONValue)
        /// Synced and Healthy; the soak runs (or has just started).
        case healthy
        /// Not synced and Healthy, and it was before: the soak starts over.
        case restarted(evidence: JSONValue)
        /// Not synced and Healthy yet.
        case waiting
    }

    /// Takes a reconciler pass of the revision under test into account. (A pass for another
    /// revision is no evidence and must not be fed in.)
    public mutating func observe(_ report: StatusReport, at now: Date) -> Observation {
        if !report.errors.isEmpty || report.health == .degraded {
            let degraded = report.objects.first { $0.health == .degraded }
            let reason = report.errors.first
                ?? degraded.map { "\($0.key) is Degraded" + ($0.healthMessage.isEmpty ? "" : ": \($0.healthMessage)") }
                ?? "the environment is Degraded"
            healthySince = nil
            return .failed(reason: reason, evidence: ["health": .string(report.health.rawValue), "synced": .bool(report.synced),
                                                      "errors": .array(report.errors.map(JSONValue.string)), "reason": .string(reason)])
        }
        if report.synced, report.health == .healthy {
            if healthySince == nil { healthySince = now }
            return .healthy
        }
        guard healthySince != nil else { return .waiting }
        healthySince = nil
        return .restarted(evidence: ["health": .string(report.health.rawValue), "synced": .bool(report.synced)])
    }

    /// The evidence of a pass when the soak is complete at `now`; nil while it is not.
    public func passed(at now: Date) -> JSONValue? {
        guard let healthySince, now.timeIntervalSince(healthySince) * 1000 >= Double(soak.totalMilliseconds) else { return nil }
        return ["soak": .string(TimeSpan(soak).description), "healthySince": .string(healthySince.formatted(.iso8601)),
                "verifiedAt": .string(now.formatted(.iso8601)), "health": "Healthy", "synced": true,
                "summary": .string("Synced and Healthy from \(healthySince.formatted(.iso8601)) for \(TimeSpan(soak)) without a drop")]
    }

    /// Why the revision fails when it has not become synced and Healthy within `timeout` of
    /// `started` (fail closed); nil while there is time left or once it is Healthy.
    public func timedOut(started: Date, timeout: Duration, now: Date, synced: Bool) -> String? {
        guard healthySince == nil, now.timeIntervalSince(started) * 1000 > Double(timeout.totalMilliseconds) else { return nil }
        return (synced ? "not Healthy" : "not synced") + " within \(TimeSpan(timeout))"
    }
}
