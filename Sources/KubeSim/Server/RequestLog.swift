import Synchronization

/// How many requests the server received, by method and path (query left out), including
/// ones answered with an error or an injected fault. Tests read it to see retries and pages.
public final class RequestLog: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    public init() {}

    func record(method: String, path: String) {
        counts.withLock { $0["\(method) \(path)", default: 0] += 1 }
    }

    /// Requests so far with `method` to `path`.
    public func count(_ method: String, _ path: String) -> Int {
        counts.withLock { $0["\(method) \(path)"] ?? 0 }
    }
}
