import Foundation

/// When a failed call is tried again: 429 (after its `Retry-After`), 500/502/503/504 and
/// connection failures, with capped exponential backoff and jitter, bounded in attempts and in
/// total time. Other 4xx answers are final.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    /// No retry starts once this much time has passed since the first attempt.
    public var maxElapsed: Duration

    public init(maxAttempts: Int = 6, initialDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5),
                maxElapsed: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.maxElapsed = maxElapsed
    }

    /// No retries at all.
    public static let none = RetryPolicy(maxAttempts: 1)

    static let retriedStatuses: Set<Int> = [429, 500, 502, 503, 504]

    /// How long to wait before attempt `attempt + 1`, or nil when the budget is spent.
    /// `retryAfter` (seconds, from the server) is a floor; a wait that would overrun
    /// `maxElapsed` is not taken.
    func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration? = nil) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let exponent = min(attempt - 1, 30)
        let base = min(maxDelay, initialDelay * (1 << exponent))
        // Jitter: somewhere in the upper half, so clients that failed together spread out.
        let jittered = base * Double.random(in: 0.5...1.0)
        let wait = max(jittered, retryAfter ?? .zero)
        guard elapsed + wait <= maxElapsed else { return nil }
        return wait
    }

    /// `Retry-After` in seconds (the HTTP-date form is not used by Kubernetes).
    static func retryAfter(_ header: String?) -> Duration? {
        guard let header, let seconds = Int(header.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .seconds(seconds)
    }
}
