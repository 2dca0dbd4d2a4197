import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
import Signatures
import Gates
import HTTP
import Kube
import Manifests
import Logging
import Reconciler
import ServiceLifecycle
import Synchronization

/// `baton run`: the coordinator and the reconcilers of every pipeline, until interrupted.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Promote commits along every pipeline and keep every environment reconciled, until interrupted.",
        discussion: """
            Fetches each pipeline's repository every `poll`, runs a reconciler per environment, moves environment \
            refs as gates and approvals allow, and prints one line per transition. Stops cleanly on SIGINT or SIGTERM; \
            after a crash, the next run carries on from the audit database without losing or repeating a promotion. \
            One `baton run` per audit database at a time.
            """
    )

    @OptionGroup var location: PipelineSession.Location
    @Option(help: "How often time is fed to the promotion machines and ref moves are retried (e.g. 1s).")
    var tick: String = "1s"

    func run() async throws {
        // Caught from the first instant: a stop asked for while starting ends the run as soon
        // as it has started, cleanly.
        let stop = StopRequest()
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.stop() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        let config = try PipelineSession.loadConfig(location.dir)
        guard let tick = TimeSpan(parsing: self.tick), tick.duration > .zero else {
            Terminal.error("baton: --tick: \"\(self.tick)\" is not a duration such as 1s or 500ms")
            throw ExitCode(2)
        }
        let dbPath = location.path(config)
        let audit = try PipelineSession.openAudit(dbPath)
        // So that two `baton run` never drive the same pipelines.
        guard let lock = try PipelineSession.takeRunLock(dbPath) else {
            throw EnvironmentSession.fail("another baton run is using this audit database (\(dbPath).run.lock is locked)")
        }
        defer { close(lock) }
        if config.pipelines.isEmpty {
            Terminal.error("baton: no pipelines in \(location.dir)/Pipelines: nothing to run")
            throw ExitCode(2)
        }
        let logger = Logger(label: "baton.run") { ConsoleLogHandler(label: $0) }
        let http = HTTPClient()
        defer { http.shutdown() }
        var drivers: [(driver: PipelineDriver, reconcilers: [Reconciler])] = []
        // One client per cluster and credentials (kubeconfig files and context), shared by every
        // environment on it: one set of connections, one discovery, one credential refresh.
        var clients: [String: (client: KubeClient, cache: ClusterCache)] = [:]
        // One mirror and one fetch per poll per repository URL and credentials, shared by the
        // pipelines reading it with them.
        var fetches: [String: FetchCoalescer] = [:]
        for pipeline in config.pipelines {
            let refs: EnvironmentRefs
            do {
                let shared = fetches[pipeline.repo.sharingKey] ?? FetchCoalescer()
                fetches[pipeline.repo.sharingKey] = shared
                refs = try await EnvironmentRefs.open(pipeline, cacheRoot: config.directory + "/.baton/cache", fetches: shared)
            } catch {
                throw EnvironmentSession.fail("cannot read the repository of pipeline \(pipeline.name) (\(pipeline.repo.url)): \(error)")
            }
            var reconcilers: [Reconciler] = []
            for name in pipeline.chain {
                guard let environment = config.environment(named: name) else { continue }
                let clusterKey = environment.cluster.sharingKey
                let client: KubeClient, cache: ClusterCache
                if let shared = clients[clusterKey] {
                    (client, cache) = shared
                } else {
                    do {
                        client = try KubeClient.forCluster(of: environment, among: config.environments)
                    } catch {
                        throw EnvironmentSession.fail("environment \(name): \(error)")
                    }
                    // Live state from one watch-fed cache per cluster: Baton's objects only.
                    cache = ClusterCache(client: client, labelSelector: Normalizer.cacheSelector(instance: config.instance))
                    clients[clusterKey] = (client, cache)
                }
                let renderer = Renderer(store: refs.store, cacheRoot: config.directory + "/.baton/cache/trees")
                reconcilers.append(Reconciler(environment: environment, client: client, renderer: renderer, inventory: audit, cache: cache))
            }
            let ledger = PromotionLedger(pipeline: pipeline, environments: config.environments, audit: audit)
            // Who may sign this pipeline's decisions, as this coordinator reads it: a command that
            // would decide in its place with another configuration is refused (PipelineSession).
            let pin = TrustedApprovers.pin(for: pipeline, directory: config.directory)
            do {
                try audit.update(state: PipelineSession.trustPinKey(pipeline.name)) { stored in
                    let previous = stored.map { String(decoding: $0, as: UTF8.self) }
                    guard previous != pin else { return [] }
                    stored = Data(pin.utf8)
                    return [EventDraft(kind: "trust-pinned", actor: "baton", pipeline: pipeline.name,
                                       details: ["pin": .string(pin), "previous": previous.map(JSONValue.string) ?? .null])]
                }
            } catch {
                throw EnvironmentSession.fail("cannot record who may sign pipeline \(pipeline.name)'s decisions: \(error)")
            }
            do {
                let driver = try PipelineDriver(ledger: ledger, refs: refs, environments: config.environments, gates: GateRunner(client: http),
                                                trust: PipelineDriver.trust(for: pipeline, directory: config.directory),
                                                commitSigners: PipelineDriver.commitSigners(for: pipeline, directory: config.directory), logger: logger)
                drivers.append((driver, reconcilers))
            } catch {
                throw EnvironmentSession.fail("\(error)")
            }
            Terminal.out("baton run: pipeline \(pipeline.name): \(pipeline.chain.joined(separator: " → ")) from \(pipeline.repo.url) "
                + "(\(pipeline.repo.branch), polled every \(pipeline.repo.poll))")
        }
        Terminal.out("baton run: audit log \(dbPath); stop with Ctrl-C")

        // One service group: the caches (stopped last, once every driver has), each pipeline's
        // driver with its reconcile loops, and the inbox. A signal shuts it down gracefully.
        var services: [any Service] = [CacheService(caches: clients.values.map(\.cache))]
        services += drivers.map { DriverService(driver: $0.driver, reconcilers: $0.reconcilers, tick: tick.duration) }
        // One poller per repository and credentials, for every pipeline reading it with them.
        for (key, group) in Dictionary(grouping: drivers.map(\.driver), by: \.pipeline.repo.sharingKey) {
            guard let first = group.first else { continue }
            do {
                let refs = try await EnvironmentRefs.open(first.pipeline, cacheRoot: config.directory + "/.baton/cache", fetches: fetches[key] ?? FetchCoalescer())
                services.append(PollerService(poller: RefPoller(refs: refs, drivers: group), logger: logger))
            } catch {
                throw EnvironmentSession.fail("cannot read the repository \(first.pipeline.repo.url): \(error)")
            }
        }
        services.append(InboxService(dispatcher: InboxDispatcher(audit: audit, drivers: drivers.map(\.driver)), logger: logger))
        var groupLogger = logger
        groupLogger.logLevel = .warning
        let group = ServiceGroup(services: services, logger: groupLogger)
        stop.attach { Task { await group.triggerGracefulShutdown() } }
        do {
            try await group.run()
        } catch {
            Terminal.error("baton run: \(error)")
            throw ExitCode(1)
        }
        var transactions = 0, reads = 0
        for (driver, _) in drivers {
            transactions += await driver.transactions
            reads += await driver.stateReads
        }
        Terminal.out("baton run: stopped (\(transactions) write transactions of promotion state, \(reads) reads of it)")
    }

}

/// A stop asked for by a signal: stops the run's work, at once if it has started, else as
/// soon as it does.
final class StopRequest: Sendable {
    private let state = Mutex<(stopped: Bool, action: (@Sendable () -> Void)?)>((false, nil))

    func stop() {
        state.withLock { state in
            state.stopped = true
            return state.action
        }?()
    }

    func attach(_ action: @escaping @Sendable () -> Void) {
        let stopped = state.withLock { state in
            state.action = action
            return state.stopped
        }
        if stopped { action() }
    }
}

/// A pipeline's driver and its environments' reconcile loops, until the group shuts down.
struct DriverService: Service {
    let driver: PipelineDriver
    let reconcilers: [Reconciler]
    let tick: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown { await driver.run(reconcilers: reconcilers, tick: tick) }
    }
}

/// One repository's refs, looked at every poll for the pipelines on it.
struct PollerService: Service {
    let poller: RefPoller
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await poller.run(clock: ContinuousClock(), logger: logger) }
    }
}

/// Decisions from CLI commands, looked for every 200 ms (one query for every pipeline).
struct InboxService: Service {
    let dispatcher: InboxDispatcher
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown { await dispatcher.run(every: .milliseconds(200), clock: ContinuousClock(), logger: logger) }
    }
}

/// The clusters' caches: stopped when the group shuts down, after every service listed after
/// this one (the drivers and their loops) has stopped, so that no watch reconnects meanwhile.
struct CacheService: Service {
    let caches: [ClusterCache]

    func run() async throws {
        try? await gracefulShutdown()
        for cache in caches { await cache.stop() }
    }
}
