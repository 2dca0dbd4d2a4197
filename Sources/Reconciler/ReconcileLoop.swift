import BatonCore
import Foundation
import GitStore

/// Keeps one environment reconciled: a pass whenever its ref moves and every
/// `sync.interval` (every `settlingInterval` while it is not synced and Healthy). Until a revision has been applied without errors, each pass syncs it
/// whole (healing drift too); after that, passes heal drift only with `sync.selfHeal`, and
/// otherwise only report it (and objects deleted from the cluster) as out of sync. Each pass's
/// `StatusReport` goes to `report`.
public struct ReconcileLoop: Sendable {
    public let reconciler: Reconciler
    public let store: GitStore
    /// How often the ref is looked at (a local read of the repository).
    public let refPoll: Duration

    /// How often an environment that is not yet synced and Healthy is looked at.
    public let settlingInterval: Duration

    public init(reconciler: Reconciler, store: GitStore, refPoll: Duration = .seconds(1), settlingInterval: Duration = .seconds(1)) {
        self.reconciler = reconciler
        self.store = store
        self.refPoll = refPoll
        self.settlingInterval = settlingInterval
    }

    /// Runs until the task is cancelled.
    public func run(report: @Sendable (StatusReport) async -> Void) async {
        let environment = reconciler.environment
        let interval = environment.sync.interval.duration
        var seen: String?      // the revision the last pass was for
        var applied: String?   // the last revision a pass applied without errors
        var lastPass = ContinuousClock.now
        var refProblem: String?  // reported once until it changes
        // Until the environment is synced and Healthy (a rollout under way), it is looked at
        // every `settlingInterval`, so health changes are seen when they happen, not at the
        // next `sync.interval`.
        var settled = true
        while !Task.isCancelled {
            let revision: String?
            do {
                revision = try await store.resolve(environment.fullRef).hex
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
            let wait = settled ? interval : min(interval, settlingInterval)
            if let revision, revision != seen || ContinuousClock.now - lastPass >= wait {
                // Until a revision has been applied cleanly, every pass applies it (a failed pass
                // is tried again at the next interval); after that, only self-heal applies.
                let full = revision != applied
                // A full pass may leave the cluster between revisions if it fails: until one
                // succeeds, no revision counts as applied (a later return to it applies again).
                if full { applied = nil }
                let status = await reconciler.sync(revision: revision, dryRun: !full && !environment.sync.selfHeal,
                                                   healDrift: full || environment.sync.selfHeal)
                // A pass cut short by stopping is no evidence of anything: not reported.
                if Task.isCancelled { break }
                lastPass = .now
                seen = revision
                if full, status.errors.isEmpty { applied = revision }
                settled = status.synced && status.health == .healthy || !status.errors.isEmpty || status.health == .degraded
                await report(status)
            }
            try? await Task.sleep(for: refPoll)
        }
    }
}
