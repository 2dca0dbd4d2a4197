import Synchronization

/// Wakes a loop that waits for work: `signal` ends the current (or the next) `wait` at once.
/// Several signals before a wait make one wake; a wait may also end early for no reason
/// (a loop that uses it looks at what there is to do, not at why it woke).
public final class Wakeup: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Ends the wait under way, or the next one if none is.
    public func signal() { resume(ifLatest: nil) }

    /// Whether a signal came since the last wait, without waiting (and taking it).
    public func take() -> Bool {
        state.withLock { state in
            defer { state.signalled = false }
            return state.signalled
        }
    }

    /// Waits until signalled, `timeout` passes on `clock`, or the task is cancelled.
    public func wait<C: Clock>(upTo timeout: C.Duration, on clock: C) async where C.Duration == Duration {
        let generation = state.withLock { state in
            state.generation += 1
            return state.generation
        }
        let timer = Task {
            try? await clock.sleep(for: timeout)
            if !Task.isCancelled { self.wake(generation) }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.signalled || Task.isCancelled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.signal()
        }
        timer.cancel()
    }

    /// The timer of wait `generation`: wakes it if it is still the latest wait, also when the
    /// timer fires before the wait has registered (else that wait would outlast its timeout).
    private func wake(_ generation: Int) { resume(ifLatest: generation) }

    /// Resumes the waiter, or marks the next wait as woken; with a generation, only while that
    /// is still the latest wait.
    private func resume(ifLatest generation: Int?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let generation, state.generation != generation { return nil }
            guard let waiter = state.waiter else {
                state.signalled = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    public func wait(upTo timeout: Duration) async {
        await wait(upTo: timeout, on: ContinuousClock())
    }
}
