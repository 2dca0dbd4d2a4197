import BatonCore
import Foundation

/// The health gate (DESIGN.md §4, §5): a revision passes when its environment has been synced
/// at exactly that revision and Healthy, without a drop, for `soak`. Any drop (not Healthy, or
/// out of sync) restarts the soak; a definite sync error or a Degraded object fails the revision
/// there. Unknown is never healthy: a cluster that does not answer (a blip) pauses a soak under
/// way — the time it is away does not count, nothing passes and nothing fails — and keeps one
/// from starting; only the environment's `sync.timeout` ends the wait.
///
/// Pure: the caller feeds it reconciler passes and the time, and keeps `healthySince`.
public struct HealthSoak: Sendable, Hashable {
    public var soak: Duration
    /// Since when the environment has been synced and Healthy without a drop.
    public var healthySince: Date?
    /// Since when a soak under way has been paused because the cluster did not answer.
    public var pausedAt: Date?

    public init(soak: Duration, healthySince: Date? = nil, pausedAt: Date? = nil) {
        self.soak = soak
        self.healthySince = healthySince
        self.pausedAt = pausedAt
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
        /// The cluster did not answer: nothing is concluded. `started` is true for the first
        /// such pass of a pause of a soak under way.
        case unavailable(reason: String, started: Bool)
    }

    /// Takes a reconciler pass of the revision under test into account. (A pass for another
    /// revision is no evidence and must not be fed in.)
    public mutating func observe(_ report: StatusReport, at now: Date) -> Observation {
        if report.unavailable {
            let started = healthySince != nil && pausedAt == nil
            if started { pausedAt = now }
            return .unavailable(reason: report.errors.first ?? "the cluster did not answer", started: started)
        }
        if let pausedAt, let since = healthySince {
            // Back: the soak resumes where it paused.
            healthySince = since.addingTimeInterval(now.timeIntervalSince(pausedAt))
            self.pausedAt = nil
        }
        if !report.errors.isEmpty || report.health == .degraded {
            let degraded = report.objects.first { $0.health == .degraded }
            let reason = report.errors.first
                ?? degraded.map { "\($0.key) is Degraded" + ($0.healthMessage.isEmpty ? "" : ": \($0.healthMessage)") }
                ?? "the environment is Degraded"
            healthySince = nil
            pausedAt = nil
            return .failed(reason: reason, evidence: ["health": .string(report.health.rawValue), "synced": .bool(report.synced),
                                                      "errors": .array(report.errors.map(JSONValue.string)), "reason": .string(reason)])
        }
        if report.synced, report.health == .healthy {
            if healthySince == nil { healthySince = now }
            return .healthy
        }
        guard healthySince != nil else { return .waiting }
        healthySince = nil
        pausedAt = nil
        return .restarted(evidence: ["health": .string(report.health.rawValue), "synced": .bool(report.synced)])
    }

    /// The evidence of a pass when the soak is complete at `now`; nil while it is not.
    public func passed(at now: Date) -> JSONValue? {
        guard pausedAt == nil, let healthySince, now.timeIntervalSince(healthySince) * 1000 >= Double(soak.totalMilliseconds) else { return nil }
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
