import Dispatch

/// Runs blocking or long CPU-bound work (thousands of fuzz cases, `git` run synchronously) on a
/// Dispatch thread and awaits it: Swift's cooperative pool has one thread per core (two on CI),
/// and a test that holds one for seconds makes every other test's timers late.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
