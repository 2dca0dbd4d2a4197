import Foundation
import Synchronization

/// A cluster's request budget, a token bucket as client-go's rate limiter: `burst` requests may
/// go at once, then `qps` a second on average. Shared by every environment on the cluster
/// (through their shared `KubeClient`), so hundreds of environments starting together queue
/// instead of flooding the server.
public final class RequestBudget: Sendable {
    public let qps: Double
    public let burst: Int
    private let state: Mutex<(tokens: Double, at: ContinuousClock.Instant)>

    public init(qps: Double, burst: Int) {
        self.qps = max(qps, 0.001)
        self.burst = max(burst, 1)
        state = Mutex((Double(max(burst, 1)), ContinuousClock.now))
    }

    /// Takes one request's token, waiting for it when the bucket is empty. Throws only when
    /// the task is cancelled while waiting.
    public func acquire() async throws {
        let now = ContinuousClock.now
        let wait = state.withLock { bucket -> Double in
            let elapsed = now - bucket.at
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(burst), bucket.tokens + seconds * qps)
            bucket.at = now
            bucket.tokens -= 1  // reserved now, even when it has to be waited for
            return bucket.tokens >= 0 ? 0 : -bucket.tokens / qps
        }
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int((wait * 1000).rounded(.up)))) }
    }
}
