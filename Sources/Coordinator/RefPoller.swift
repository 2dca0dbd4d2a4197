import BatonCore
import Foundation
import GitStore
import Logging

/// Looks at one repository for every pipeline on it: every poll (the shortest of theirs), one
/// fetch of a remote repository and one read of every ref they follow (source branches and
/// environment refs), and each driver whose refs changed hears what they are now. A hundred
/// pipelines on one repository cost one trip to it per poll, not a hundred.
public struct RefPoller: Sendable {
    public let refs: EnvironmentRefs
    public let drivers: [PipelineDriver]

    /// `refs` is a handle of the poller's own on the repository the drivers use.
    public init(refs: EnvironmentRefs, drivers: [PipelineDriver]) {
        self.refs = refs
        self.drivers = drivers
    }

    public func run<C: Clock>(clock: C, logger: Logger) async where C.Duration == Duration {
        guard let poll = drivers.map(\.pipeline.repo.poll.duration).min() else { return }
        let names = Array(Set(drivers.flatMap(\.watchedRefs)))
        var seen: [String: ObjectID]?
        var problem: String?
        while !Task.isCancelled {
            do {
                try await refs.refresh(maxAge: poll)
                // Each driver's move count before the read: a read that a move of its own
                // overtook is dropped by the driver.
                var epochs: [Int] = []
                for driver in drivers { epochs.append(await driver.moveEpoch) }
                // Compared as ids; spelled out in hex only for the drivers whose refs changed.
                let found = try await refs.store.references(names)
                for (driver, epoch) in zip(drivers, epochs) where seen == nil || driver.watchedRefs.contains(where: { found[$0] != seen?[$0] }) {
                    await driver.observe(found.filter { driver.watchedRefs.contains($0.key) }.mapValues(\.hex), epoch: epoch)
                }
                seen = found
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
