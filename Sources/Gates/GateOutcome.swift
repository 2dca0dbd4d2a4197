import BatonCore
import Foundation

/// A gate's verdict on a revision, with what it saw: recorded in the audit log as it is.
public struct GateOutcome: Sendable, Hashable, Codable {
    /// `health`, `http`, `prometheus` or `window`.
    public var gate: String
    public var passed: Bool
    /// One line for people: what was checked and what came back.
    public var summary: String
    /// The measurements behind the verdict (status codes, latencies, values, times).
    public var evidence: JSONValue

    public init(gate: String, passed: Bool, summary: String, evidence: JSONValue) {
        self.gate = gate
        self.passed = passed
        self.summary = summary
        self.evidence = evidence
    }
}

/// How gates wait between attempts and measurements: real time by default, a test's clock
/// when given.
public typealias GateSleep = @Sendable (Duration) async throws -> Void

public let realSleep: GateSleep = { try await Task.sleep(for: $0) }

extension Duration {
    var milliseconds: Double { Double(totalMilliseconds) }
}
