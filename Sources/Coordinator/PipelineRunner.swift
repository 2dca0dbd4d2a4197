import AuditStore
import BatonCore
import Foundation
import Gates
import GitStore
import Reconciler
import Synchronization

/// Carries out what a pipeline's promotion machine decided: moves environment refs
/// (compare-and-swap, after the intent is saved), and feeds back what happened. Used by
/// `baton run` and by CLI commands that move a ref themselves (`baton rollback`).
public struct Promoter: Sendable {
    public let ledger: PromotionLedger
    public let refs: EnvironmentRefs
    public let environments: [String: EnvironmentConfig]

    public init(ledger: PromotionLedger, refs: EnvironmentRefs, environments: [EnvironmentConfig]) {
        self.ledger = ledger
        self.refs = refs
        var byName: [String: EnvironmentConfig] = [:]
        for environment in environments where ledger.pipeline.chain.contains(environment.name) { byName[environment.name] = environment }
        self.environments = byName
    }

    /// Reconciles the saved intents with the refs: a stage whose candidate is `promoting` gets
    /// its ref moved (or found already moved, after a crash); a ref moved outside Baton is
    /// taken as the stage's revision. Idempotent: running it twice, or from two processes at
    /// once, moves each ref once. Returns the events written.
    @discardableResult
    public func settle(actor: String) async throws -> [AuditEvent] {
        var events: [AuditEvent] = []
        var transient: (any Error)?
        for index in ledger.pipeline.stages.indices {
            // The state as it is now, not as it was when the pass began: another process (an
            // approval, a rollback) may have changed this stage meanwhile.
            let stage = try ledger.load().stages[index]
            guard let environment = environments[stage.environment] else { continue }
            let ref = environment.fullRef
            let current: String?
            do {
                current = try await refs.current(ref)
            } catch {
                transient = error
                continue // unreadable now; the next pass tries again
            }
            if let candidate = stage.candidate, candidate.phase == .promoting {
                let revision = candidate.revision
                if current != revision {
                    guard current == candidate.from else {
                        let reason = "\(environment.ref) was moved outside Baton to \(current.map { String($0.prefix(8)) } ?? "nothing"), "
                            + "not \(candidate.from.map { String($0.prefix(8)) } ?? "absent") as expected"
                        events += try ledger.update(actor: actor) { $0.refMoveFailed(stage: index, revision: revision, reason: reason, now: Date()) }.events
                        continue
                    }
                    do {
                        try await refs.move(ref, from: candidate.from, to: revision, anywhere: candidate.kind == "rollback",
                                            reason: "baton: \(candidate.kind) promotion of \(ledger.pipeline.name) to \(environment.name)")
                    } catch let error as GitStoreError where [.notFastForward, .refMoved, .pushRejected, .notFound, .invalidInput].contains(error.code) {
                        let reason = "cannot move \(environment.ref) to \(revision.prefix(8)): \(error)"
                        events += try ledger.update(actor: actor) { $0.refMoveFailed(stage: index, revision: revision, reason: reason, now: Date()) }.events
                        continue
                    } catch {
                        // The network, a lock, a remote that did not answer: the intent stays and
                        // the next pass tries again.
                        transient = error
                        continue
                    }
                }
                let authors = await refs.authors(from: candidate.from, to: revision)
                events += try ledger.update(actor: actor) { $0.refMoved(stage: index, revision: revision, authors: authors, now: Date()) }.events
            } else if let current, current != stage.deployed {
                let authors = await refs.authors(from: stage.deployed, to: current)
                events += try ledger.update(actor: actor) { $0.refMoved(stage: index, revision: current, authors: authors, now: Date()) }.events
            }
        }
        if let transient { throw SettleError(message: "a ref could not be read or moved; will try again: \(transient)") }
        return events
    }
}

/// A ref move that failed for a reason that may pass (the intent is kept).
public struct SettleError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// One pipeline in `baton run`: polls the source branch, runs a reconciler per environment,
/// feeds commits, reports and time to the promotion machine, moves refs, and logs one line
/// per transition. Runs until its task is cancelled.
public struct PipelineRunner: Sendable {
    public let promoter: Promoter
    public let reconcilers: [Reconciler]
    /// Evaluates HTTP and Prometheus gates.
    public let gates: GateRunner
    public let log: @Sendable (String) -> Void
    /// How often time is fed to the machine and intents are settled.
    public let tick: Duration
    /// The gate evaluations under way (stage and revision), so each runs once at a time.
    private let evaluating = InFlight()

    public init(promoter: Promoter, reconcilers: [Reconciler], gates: GateRunner, tick: Duration = .seconds(1),
                log: @escaping @Sendable (String) -> Void) {
        self.promoter = promoter
        self.reconcilers = reconcilers
        self.gates = gates
        self.tick = tick
        self.log = log
    }

    var pipeline: PipelineConfig { promoter.ledger.pipeline }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await evaluateGates() }
            for reconciler in reconcilers {
                group.addTask {
                    await ReconcileLoop(reconciler: reconciler, store: promoter.refs.store, refPoll: .milliseconds(500)).run { report in
                        await handle(report)
                    }
                }
            }
            group.addTask { await coordinate() }
        }
    }

    /// The coordinator's loop: fetch every `poll`, feed a new head, tick, settle intents.
    func coordinate() async {
        let poll = pipeline.repo.poll.duration
        var lastFetch: ContinuousClock.Instant?
        var problem: String?
        // Every transition of this pipeline is logged, whichever process made it (an approval
        // or a rollback from the CLI too): the log follows the audit log.
        var logged = (try? promoter.ledger.audit.lastSequence()) ?? 0
        // Learn where the environment refs are before feeding any commit: an existing
        // env/dev is where the first promotion moves from.
        _ = try? await promoter.settle(actor: "baton")
        while !Task.isCancelled {
            do {
                if lastFetch.map({ ContinuousClock.now - $0 >= poll }) ?? true {
                    lastFetch = .now
                    // Shared with the other pipelines on this repository: one fetch per poll.
                    try await promoter.refs.refresh(maxAge: poll)
                    let head = try await promoter.refs.store.resolve(GitStore.fullRefName(pipeline.repo.branch)).hex
                    if try promoter.ledger.load().head != head {
                        try promoter.ledger.update(actor: "baton") { $0.commit(head, now: Date()) }
                    }
                }
                try promoter.ledger.update(actor: "baton") { $0.tick(now: Date()) }
                try await promoter.settle(actor: "baton")
                problem = nil
            } catch {
                let text = "\(error)"
                if text != problem {
                    problem = text
                    log("\(Self.now()) \(pipeline.name): \(text) (retrying every \(TimeSpan(tick)))")
                }
            }
            if let events = try? promoter.ledger.audit.events(pipeline: pipeline.name, after: logged) {
                for event in events { log(Self.line(event)) }
                logged = events.last?.sequence ?? logged
            }
            try? await Task.sleep(for: tick)
        }
    }

    /// Starts the gate evaluations the machine asked for and that are not running (after a
    /// restart, the saved request starts them again), until cancelled.
    func evaluateGates() async {
        await withTaskGroup(of: Void.self) { group in
            while !Task.isCancelled {
                if let machine = try? promoter.ledger.load() {
                    for (index, stage) in machine.stages.enumerated() {
                        guard let candidate = stage.candidate, candidate.phase == .verifying, candidate.checksRequestedAt != nil,
                              candidate.checks == nil else { continue }
                        let key = "\(index) \(candidate.revision)"
                        guard evaluating.set.withLock({ $0.insert(key).inserted }) else { continue }
                        let revision = candidate.revision
                        group.addTask {
                            defer { _ = evaluating.set.withLock { $0.remove(key) } }
                            let outcomes = await gates.evaluate(pipeline.stages[index])
                            guard !Task.isCancelled else { return }
                            do {
                                try promoter.ledger.update(actor: "baton") {
                                    $0.gatesEvaluated(stage: index, revision: revision, outcomes: outcomes, now: Date())
                                }
                            } catch {
                                log("\(Self.now()) \(pipeline.name)/\(stage.environment): cannot record the gates' verdicts: \(error)")
                            }
                        }
                    }
                }
                try? await Task.sleep(for: tick)
            }
            group.cancelAll()
        }
    }

    /// A reconciler pass: the machine hears it; what the sync changed is recorded.
    func handle(_ report: StatusReport) async {
        // Stopping cancels passes under way; what they saw half-done is not recorded.
        guard !Task.isCancelled, let stage = pipeline.chain.firstIndex(of: report.environment) else { return }
        var extra: [EventDraft] = []
        let changed = report.objects.filter { $0.action != .unchanged }
        if report.applied, !changed.isEmpty || !report.errors.isEmpty {
            let objects = changed.map {
                SyncedObject(kind: $0.key.kind, group: $0.key.group, namespace: $0.key.namespace, name: $0.key.name,
                             action: $0.action.rawValue, error: $0.error)
            }
            let details: JSONValue = ["objects": .array(changed.map { .string("\($0.action.rawValue) \($0.key)") }),
                                      "errors": .array(report.errors.map(JSONValue.string)), "health": .string(report.health.rawValue)]
            extra.append(EventDraft(kind: "sync", actor: "baton", pipeline: pipeline.name, environment: report.environment,
                                    revision: report.revision, details: details, records: [.syncResult(objects: objects, errors: report.errors)]))
        }
        do {
            try promoter.ledger.update(actor: "baton", extra: extra) { $0.report(stage: stage, report, now: Date()) }
        } catch {
            log("\(Self.now()) \(pipeline.name)/\(report.environment): cannot record a reconcile pass: \(error)")
        }
    }

    static func now() -> String { Date().formatted(.iso8601) }

    /// One readable line for a transition: time, pipeline/environment, revision, what happened.
    public static func line(_ event: AuditEvent) -> String {
        var text = "\(event.time.prefix(19))Z \(event.pipeline ?? "-")"
        if let environment = event.environment { text += "/\(environment)" }
        text += " \(event.revision.map { String($0.prefix(8)) } ?? "-") \(event.kind)"
        guard let details = try? JSONValue.parse(Data(event.details.utf8)), case .object(let fields) = details else { return text }
        var notes: [String] = []
        for key in ["kind", "from", "actor", "by", "reason", "soak", "approvals", "authors", "objects", "errors", "window", "health", "gates"] {
            guard let value = fields[key] else { continue }
            if key == "gates", fields["reason"] != nil { continue } // the reason says which failed
            switch value {
            case .null: continue
            case .string(let string):
                if key == "kind", string == "auto" || event.kind != "promoting" { continue }
                if key == "actor", string == "baton" { continue }
                notes.append("\(key) \(key == "from" || key == "by" ? String(string.prefix(8)) : string)")
            case .array(let items):
                if items.isEmpty { continue }
                notes.append("\(key) " + items.compactMap(\.string).joined(separator: ", "))
            default:
                notes.append("\(key) \(String(decoding: value.encoded(), as: UTF8.self))")
            }
        }
        if let required = fields["required"]?.int, let count = fields["approvals"]?.int {
            notes.removeAll { $0.hasPrefix("approvals ") }
            notes.append("\(count) of \(required) approvals")
        }
        return notes.isEmpty ? text : text + " (" + notes.joined(separator: "; ") + ")"
    }
}

/// Keys of work under way, shared by the copies of a runner.
final class InFlight: Sendable {
    let set = Mutex<Set<String>>([])
}
