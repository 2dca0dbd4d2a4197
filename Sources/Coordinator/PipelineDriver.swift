import AuditStore
import BatonCore
import Foundation
import Gates
import GitStore
import Logging
import Signatures

/// What a pipeline's driver feeds its promotion machine.
public enum DriverInput: Sendable {
    /// The head of the source branch.
    case commit(String)
    /// A reconciler pass of one of the pipeline's environments.
    case report(StatusReport)
    case gatesEvaluated(stage: Int, revision: String, outcomes: [GateOutcome])
    case refMoved(stage: Int, revision: String, authors: [String])
    case refMoveFailed(stage: Int, revision: String, reason: String)
    /// Time passing.
    case tick
}

/// Drives one pipeline's promotion machine (DESIGN.md §2): it keeps the machine in memory,
/// feeds it one input at a time, saves the new state with the events it produced in one
/// transaction, and then carries out every effect it was given: moves refs (compare-and-swap),
/// wakes the environment's reconcile loop, starts gate evaluations whose verdicts come back as
/// inputs. Decisions from CLI commands arrive through the database inbox. Only `recover`, on
/// start, looks for work in the saved state (intents saved whose effects may not have been
/// carried out); nothing else reads it back.
///
/// One writer at a time: `baton run` holds the run lock while it drives, and a CLI command
/// drives only while it holds that lock. The save is a compare-and-swap on the stored state,
/// so a writer that breaks the rule is detected (the state is read again) rather than lost.
public actor PipelineDriver {
    public nonisolated let pipeline: PipelineConfig
    let ledger: PromotionLedger
    let refs: EnvironmentRefs
    let environments: [String: EnvironmentConfig]
    /// Evaluates HTTP and Prometheus gates; nil in a CLI command (`baton run` evaluates them).
    let gates: GateRunner?
    /// Transitions at `info` (one line each, metadata: pipeline, environment, revision, event),
    /// problems at `warning`.
    let logger: Logger
    let now: @Sendable () -> Date
    /// Who the driver's own inputs are recorded as.
    let actor = "baton"
    /// Per environment whose approvals are signed, the approvers' keys from the coordinator's
    /// configuration.
    let trust: [String: TrustedApprovers]
    /// Per environment whose stage requires signed commits: who may sign them.
    let commitSigners: [String: CommitSigners]

    private(set) var machine: PromotionMachine
    /// The state as last saved (what the next save expects to replace).
    private var saved: Data?
    /// Per environment, what wakes its reconcile loop.
    var wakeups: [String: Wakeup] = [:]
    /// Stages whose ref move is under way.
    var moving: Set<Int> = []
    /// Per environment, the foreign revision whose move outside Baton was recorded and not yet
    /// undone (recorded once, however many attempts the move back takes).
    var setBackRecorded: [String: String] = [:]
    /// Per environment, the unsigned revision its ref was last found at (logged once).
    var unsignedRefSeen: [String: String] = [:]
    /// Counts the starts and ends of ref moves: a read of the refs made under another count
    /// may predate one of Baton's own moves.
    public internal(set) var moveEpoch = 0
    /// The refs the driver follows: the source branch and each environment's ref.
    public nonisolated let watchedRefs: [String]
    /// The last head passed over because it changes nothing under `repo.paths`.
    var passedOver: String?
    /// Signalled whenever the machine changes: an idle driver waits on it instead of ticking.
    let changed = Wakeup()
    /// Gate evaluations under way, by stage and revision.
    var evaluations: [String: Task<Void, Never>] = [:]
    /// Counts, for the benchmark: write transactions and state reads.
    public private(set) var transactions = 0
    public private(set) var stateReads = 0

    public init(ledger: PromotionLedger, refs: EnvironmentRefs, environments: [EnvironmentConfig], gates: GateRunner?,
                trust: [String: TrustedApprovers] = [:], commitSigners: [String: CommitSigners] = [:],
                now: @escaping @Sendable () -> Date = { Date() }, logger: Logger) throws {
        pipeline = ledger.pipeline
        self.trust = trust
        self.commitSigners = commitSigners
        self.ledger = ledger
        self.refs = refs
        var byName: [String: EnvironmentConfig] = [:]
        for environment in environments where ledger.pipeline.chain.contains(environment.name) { byName[environment.name] = environment }
        self.environments = byName
        watchedRefs = [GitStore.fullRefName(ledger.pipeline.repo.branch)] + ledger.pipeline.chain.compactMap { byName[$0]?.fullRef }
        self.gates = gates
        self.now = now
        var logger = logger
        logger[metadataKey: "pipeline"] = .string(ledger.pipeline.name)
        self.logger = logger
        (machine, saved) = try ledger.loadSaved()
        stateReads = 1
    }

    /// What wakes `environment`'s reconcile loop when its ref moves.
    public func wakeup(for environment: String) -> Wakeup {
        if let wakeup = wakeups[environment] { return wakeup }
        let wakeup = Wakeup()
        wakeups[environment] = wakeup
        return wakeup
    }

    // MARK: Inputs

    /// Feeds one input, saves what it produced and carries out its effects.
    public func feed(_ input: DriverInput, extra: [EventDraft] = []) async {
        var next = machine
        let time = now()
        let effects: [PromotionEffect]
        var quiet = false
        switch input {
        case .commit(let head):
            guard head != machine.head else { return }
            effects = next.commit(head, now: time)
        case .report(let report):
            guard let stage = pipeline.chain.firstIndex(of: report.environment) else { return }
            let before = machine.stages[stage].lastReport
            effects = next.report(stage: stage, report, now: time)
            // A pass that changed nothing but the time of the last report is kept in memory, not
            // written (a quiet cluster costs no write per pass).
            if let before {
                var probe = next.snapshot
                probe.stages[stage].lastReport?.at = before.at
                quiet = probe == machine.snapshot
            }
        case .gatesEvaluated(let stage, let revision, let outcomes):
            effects = next.gatesEvaluated(stage: stage, revision: revision, outcomes: outcomes, now: time)
        case .refMoved(let stage, let revision, let authors):
            effects = next.refMoved(stage: stage, revision: revision, authors: authors, now: time)
        case .refMoveFailed(let stage, let revision, let reason):
            effects = next.refMoveFailed(stage: stage, revision: revision, reason: reason, now: time)
        case .tick:
            effects = next.tick(now: time)
        }
        await commit(next, effects: effects, extra: extra, quiet: quiet, at: time)
    }

    /// Applies decisions from the inbox, oldest first: each is accepted (its effects saved and
    /// carried out) or refused (the refusal recorded), and marked handled in the same
    /// transaction. Items of other pipelines are left alone.
    public func handle(_ items: [InboxItem]) async {
        for item in items where item.pipeline == pipeline.name {
            let time = now()
            let request: InboxRequest
            do {
                request = try InboxRequest.decode(item.body)
            } catch {
                refuse(item, reason: "the decision cannot be read (\(error)); written by a newer Baton?", environment: nil, revision: nil,
                       details: [:], at: time)
                continue
            }
            var decision = request.decision
            var actor = item.actor
            // Once a signature has verified, its statement is used up whatever becomes of the
            // decision (kept with the refusal too), so a refused statement cannot come back later.
            var extra: [EventDraft] = []
            let (signed, signers) = pipeline.signers(for: decision.environment)
            if signed {
                switch await verifySigned(request, environments: signers, at: time) {
                case .success(let verified):
                    (decision, actor, extra) = verified
                case .failure(let refusal):
                    refuse(item, reason: refusal.message, environment: decision.environment, revision: decision.revision,
                           details: decision.refusalDetails.merging(Self.evidence(request)) { $1 }, kind: decision.attempt,
                           actor: refusal.used?.actor ?? "unverified: " + item.actor, extra: refusal.used.map { [$0] } ?? [], at: time)
                    continue
                }
            }
            if case .promote(let environment, let revision, _, let force, let reason) = decision,
               let stage = pipeline.chain.firstIndex(of: environment) {
                // Whether it was verified before is the audit log's answer, not the command's.
                decision = .promote(environment: environment, revision: revision, verifiedBefore: verifiedBefore(stage: stage, revision: revision),
                                    force: force, reason: reason)
            }
            if case .rollback(let environment, let revision, _, let breakGlass) = decision, breakGlass != true {
                // Only back to what the environment ran and verified, unless the glass is broken.
                if !wasVerified(revision, in: environment) {
                    refuse(item, reason: "\(revision.prefix(8)) never ran verified in \(environment); a rollback goes back to what it ran "
                           + "(or, in an emergency, --break-glass with --reason, flagged in status and history)",
                           environment: environment, revision: revision, details: decision.refusalDetails, kind: decision.attempt,
                           actor: actor, extra: extra, at: time)
                    continue
                }
            }
            var next = machine
            do {
                let effects = try decision.apply(to: &next, actor: actor, now: time)
                await commit(next, effects: effects, extra: extra, handled: [item.id: .accepted], actor: actor, at: time)
            } catch {
                refuse(item, reason: error.message, environment: decision.environment, revision: decision.revision,
                       details: decision.refusalDetails.merging(Self.evidence(request)) { $1 }, kind: decision.attempt,
                       actor: actor, extra: extra, at: time)
            }
        }
    }

    /// Records a refused decision (who tried what, and why not) and marks it handled.
    /// `actor`: who it is recorded as (the claimed identity when nothing proved it, marked so);
    /// `extra`: events saved with it (a statement used up).
    private func refuse(_ item: InboxItem, reason: String, environment: String?, revision: String?, details: [String: JSONValue],
                        kind: String = "decision", actor: String? = nil, extra: [EventDraft] = [], at time: Date) {
        var details = details
        details["reason"] = .string(reason)
        let draft = EventDraft(kind: kind + "-refused", actor: actor ?? item.actor, pipeline: pipeline.name, environment: environment,
                               revision: revision, details: .object(details))
        do {
            let events = try save(machine, drafts: extra + [draft], handled: [item.id: .refused(reason)], at: time)
            logTransitions(events)
        } catch {
            logger.warning("cannot record the refusal of inbox item \(item.id): \(error)")
        }
    }

    /// Saves `next` and what it produced, adopts it, logs the events and carries out the
    /// effects. Nothing changed and nothing to record: nothing is written. A quiet change (a
    /// report's time) is adopted without a write; the next save carries it.
    private func commit(_ next: PromotionMachine, effects: [PromotionEffect], extra: [EventDraft], quiet: Bool = false,
                        handled: [Int64: InboxOutcome] = [:], actor: String? = nil, at time: Date) async {
        let drafts = extra + effects.compactMap { ledger.draft(for: $0, actor: actor ?? self.actor) }
        if drafts.isEmpty, handled.isEmpty, quiet || next.snapshot == machine.snapshot {
            machine = next
            return
        }
        defer { changed.signal() }
        do {
            let events = try save(next, drafts: drafts, handled: handled, at: time)
            logTransitions(events)
        } catch {
            logger.warning("cannot save the promotion state, the input is dropped and will come again: \(error)")
            return
        }
        await carryOut(effects)
    }

    func logTransitions(_ events: [AuditEvent]) {
        for event in events {
            var metadata: Logger.Metadata = ["event": .string(event.kind)]
            if let environment = event.environment { metadata["environment"] = .string(environment) }
            if let revision = event.revision { metadata["revision"] = .string(revision) }
            logger.info("\(Self.line(event))", metadata: metadata)
        }
    }

    /// One write transaction: the state (compare-and-swap against the last save), the events
    /// and the inbox items handled. On a conflict the saved state is read again, and the
    /// caller's input is dropped (it comes again: heads and reports are fed again, ticks keep
    /// coming, decisions stay in the inbox).
    func save(_ next: PromotionMachine, drafts: [EventDraft], handled: [Int64: InboxOutcome], at time: Date) throws -> [AuditEvent] {
        let encoded = try JSONEncoder.ledger.encode(next.snapshot)
        do {
            transactions += 1
            let events = try ledger.audit.save(state: ledger.key, replacing: saved, with: encoded, events: drafts, handled: handled, at: time)
            saved = encoded
            machine = next
            return events
        } catch is StateConflict {
            (machine, saved) = try ledger.loadSaved()
            stateReads += 1
            throw DriverError(message: "another process changed the saved state of \(pipeline.name); read it again")
        }
    }
}

/// Why the driver could not do what it was asked.
public struct DriverError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
