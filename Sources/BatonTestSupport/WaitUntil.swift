/// A test's wait for something to happen, bounded: when `condition` is still false after
/// `limit` it throws, naming `what`, so a test whose premise never comes fails instead of
/// waiting for ever (an unbounded `while … { sleep }` once held a whole suite run idle).
public func waitUntil(_ what: String, within limit: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
                      _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimedOut(what: what, limit: limit) }
        try await Task.sleep(for: interval)
    }
}

public struct WaitTimedOut: Error, CustomStringConvertible {
    public let what: String
    public let limit: Duration
    public var description: String { "waited \(limit) for \(what); it did not happen" }
}
