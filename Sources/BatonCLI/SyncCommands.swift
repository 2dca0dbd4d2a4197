import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
import Reconciler

/// `baton diff ENV`: what syncing a revision would change in the live cluster.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what syncing a revision would change in an environment's cluster.",
        discussion: "Exits 0 when nothing would change, 1 when something would (as kubectl diff), 2 for bad usage."
    )

    @Argument(help: "The environment's name.") var environment: String
    @Option(help: "The revision (commit, branch, tag); the environment's ref by default.") var revision: String?
    @Option(name: .long, help: "The audit database, which keeps the environment's inventory (DIR/.baton/baton.db by default).")
    var db: String?
    @Option(name: .long, help: "The folder holding Environments/ and Pipelines/.") var dir: String = "."

    func run() async throws {
        let session = try await EnvironmentSession.open(dir: dir, environment: environment, db: db)
        let revision = try await session.revision(self.revision)
        let plan: Plan
        do {
            plan = try await session.reconciler.plan(revision: revision)
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
        var counts: [SyncAction: Int] = [:]
        for change in plan.changes {
            counts[change.action, default: 0] += 1
            guard change.action != .unchanged else { continue }
            let sign = ["create": "+", "update": "~", "prune": "-"][change.action.rawValue] ?? " "
            let drift = change.drifted ? " (drifted in the cluster)" : ""
            Terminal.out("\(sign) \(change.action.rawValue) \(change.key)\(change.source.map { " (\($0))" } ?? "")\(drift)")
            Terminal.out(change.diff.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        }
        Terminal.out("\(environment) at \(revision.prefix(8)): \(counts[.create] ?? 0) to create, \(counts[.update] ?? 0) to update, "
            + "\(counts[.prune] ?? 0) to prune, \(counts[.unchanged] ?? 0) unchanged")
        if plan.needsSync { throw ExitCode(1) }
    }
}

/// `baton sync ENV`: make the cluster match a revision now.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Apply a revision to an environment's cluster, prune what it no longer has, and wait until healthy.",
        discussion: """
            An environment runs what its pipeline promotes: --revision other than its ref's is refused (recorded) \
            unless --dry-run; move it with baton promote or baton rollback. Exits 0 when the environment ends synced \
            and Healthy, 1 otherwise, 2 for bad usage.
            """
    )

    @Argument(help: "The environment's name.") var environment: String
    @Option(help: "The revision (commit, branch, tag) to preview with --dry-run; the environment's ref by default.") var revision: String?
    @Flag(help: "Show what would be done; change nothing.") var dryRun = false
    @Flag(help: "Do not wait for the objects to become healthy.") var noWait = false
    @Option(name: .long, help: "The audit database (DIR/.baton/baton.db by default).") var db: String?
    @Option(name: .long, help: "The folder holding Environments/ and Pipelines/.") var dir: String = "."
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
        let session = try await EnvironmentSession.open(dir: dir, environment: environment, db: db)
        let revision = try await session.revision(self.revision)
        if !dryRun {
            // Applying any other commit by hand would bypass the pipeline's gates and approvals:
            // only what the pipeline recorded there (or, before it recorded anything, the ref).
            let recorded = (try? PromotionLedger(pipeline: session.pipeline, environments: session.config.environments, audit: session.audit)
                .load())?.stages.first { $0.environment == environment }?.deployed
            var reason: String?
            if let recorded, revision != recorded {
                reason = self.revision == nil
                    ? "\(environment)'s ref points at \(revision.prefix(8)), but pipeline \(session.pipeline.name) put \(recorded.prefix(8)) there "
                        + "(moved outside Baton? baton run sets it back); nothing applied"
                    : "\(environment) runs what pipeline \(session.pipeline.name) promotes (\(recorded.prefix(8))); syncing it to "
                        + "\(revision.prefix(8)) by hand would bypass its gates (preview with --dry-run; move it with baton promote or baton rollback)"
            } else if recorded == nil, self.revision != nil, revision != (try await session.revision(nil)) {
                reason = "\(environment) runs what pipeline \(session.pipeline.name) promotes; syncing it to \(revision.prefix(8)) by hand "
                    + "would bypass its gates (preview with --dry-run; move it with baton promote or baton rollback)"
            }
            if let reason {
                _ = try? session.audit.append(EventDraft(kind: "sync-refused", actor: await Actor.current(), pipeline: session.pipeline.name,
                                                         environment: environment, revision: revision, details: ["reason": .string(reason)]))
                throw EnvironmentSession.fail("refused: " + reason)
            }
        }
        let audit: AuditStore? = dryRun ? nil : session.audit
        var report = await session.reconciler.sync(revision: revision, dryRun: dryRun)
        if let audit, report.applied || !report.errors.isEmpty {
            // What the sync did, object by object, before anyone reads the result.
            let changed = report.objects.filter { $0.action != .unchanged }.map { object -> JSONValue in
                .object(["object": .string(object.key.description), "action": .string(object.action.rawValue),
                         "error": object.error.map(JSONValue.string) ?? .null])
            }
            do {
                try audit.append(EventDraft(kind: "sync", actor: await Actor.current(), pipeline: session.pipeline.name,
                                            environment: environment, revision: revision,
                                            details: .object(["command": "baton sync", "objects": .array(changed),
                                                              "errors": .array(report.errors.map(JSONValue.string))]),
                                            records: [.syncResult(objects: report.objects.filter { $0.action != .unchanged }.map {
                                                SyncedObject(kind: $0.key.kind, group: $0.key.group, namespace: $0.key.namespace,
                                                             name: $0.key.name, action: $0.action.rawValue, error: $0.error)
                                            }, errors: report.errors)]))
            } catch {
                throw EnvironmentSession.fail("the sync was done but could not be recorded: \(error)")
            }
        }
        if !dryRun, !noWait, report.errors.isEmpty {
            // Wait for health (until the environment's sync.timeout), reading without applying.
            let deadline = ContinuousClock.now + session.environment.sync.timeout.duration
            while report.health != .healthy, report.health != .degraded, ContinuousClock.now < deadline {
                try await Task.sleep(for: .seconds(1))
                let current = await session.reconciler.sync(revision: revision, dryRun: true)
                report.health = current.health
                for index in report.objects.indices {
                    if let now = current.objects.first(where: { $0.key == report.objects[index].key }) {
                        report.objects[index].health = now.health
                        report.objects[index].healthMessage = now.healthMessage
                    }
                }
            }
        }
        try StatusTable.show(report, output: output, sync: true, dryRun: dryRun)
    }
}

/// `baton status [PIPELINE|ENV]`: where each revision is and why, or one environment's objects.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a pipeline's stages and why a revision is not moving, or an environment's objects.",
        discussion: """
            With a pipeline (or nothing: every pipeline): per stage the revision it runs, its sync and health as \
            `baton run` last saw them, and for each revision on its way its phase, gates, approvals, hold or \
            blocking window. With an environment: each object's sync state and health, read from the cluster now; \
            exits 0 when it is synced and Healthy, 1 otherwise. 2 for bad usage.
            """
    )

    @Argument(help: "A pipeline or an environment (default: every pipeline).") var target: String?
    @OptionGroup var location: PipelineSession.Location
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
        let config = try PipelineSession.loadConfig(location.dir)
        if let target, config.pipeline(named: target) == nil {
            let session = try await EnvironmentSession.open(dir: location.dir, environment: target, db: location.db)
            let revision = try await session.revision(nil)
            let report = await session.reconciler.sync(revision: revision, dryRun: true)
            try StatusTable.show(report, output: output, sync: false, dryRun: false)
            return
        }
        var views: [PipelineStatusView] = []
        for pipeline in config.pipelines where target == nil || pipeline.name == target {
            let session = try PipelineSession.open(location, pipeline: pipeline.name)
            let machine = try session.machine()
            let refs = try? await EnvironmentRefs.open(pipeline, cacheRoot: config.directory + "/.baton/cache")
            views.append(await PipelineStatusView.build(session, machine: machine, refs: refs, now: Date()))
        }
        switch output {
        case .json: Terminal.out(try Terminal.json(target == nil ? AnyEncodable(views) : AnyEncodable(views.first)))
        case .text: Terminal.out(views.map { $0.text() }.joined(separator: "\n\n"))
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}
