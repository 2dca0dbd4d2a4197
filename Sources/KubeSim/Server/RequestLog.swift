import Synchronization

/// How many requests the server received, by method and path (query left out), including
/// ones answered with an error or an injected fault, and the most recent ones in order. A
/// request with `dryRun=All` is recorded under its method prefixed with `DRYRUN-`
/// (`DRYRUN-PATCH`): it changes nothing. A watch (`GET …?watch=1`) is recorded as `WATCH`.
/// Tests read it to see retries, pages, and what a sync sent.
public final class RequestLog: Sendable {
    private struct State {
        var counts: [String: Int] = [:]
        var answered: [String: Int] = [:]
        var recent: [String] = []
    }

    private let state = Mutex(State())
    /// How many recent requests are kept in order.
    static let keep = 20_000

    public init() {}

    func record(method: String, path: String) {
        state.withLock {
            $0.counts["\(method) \(path)", default: 0] += 1
            $0.recent.append("\(method) \(path)")
            if $0.recent.count > Self.keep { $0.recent.removeFirst($0.recent.count - Self.keep / 2) }
        }
    }

    /// The responder has its answer to a request recorded with `method` and `path` (the HTTP
    /// server has yet to send it).
    func recordAnswer(method: String, path: String) {
        state.withLock { $0.answered["\(method) \(path)", default: 0] += 1 }
    }

    /// Requests with `method` to `path` the responder has answered so far.
    public func answered(_ method: String, _ path: String) -> Int {
        state.withLock { $0.answered["\(method) \(path)"] ?? 0 }
    }

    /// Requests so far with `method` to `path`.
    public func count(_ method: String, _ path: String) -> Int {
        state.withLock { $0.counts["\(method) \(path)"] ?? 0 }
    }

    /// Requests so far with `method`, to any path.
    public func count(_ method: String) -> Int {
        state.withLock { $0.counts.filter { $0.key.hasPrefix(method + " ") }.values.reduce(0, +) }
    }

    /// The paths of the most recent requests with `method`, oldest first.
    public func paths(_ method: String) -> [String] {
        state.withLock { $0.recent.filter { $0.hasPrefix(method + " ") }.map { String($0.dropFirst(method.count + 1)) } }
    }
}
