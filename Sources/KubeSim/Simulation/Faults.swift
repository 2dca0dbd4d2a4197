import BatonCore
import Foundation

/// Injected faults for reliability tests: added latency, a share of 500 answers, a share of
/// 429 answers with `Retry-After`, refusing connections for a while, freezing (connections are
/// accepted, nothing is answered until the freeze ends), a black hole (every byte lost for a
/// while, the connections it caught half-open for good: `BlackHole`), dropping every open
/// watch, compacting the watch history (a watch resuming from before gets 410 Expired), and
/// losing the answers of the next writes (`loseAnswers`: the write is done, its answer is
/// kube-apiserver's 504 Timeout, as when a write outlives the request's deadline).
/// Set with `POST /sim/faults` (JSON body, every key optional: `latencyMs`, `errorRate`,
/// `throttleRate`, `retryAfterSeconds`, `refuseSeconds`, `freezeSeconds`, `blackHoleSeconds`,
/// `dropWatches`, `compact`, `loseAnswers`) or at start.
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
    /// How many of the next successful writes (POST, PUT, PATCH, DELETE; dry runs do not
    /// count) lose their answer.
    private var answersToLose = 0

    /// The next `count` writes that succeed are done but answered 504 Timeout.
    public func loseAnswers(_ count: Int) {
        answersToLose = max(0, count)
    }

    /// The answer a write that was done gets: its own, or the timeout that hides it.
    func deliver(_ response: SimResponse, to request: SimRequest) -> SimResponse {
        guard answersToLose > 0, ["POST", "PUT", "PATCH", "DELETE"].contains(request.method), !request.dryRun,
              case .json(let status, _) = response, status < 300 else {
            return response
        }
        answersToLose -= 1
        // kube-apiserver's answer when a request outlives its deadline (the timeout filter);
        // the write may be done all the same.
        return .json(504, APIError(code: 504, reason: "Timeout",
                                   message: "Timeout: request did not complete within requested timeout - context deadline exceeded").status)
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
            if let count = body["loseAnswers"]?.int, count > 0 { loseAnswers(Int(count)) }
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
