import BatonCore
import Foundation
import Testing

/// `Wakeup`, with real time (short waits): a signal ends a wait at once, signals before a wait
/// are kept (coalesced), and without one the wait ends at its timeout.
@Suite("BatonCore: Wakeup")
struct WakeupTests {
    @Test("a signal ends a long wait at once; one that came before the wait ends it too; several make one wake")
    func signals() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        let waiting = Task {
            let start = clock.now
            await wakeup.wait(upTo: .seconds(30))
            return start.duration(to: clock.now)
        }
        try? await Task.sleep(for: .milliseconds(50))
        wakeup.signal()
        let waited = await waiting.value
        #expect(waited < .seconds(15), "the signal did not end the wait (\(waited))")

        wakeup.signal()
        wakeup.signal()
        let start = clock.now
        await wakeup.wait(upTo: .seconds(30))
        #expect(start.duration(to: clock.now) < .seconds(5), "a signal given before the wait was lost")
        #expect(!wakeup.take(), "two signals before one wait woke it twice")
    }

    @Test("without a signal the wait ends at its timeout, also a very short one, and cancelling ends it")
    func timeouts() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        for timeout in [Duration.milliseconds(1), .milliseconds(10), .milliseconds(100)] {
            // A missed timeout would wait for ever: a watchdog signals after 20 s (generous: on a
            // loaded 2-core machine a timer task can wait seconds for a thread).
            let watchdog = Task {
                try await Task.sleep(for: .seconds(20))
                wakeup.signal()
            }
            let start = clock.now
            await wakeup.wait(upTo: timeout)
            let waited = start.duration(to: clock.now)
            watchdog.cancel()
            #expect(waited >= timeout && waited < .seconds(20), "a \(timeout) wait took \(waited)")
        }
        _ = wakeup.take()
        let waiting = Task { await wakeup.wait(upTo: .seconds(30)) }
        waiting.cancel()
        let start = clock.now
        await waiting.value
        #expect(start.duration(to: clock.now) < .seconds(5))
    }
}
