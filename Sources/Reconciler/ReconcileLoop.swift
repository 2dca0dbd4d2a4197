import BatonCore
import Foundation
import GitStore
import Kube
import Synchronization

/// Set by watch events, taken by the loop: several events before a pass make one pass.
final class WakeFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    func clear() { flag.withLock { $0 = false } }
    var isSet: Bool { flag.withLock { $0 } }
}

/// Keeps one environment reconciled: a pass whenever its ref moves and every
/// `sync.interval` (every `settlingInterval` while it is not synced and Healthy). Until a revision has been applied without errors, each pass syncs it
/// whole (healing drift too); after that, passes heal drift only with `sync.selfHeal`, and
/// otherwise only report it (and objects deleted from the cluster) as out of sync. Each pass's
/// `StatusReport` goes to `report`.
public struct ReconcileLoop: Sendable {
    public let reconciler: Reconciler
    public let store: GitStore
    /// How often the ref is looked at (a local read of the repository) when nothing wakes
    /// the loop: a driver that moves the ref wakes it at once, so then this is only a fallback.
    public let refPoll: Duration

    /// How often an environment that is not yet synced and Healthy is looked at.
    public let settlingInterval: Duration

    /// The revision to run, when someone decides it (a pipeline's driver: the revision it
    /// recorded there, so a ref moved outside Baton is never deployed); nil from it: nothing
    /// yet (the ref is not read: what it points at is deployed only once the driver takes it).
    /// No `target`: the environment's ref.
    public let target: (@Sendable () async -> String?)?

    public init(reconciler: Reconciler, store: GitStore, refPoll: Duration = .seconds(1), settlingInterval: Duration = .seconds(1),
                target: (@Sendable () async -> String?)? = nil) {
        self.reconciler = reconciler
        self.store = store
        self.refPoll = refPoll
        self.settlingInterval = settlingInterval
        self.target = target
    }

    /// Runs until the task is cancelled. With the cluster's shared cache, a watch event on an
    /// object the environment has (or had) wakes it within `refPoll`, events coalesced; when
    /// passes keep healing drift that something else keeps making, wakes back off (doubling, up
    /// to `sync.interval`). Passes are spread with jitter: the first within half a second of
    /// start, then every `sync.interval` ± 10 %. A pass that could not reach the cluster is
    /// tried again after 1 s, doubling up to `sync.interval`, with jitter.
    ///
    /// `wakeup` ends a wait at once: the driver signals it when it moves the environment's ref.
    public func run(wakeup: Wakeup = Wakeup(), report: @escaping @Sendable (StatusReport) async -> Void) async {
        await run(clock: ContinuousClock(), wakeup: wakeup, report: report)
    }

    /// The same on `clock`: every wait and every "is it due" is measured on it, so tests drive
    /// the loop with a clock of their own.
    public func run<C: Clock>(clock: C, wakeup: Wakeup = Wakeup(), report: @escaping @Sendable (StatusReport) async -> Void) async
        where C.Duration == Duration {
        let environment = reconciler.environment
        let interval = environment.sync.interval.duration
        let woken = WakeFlag()
        var listener: UUID?
        if let cache = reconciler.cache {
            let reconciler = self.reconciler
            listener = await cache.addListener { scope, name in
                let key = ResourceKey(group: ResourceKey.group(ofAPIVersion: scope.apiVersion), kind: scope.kind, namespace: scope.namespace, name: name)
                if reconciler.tracks(key) {
                    woken.set()
                    wakeup.signal()
                }
            }
        }
        defer {
            if let listener, let cache = reconciler.cache { Task { await cache.removeListener(listener) } }
        }
        var healStreak = 0          // passes in a row that healed drift
        // How long after the last woken pass a wake is honoured: at once, or after a back-off
        // (doubling, up to the interval) while passes keep healing drift.
        func backoff() -> Duration {
            healStreak == 0 ? .zero : min(interval, .seconds(1) * Int(pow(2.0, Double(min(healStreak, 10)))))
        }
        var lastWokenPass = clock.now.advanced(by: .zero - interval)
        // When a pass last healed drift: until the back-off has passed since, passes (a wake, a
        // settling look while the heal rolls out) only report drift, so a fight with another
        // controller costs a heal per back-off, not one per second.
        var lastHeal = clock.now.advanced(by: .zero - interval)
        var jitter = interval * Double.random(in: -0.1...0.1)
        try? await clock.sleep(for: .milliseconds(Int.random(in: 0...500)))
        var seen: String?      // the revision the last pass was for
        var applied: String?   // the last revision a pass applied without errors
        var lastPass = clock.now
        var refProblem: String?  // reported once until it changes
        // Until the environment is synced and Healthy (a rollout under way), it is looked at
        // every `settlingInterval`, so health changes are seen when they happen, not at the
        // next `sync.interval`.
        var settled = true
        // Passes in a row the cluster could not be reached for (`StatusReport.unavailable`):
        // tried again after a back-off that starts at a second and doubles up to the interval,
        // with jitter, so an environment is back within seconds of its cluster and a few
        // hundred environments do not come back at once.
        var outageStreak = 0
        var outageWait = Duration.zero
        func pause() -> Duration {
            if outageStreak > 0 { return outageWait }
            return settled ? interval + jitter : min(interval, settlingInterval)
        }
        while !Task.isCancelled {
            let revision: String?
            if let target {
                revision = await target()
                refProblem = nil
            } else {
                do {
                    // The ref only (no object read): what every wake and every refPoll costs.
                    guard let target = try await store.reference(environment.fullRef) else {
                        throw GitStoreError(.notFound, "\(environment.fullRef) does not exist", function: "git_reference_lookup")
                    }
                    revision = target.hex
                    refProblem = nil
                } catch {
                    revision = nil
                    let problem = "cannot resolve \(environment.ref): \(error)"
                    if problem != refProblem {
                        refProblem = problem
                        await report(StatusReport(environment: environment.name, revision: "", synced: false, health: .unknown, objects: [],
                                                  driftFound: false, applied: false, errors: [problem], startedAt: Date(), duration: .seconds(0)))
                    }
                }
            }
            let wait = pause()
            let wake = woken.isSet && lastWokenPass.duration(to: clock.now) >= backoff()
            if let revision, revision != seen || lastPass.duration(to: clock.now) >= wait || wake {
                if wake { lastWokenPass = clock.now }
                woken.clear()
                // Until a revision has been applied cleanly, every pass applies it (a failed pass
                // is tried again at the next interval); after that, only self-heal applies.
                let full = revision != applied
                // A full pass may leave the cluster between revisions if it fails: until one
                // succeeds, no revision counts as applied (a later return to it applies again).
                if full { applied = nil }
                let reconciler = self.reconciler
                let heal = full || environment.sync.selfHeal && lastHeal.duration(to: clock.now) >= backoff()
                let status = await inChildTask { await reconciler.sync(revision: revision, dryRun: !heal, healDrift: heal) }
                // A pass cut short by stopping is no evidence of anything: not reported.
                if Task.isCancelled { break }
                lastPass = clock.now
                seen = revision
                if full, status.errors.isEmpty { applied = revision }
                settled = status.synced && status.health == .healthy || !status.errors.isEmpty || status.health == .degraded
                if status.driftFound && status.applied {
                    healStreak += 1
                    lastHeal = clock.now
                } else if !status.driftFound {
                    healStreak = 0  // nobody undoes it any more (a report-only pass that found drift keeps the streak)
                }
                jitter = interval * Double.random(in: -0.1...0.1)
                outageStreak = status.unavailable ? outageStreak + 1 : 0
                if outageStreak > 0 {
                    outageWait = min(interval, .seconds(1) * Int(pow(2.0, Double(min(outageStreak - 1, 10))))) * Double.random(in: 0.5...1.0)
                }
                await inChildTask { await report(status) }
            }
            // Until the next pass is due, the next wake, or the next look at the ref.
            var due = lastPass.advanced(by: pause())
            // A wake held back by the back-off is due when the back-off ends.
            if woken.isSet { due = min(due, lastWokenPass.advanced(by: backoff())) }
            await wakeup.wait(upTo: max(.milliseconds(10), min(refPoll, clock.now.duration(to: due))), on: clock)
        }
    }
}
