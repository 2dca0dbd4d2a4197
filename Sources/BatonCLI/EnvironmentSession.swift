import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
import GitStore
import Kube
import Manifests
import Reconciler

/// What `baton diff`, `sync` and `status` share: the environment, its pipeline's repository,
/// a client for its cluster, and a reconciler.
struct EnvironmentSession {
    let config: BatonConfig
    let environment: EnvironmentConfig
    let pipeline: PipelineConfig
    let store: GitStore
    let client: KubeClient
    let reconciler: Reconciler
    /// The audit database, which also keeps the environment's inventory.
    let audit: AuditStore

    /// Loads everything; problems are printed and become exit codes (2 for configuration and
    /// usage, 1 for what cannot be reached). `db` is the audit database (DIR/.baton/baton.db
    /// by default), where the environment's inventory is kept.
    static func open(dir: String, environment name: String, db: String? = nil) async throws -> EnvironmentSession {
        let (config, environment) = try load(dir: dir, environment: name)
        guard let pipeline = config.pipelines.first(where: { $0.chain.contains(name) }) else {
            Terminal.error("baton: environment \(name) is in no pipeline, so there is no repository to read it from")
            throw ExitCode(2)
        }
        let store = try await repository(pipeline, cacheRoot: config.directory + "/.baton/cache")
        let client: KubeClient
        do {
            // The cluster's request budget as `baton run` takes it (from whichever environment on it sets one).
            client = try KubeClient.forCluster(of: environment, among: config.environments)
        } catch {
            throw fail("\(error)")
        }
        let renderer = Renderer(store: store, cacheRoot: config.directory + "/.baton/cache/trees")
        let audit = try PipelineSession.openAudit(db ?? config.directory + "/.baton/baton.db")
        return EnvironmentSession(config: config, environment: environment, pipeline: pipeline, store: store, client: client,
                                  reconciler: Reconciler(environment: environment, client: client, renderer: renderer, inventory: audit),
                                  audit: audit)
    }

    /// The configuration in `dir` and its environment `name`; an invalid configuration or an
    /// unknown name is printed and exits 2.
    static func load(dir: String, environment name: String) throws -> (BatonConfig, EnvironmentConfig) {
        let config = try PipelineSession.loadConfig(dir)
        guard let environment = config.environments.first(where: { $0.name == name }) else {
            let known = config.environments.map(\.name).sorted().joined(separator: ", ")
            Terminal.error("baton: no environment \"\(name)\" in \(dir)/Environments (environments: \(known.isEmpty ? "none" : known))")
            throw ExitCode(2)
        }
        return (config, environment)
    }

    static func fail(_ message: String) -> ExitCode {
        Terminal.error("baton: \(message)")
        return ExitCode(1)
    }

    /// The pipeline's repository: opened in place when local; otherwise a bare clone kept in
    /// the cache and fetched now.
    static func repository(_ pipeline: PipelineConfig, cacheRoot: String) async throws -> GitStore {
        do {
            return try await EnvironmentRefs.open(pipeline, cacheRoot: cacheRoot).store
        } catch {
            throw fail("cannot read the repository of pipeline \(pipeline.name) (\(pipeline.repo.url)): \(error)")
        }
    }

    /// `requested`, or the environment's ref, or (when the ref does not exist yet) the
    /// pipeline's branch, with a note saying so.
    func revision(_ requested: String?) async throws -> String {
        do {
            if let requested { return try await store.resolve(requested).hex }
            if let current = try? await store.resolve(environment.fullRef) { return current.hex }
            let head = try await store.resolve(pipeline.repo.branch).hex
            Terminal.error("baton: \(environment.ref) does not exist yet; using \(pipeline.repo.branch) (\(head.prefix(8)))")
            return head
        } catch {
            throw Self.fail("cannot resolve \(requested ?? environment.ref) in \(pipeline.repo.url): \(error)")
        }
    }
}

/// The per-object table of `baton sync` and `baton status`.
enum StatusTable {
    static func text(_ report: StatusReport, sync: Bool) -> String {
        var rows = [[sync ? "ACTION" : "SYNC", "KIND", "NAMESPACE", "NAME", "HEALTH", "MESSAGE"]]
        for object in report.objects {
            let state: String
            if sync {
                state = object.action.rawValue
            } else {
                state = object.action == .unchanged ? "Synced" : (object.action == .prune ? "Prune" : "OutOfSync")
            }
            let message = object.error ?? (object.drifted ? "drifted; " + object.healthMessage : object.healthMessage)
            rows.append([state, object.key.group.isEmpty ? object.key.kind : "\(object.key.kind).\(object.key.group)",
                         object.key.namespace.isEmpty ? "-" : object.key.namespace, object.key.name,
                         object.action == .prune ? "-" : object.health.rawValue, message])
        }
        return Terminal.table(rows)
    }

    /// Prints `report` (table and summary, or JSON) and its errors; exit 1 unless the
    /// environment is synced and Healthy.
    static func show(_ report: StatusReport, output: OutputFormat, sync: Bool, dryRun: Bool) throws {
        switch output {
        case .json:
            Terminal.out(try Terminal.json(report))
        case .text:
            if !report.objects.isEmpty { Terminal.out(text(report, sync: sync)) }
            Terminal.out((dryRun ? "dry run: " : "") + summary(report))
        }
        for error in report.errors { Terminal.error("baton: \(error)") }
        if !(report.synced && report.health == .healthy && report.errors.isEmpty) { throw ExitCode(1) }
    }

    static func summary(_ report: StatusReport) -> String {
        let synced = report.synced ? "Synced" : "OutOfSync"
        return "environment \(report.environment) at \(report.revision.prefix(8)): \(synced), \(report.health.rawValue)"
            + (report.driftFound ? ", drift found" : "")
    }
}

extension KubeClient {
    /// The client for `environment`'s cluster: its kubeconfig files and context, its request
    /// budget (`cluster.qps`, `cluster.burst`).
    /// A client for `environment`'s cluster, with the request budget the environments on that
    /// cluster (`among`) set for it.
    static func forCluster(of environment: EnvironmentConfig, among environments: [EnvironmentConfig] = []) throws -> KubeClient {
        let budget = ClusterTarget.budget(for: environment.cluster, among: environments)
        return try KubeClient(try Kubeconfig.load(paths: environment.cluster.kubeconfig).resolve(context: environment.cluster.context),
                              budget: RequestBudget(qps: budget.qps, burst: budget.burst))
    }
}
