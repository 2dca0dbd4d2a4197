import BatonCore
import Foundation

/// What a gate concluded: it measured a passing or a failing value, or it could not measure
/// at all (`unknown`: the server it asks did not answer). Unknown never passes and never fails:
/// the revision waits and the gate is asked again, until the environment's `sync.timeout`.
public enum GateVerdict: String, Sendable, Hashable, Codable {
    case passed
    case failed
    case unknown
}

/// A gate's verdict on a revision, with what it saw: recorded in the audit log as it is.
public struct GateOutcome: Sendable, Hashable, Codable {
    /// `health`, `http`, `prometheus` or `window`.
    public var gate: String
    public var verdict: GateVerdict
    /// One line for people: what was checked and what came back.
    public var summary: String
    /// The measurements behind the verdict (status codes, latencies, values, times).
    public var evidence: JSONValue

    public var passed: Bool { verdict == .passed }

    public init(gate: String, verdict: GateVerdict, summary: String, evidence: JSONValue) {
        self.gate = gate
        self.verdict = verdict
        self.summary = summary
        self.evidence = evidence
    }

    public init(gate: String, passed: Bool, summary: String, evidence: JSONValue) {
        self.init(gate: gate, verdict: passed ? .passed : .failed, summary: summary, evidence: evidence)
    }

    private enum CodingKeys: String, CodingKey { case gate, passed, verdict, summary, evidence }

    /// Outcomes saved before verdicts existed have `passed` alone.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        gate = try container.decode(String.self, forKey: .gate)
        if let verdict = try container.decodeIfPresent(GateVerdict.self, forKey: .verdict) {
            self.verdict = verdict
        } else {
            verdict = try container.decode(Bool.self, forKey: .passed) ? .passed : .failed
        }
        summary = try container.decode(String.self, forKey: .summary)
        evidence = try container.decode(JSONValue.self, forKey: .evidence)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gate, forKey: .gate)
        try container.encode(passed, forKey: .passed)
        try container.encode(verdict, forKey: .verdict)
        try container.encode(summary, forKey: .summary)
        try container.encode(evidence, forKey: .evidence)
    }
}

/// How gates wait between attempts and measurements: real time by default, a test's clock
/// when given.
public typealias GateSleep = @Sendable (Duration) async throws -> Void

public let realSleep: GateSleep = { try await Task.sleep(for: $0) }

extension Duration {
    var milliseconds: Double { Double(totalMilliseconds) }
}
