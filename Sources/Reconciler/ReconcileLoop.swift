import BatonCore
import Foundation
import GitStore

/// Keeps one environment reconciled: a pass whenever its ref moves and every
/// `sync.interval`. A pass after the ref moved syncs everything the revision changes (and
/// heals drift); later passes heal drift only with `sync.selfHeal`, and otherwise only report
/// it (and objects deleted from the cluster) as out of sync. Each pass's `StatusReport` goes
/// to `report`.
public struct ReconcileLoop: Sendable {
    public let reconciler: Reconciler
    public let store: GitStore
    /// How often the ref is looked at (a local read of the repository).
    public let refPoll: Duration

    public init(reconciler: Reconciler, store: GitStore, refPoll: Duration = .seconds(1)) {
        self.reconciler = reconciler
        self.store = store
        self.refPoll = refPoll
    }

    /// Runs until the task is cancelled.
    public func run(report: @Sendable (StatusReport) async -> Void) async {
        let environment = reconciler.environment
        let interval = environment.sync.interval.duration
        var synced: String?
        var lastPass = ContinuousClock.now
        while !Task.isCancelled {
            let revision = try? await store.resolve(environment.fullRef).hex
            if let revision, revision != synced || ContinuousClock.now - lastPass >= interval {
                let moved = revision != synced
                let status = await reconciler.sync(revision: revision, dryRun: !moved && !environment.sync.selfHeal,
                                                   healDrift: moved || environment.sync.selfHeal)
                lastPass = .now
                // A failed pass is tried again at the next interval, not at every poll.
                synced = revision
                await report(status)
            }
            try? await Task.sleep(for: refPoll)
        }
    }
}
