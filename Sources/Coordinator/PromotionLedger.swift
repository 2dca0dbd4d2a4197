import AuditStore
import BatonCore
import Foundation

/// A pipeline's promotion machine kept in the audit database: every change loads the machine,
/// applies one input, appends the events it produced and saves it, all in one transaction
/// that holds the write lock. `baton run` and CLI commands (an approval, a rollback) can
/// therefore change the same pipeline at the same moment without losing either change, and
/// a process killed at any instant leaves the machine and the log consistent with each other.
public struct PromotionLedger: Sendable {
    public let pipeline: PipelineConfig
    public let syncTimeouts: [String: Duration]
    public let audit: AuditStore

    public init(pipeline: PipelineConfig, environments: [EnvironmentConfig], audit: AuditStore) {
        self.pipeline = pipeline
        self.audit = audit
        var timeouts: [String: Duration] = [:]
        for environment in environments where pipeline.chain.contains(environment.name) {
            timeouts[environment.name] = environment.sync.timeout.duration
        }
        syncTimeouts = timeouts
    }

    var key: String { "pipeline:" + pipeline.name }

    /// The machine as last saved.
    public func load() throws -> PromotionMachine {
        try machine(from: try audit.state(key))
    }

    /// A saved state that cannot be read is an error, never an empty machine: starting over
    /// would forget holds, approvals and ref moves under way.
    private func machine(from data: Data?) throws -> PromotionMachine {
        var snapshot: PromotionSnapshot?
        if let data {
            do {
                snapshot = try JSONDecoder.ledger.decode(PromotionSnapshot.self, from: data)
            } catch {
                throw AuditError(path: audit.path, message: "the saved state of pipeline \(pipeline.name) cannot be read (\(error)); "
                    + "nothing was changed")
            }
        }
        return PromotionMachine(pipeline: pipeline, syncTimeouts: syncTimeouts, snapshot: snapshot)
    }

    /// Applies `input` to the saved machine as `actor` and records what it produced, plus
    /// `extra` events; returns the machine after it and the events written. An error thrown
    /// by `input` (a `Refusal`) changes nothing.
    @discardableResult
    public func update(actor: String, now: Date = Date(), extra: [EventDraft] = [],
                       _ input: (inout PromotionMachine) throws -> [PromotionEffect]) throws -> (machine: PromotionMachine, events: [AuditEvent]) {
        var result: PromotionMachine?
        let events = try audit.update(state: key, at: now) { data in
            var machine = try machine(from: data)
            let effects = try input(&machine)
            let encoded = try JSONEncoder.ledger.encode(machine.snapshot)
            if encoded != data { data = encoded }
            result = machine
            return extra + effects.compactMap { drafts(for: $0, actor: actor) }
        }
        return (result!, events)
    }

    private func drafts(for effect: PromotionEffect, actor: String) -> EventDraft? {
        guard case .record(let kind, let stage, let revision, let details, let records) = effect else { return nil }
        return EventDraft(kind: kind, actor: actor, pipeline: pipeline.name, environment: stage.map { pipeline.stages[$0].environment },
                          revision: revision, details: details, records: records)
    }
}

extension JSONEncoder {
    static var ledger: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }
}

extension JSONDecoder {
    static var ledger: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }
}
