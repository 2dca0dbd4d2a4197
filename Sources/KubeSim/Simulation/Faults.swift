import BatonCore
import Foundation

/// Injected faults for reliability tests: added latency, a share of 500 answers, a share of
/// 429 answers with `Retry-After`, refusing connections for a while, freezing (connections are
/// accepted, nothing is answered until the freeze ends), a black hole (every byte lost for a
/// while, the connections it caught half-open for good: `BlackHole`), dropping every open
/// watch, and compacting the watch history (a watch resuming from before gets 410 Expired).
/// Set with `POST /sim/faults` (JSON body, every key optional: `latencyMs`, `errorRate`,
/// `throttleRate`, `retryAfterSeconds`, `refuseSeconds`, `freezeSeconds`, `blackHoleSeconds`,
/// `dropWatches`, `compact`) or at start.
public actor Faults {
    public struct Settings: Sendable, Codable, Equatable {
        public var latencyMs: Int = 0
        public var errorRate: Double = 0
        public var throttleRate: Double = 0
        public var retryAfterSeconds: Int = 1

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
            errorRate = try c.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0
            throttleRate = try c.decodeIfPresent(Double.self, forKey: .throttleRate) ?? 0
            retryAfterSeconds = try c.decodeIfPresent(Int.self, forKey: .retryAfterSeconds) ?? 1
        }

        public init(latencyMs: Int = 0, errorRate: Double = 0, throttleRate: Double = 0, retryAfterSeconds: Int = 1) {
            self.latencyMs = latencyMs
            self.errorRate = errorRate
            self.throttleRate = throttleRate
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    public private(set) var settings: Settings
    /// The black-hole fault, which every connection of the server passes through.
    public nonisolated let blackHole = BlackHole()
    private var generator = SystemRandomNumberGenerator()
    /// Until when every request waits before it is answered (the "frozen server" fault).
    private var frozenUntil: ContinuousClock.Instant?

    /// Answers nothing for `duration`: requests already waiting and new ones are held until
    /// the freeze ends (a client's own timeout ends them first).
    public func freeze(for duration: Duration) {
        frozenUntil = ContinuousClock.now + duration
    }
    /// Stops and restarts the listener; set by the running server.
    private var refuse: (@Sendable (Duration) async -> Void)?

    func onRefuse(_ action: @escaping @Sendable (Duration) async -> Void) {
        refuse = action
    }

    public init(_ settings: Settings = Settings()) {
        self.settings = settings
    }

    public func set(_ settings: Settings) {
        self.settings = settings
    }

    /// The fault this request meets, if any, after the added latency.
    func take() async -> SimResponse? {
        if let frozenUntil, frozenUntil > .now { try? await Task.sleep(until: frozenUntil, clock: .continuous) }
        if settings.latencyMs > 0 { try? await Task.sleep(for: .milliseconds(settings.latencyMs)) }
        let roll = Double.random(in: 0..<1, using: &generator)
        if roll < settings.errorRate {
            return .json(500, APIError(code: 500, reason: "InternalError", message: "injected fault: internal error").status)
        }
        if roll < settings.errorRate + settings.throttleRate {
            var status = APIError(code: 429, reason: "TooManyRequests", message: "injected fault: too many requests").status
            status["details"] = .object(["retryAfterSeconds": .int(Int64(settings.retryAfterSeconds))])
            return .json(429, status)
        }
        return nil
    }

    func configure(_ request: SimRequest) throws -> SimResponse {
        if request.method == "POST" || request.method == "PUT" {
            guard let update = try? JSONDecoder().decode(Settings.self, from: request.body.isEmpty ? Data("{}".utf8) : request.body) else {
                throw APIError.badRequest("expected a JSON object with latencyMs, errorRate, throttleRate, retryAfterSeconds")
            }
            settings = update
            let body = (try? JSONValue.parse(request.body)) ?? .null
            if let seconds = body["freezeSeconds"]?.int, seconds > 0 { freeze(for: .seconds(seconds)) }
            if let seconds = body["blackHoleSeconds"]?.int, seconds > 0 {
                // Answer first (this answer would be lost), then drop everything.
                let hole = blackHole
                Task.detached {
                    try? await Task.sleep(for: .milliseconds(100))
                    hole.open(for: .seconds(seconds))
                }
            }
            if let seconds = body["refuseSeconds"]?.int, seconds > 0, let refuse {
                // Answer first, then stop listening. Detached from the request: started from
                // a task that inherits the request's context (its task-local values include
                // the old server's service-lifecycle state), the server never listened again.
                Task.detached {
                    try? await Task.sleep(for: .milliseconds(100))
                    await refuse(.seconds(seconds))
                }
            }
        }
        return .json(200, (try? JSONValue.parse(JSONEncoder().encode(settings))) ?? .null)
    }
}
