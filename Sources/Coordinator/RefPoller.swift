import BatonCore
import Foundation
import GitStore
import Logging

/// Looks at one repository for every pipeline on it: every poll (the shortest of theirs), one
/// fetch of a remote repository and one read of the source branches they follow; every
/// `environmentRefsEvery` (at least a poll) also of their environment refs, which only a move
/// outside Baton changes behind its back. Each driver whose refs changed hears what they are
/// now. A hundred pipelines on one repository cost one trip to it per poll, not a hundred, and
/// at rest five hundred of them read one ref a second, not two thousand.
public struct RefPoller: Sendable {
    public let refs: EnvironmentRefs
    public let drivers: [PipelineDriver]
    /// How often the environment refs are read, to find moves made outside Baton.
    public let environmentRefsEvery: Duration

    /// `refs` is a handle of the poller's own on the repository the drivers use.
    public init(refs: EnvironmentRefs, drivers: [PipelineDriver], environmentRefsEvery: Duration = .seconds(10)) {
        self.refs = refs
        self.drivers = drivers
        self.environmentRefsEvery = environmentRefsEvery
    }

    public func run<C: Clock>(clock: C, logger: Logger) async where C.Duration == Duration {
        guard let poll = drivers.map(\.pipeline.repo.poll.duration).min() else { return }
        let names = Array(Set(drivers.flatMap(\.watchedRefs)))
        let heads = Set(drivers.map { GitStore.fullRefName($0.pipeline.repo.branch) })
        let everyPolls = max(1, Int((environmentRefsEvery / poll).rounded(.up)))
        var seen: [String: ObjectID]?
        var problem: String?
        var round = 0
        while !Task.isCancelled {
            do {
                // Each driver's move count before the fetch and the read: a fetch begun before
                // one of Baton's pushes and ended after it writes the old value into the mirror,
                // so a read that a move of its own overtook, from the fetch on, is dropped.
                var epochs: [Int] = []
                for driver in drivers { epochs.append(await driver.moveEpoch) }
                try await refs.refresh(maxAge: poll)
                let all = seen == nil || round % everyPolls == 0
                round += 1
                if all {
                    // Compared as ids; spelled out in hex only for the drivers whose refs changed.
                    let found = try await refs.store.references(names)
                    for (driver, epoch) in zip(drivers, epochs) where seen == nil || driver.watchedRefs.contains(where: { found[$0] != seen?[$0] }) {
                        await driver.observe(found.filter { driver.watchedRefs.contains($0.key) }.mapValues(\.hex), environmentRefsRead: true,
                                             epoch: epoch)
                    }
                    seen = found
                } else {
                    // The source branches only. Never pass on the environment refs of an older
                    // read with a newer epoch: a move of Baton's made since would look like one
                    // made outside it.
                    let found = try await refs.store.references(Array(heads))
                    for driver in drivers where driver.watchedRefs.contains(where: { heads.contains($0) && found[$0] != seen?[$0] }) {
                        let epoch = await driver.moveEpoch
                        await driver.observe(found.filter { driver.watchedRefs.contains($0.key) }.mapValues(\.hex), environmentRefsRead: false,
                                             epoch: epoch)
                    }
                    for head in heads { seen?[head] = found[head] }
                }
                problem = nil
            } catch {
                if "\(error)" != problem {
                    problem = "\(error)"
                    logger.warning("cannot read \(drivers.first?.pipeline.repo.url ?? "the repository"): \(error) (retrying every \(TimeSpan(poll)))")
                }
            }
            try? await clock.sleep(for: poll)
        }
    }
}
