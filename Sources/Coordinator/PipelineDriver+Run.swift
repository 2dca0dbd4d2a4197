import AuditStore
import BatonCore
import Foundation
import GitStore
import Logging
import Reconciler

extension PipelineDriver {
    /// Runs the pipeline until the task is cancelled: a reconcile loop per environment (its
    /// passes fed in as reports, woken when the driver moves its ref) and time (`coordinate`).
    /// The source branch and the refs come from a `RefPoller` through `observe`.
    public func run<C: Clock>(reconcilers: [Reconciler], tick: Duration, clock: C) async where C.Duration == Duration {
        await withTaskGroup(of: Void.self) { group in
            for reconciler in reconcilers {
                let name = reconciler.environment.name
                let wakeup = wakeup(for: name)
                group.addTask {
                    // The revision to run is the one the pipeline recorded there, never one a ref
                    // moved outside Baton points at.
                    let loop = ReconcileLoop(reconciler: reconciler, store: self.refs.store, refPoll: .seconds(30),
                                             target: { await self.recordedRevision(name) })
                    await loop.run(clock: clock, wakeup: wakeup) { report in
                        // Stopping cancels passes under way; what they saw half-done is not recorded.
                        guard !Task.isCancelled else { return }
                        await self.report(report)
                    }
                }
            }
            group.addTask { await self.coordinate(tick: tick, clock: clock) }
        }
        stopGates()
    }

    /// The revision the machine has deployed in `environment` (nil before its first).
    public func recordedRevision(_ environment: String) -> String? {
        machine.stages.first { $0.environment == environment }?.deployed
    }

    public func run(reconcilers: [Reconciler], tick: Duration) async {
        await run(reconcilers: reconcilers, tick: tick, clock: ContinuousClock())
    }

    /// Time: after `recover`, while a revision is on its way somewhere (waiting for a deploy
    /// window, promoting, syncing, soaking) time is fed in every `tick` and moves that could not
    /// be made are tried again; a pipeline at rest waits for its next input instead, costing
    /// nothing. The repository is looked at by a `RefPoller`, shared by the pipelines on it.
    func coordinate<C: Clock>(tick: Duration, clock: C) async where C.Duration == Duration {
        await inChildTask { await self.recover() }
        while !Task.isCancelled {
            if machine.needsTime {
                await inChildTask { await self.feed(.tick) }
                await inChildTask { await self.retryMoves() }
                try? await clock.sleep(for: tick)
            } else {
                await changed.wait(upTo: .seconds(600), on: clock)
            }
        }
    }

    /// A reconciler pass: the machine hears it; what the sync changed is recorded with it.
    func report(_ report: StatusReport) async {
        var extra: [EventDraft] = []
        let changed = report.objects.filter { $0.action != .unchanged }
        if report.applied, !changed.isEmpty || !report.errors.isEmpty {
            let objects = changed.map {
                SyncedObject(kind: $0.key.kind, group: $0.key.group, namespace: $0.key.namespace, name: $0.key.name,
                             action: $0.action.rawValue, error: $0.error)
            }
            let details: JSONValue = ["objects": .array(changed.map { .string("\($0.action.rawValue) \($0.key)") }),
                                      "errors": .array(report.errors.map(JSONValue.string)), "health": .string(report.health.rawValue)]
            extra.append(EventDraft(kind: "sync", actor: actor, pipeline: pipeline.name, environment: report.environment,
                                    revision: report.revision, details: details, records: [.syncResult(objects: objects, errors: report.errors)]))
        }
        await feed(.report(report), extra: extra)
    }

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

/// Hands the decisions written to the inbox to the drivers of their pipelines. It looks at the
/// newest inbox id every `interval` (one small query for every pipeline of the process); a
/// decision for a pipeline this process does not drive is refused, so its command does not
/// wait for nothing.
public struct InboxDispatcher: Sendable {
    public let audit: AuditStore
    public let drivers: [String: PipelineDriver]

    public init(audit: AuditStore, drivers: [PipelineDriver]) {
        self.audit = audit
        self.drivers = Dictionary(drivers.map { ($0.pipeline.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func run<C: Clock>(every interval: Duration, clock: C, logger: Logger) async where C.Duration == Duration {
        var seen: Int64 = 0
        var problem: String?
        while !Task.isCancelled {
            do {
                let last = try audit.lastInboxID()
                if last > seen {
                    for (pipeline, items) in Dictionary(grouping: try audit.waitingInbox(), by: \.pipeline) {
                        if let driver = drivers[pipeline] {
                            await driver.handle(items)
                        } else {
                            for item in items {
                                let reason = "this baton run drives no pipeline \(pipeline)"
                                try audit.handle(inbox: [item.id: .refused(reason)],
                                                 events: [EventDraft(kind: "decision-refused", actor: item.actor, pipeline: pipeline,
                                                                     details: ["reason": .string(reason)])])
                            }
                        }
                    }
                    // Items a driver could not handle (its save failed) are looked at again.
                    if try audit.waitingInbox().isEmpty { seen = last }
                }
                problem = nil
            } catch {
                if "\(error)" != problem {
                    problem = "\(error)"
                    logger.warning("cannot read the inbox: \(error)")
                }
            }
            try? await clock.sleep(for: interval)
        }
    }
}
