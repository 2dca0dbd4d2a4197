import AuditStore
import BatonCore
import Foundation

/// Where a pipeline's promotion machine is kept: a state blob in the audit database, saved by
/// the pipeline's driver together with the events each input produced (one transaction), so a
/// process killed at any instant leaves the machine and the log consistent with each other.
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

    /// The machine as last saved, and the saved bytes (what a compare-and-swap save expects).
    func loadSaved() throws -> (PromotionMachine, Data?) {
        let data = try audit.state(key)
        return (try machine(from: data), data)
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

    /// The audit event a `record` effect asks for, as `actor`.
    func draft(for effect: PromotionEffect, actor: String) -> EventDraft? {
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
