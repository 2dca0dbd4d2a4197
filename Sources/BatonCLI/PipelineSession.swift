import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the promotion commands share: the configuration, one pipeline, the audit database
/// and the pipeline's saved promotion machine.
struct PipelineSession {
    let config: BatonConfig
    let pipeline: PipelineConfig
    let audit: AuditStore
    let ledger: PromotionLedger

    /// `--dir` and `--db`, as every promotion command takes them.
    struct Location: ParsableArguments {
        @Option(name: .long, help: "The folder holding Environments/ and Pipelines/.")
        var dir: String = "."

        @Option(name: .long, help: "The audit database (DIR/.baton/baton.db by default).")
        var db: String?

        func path(_ config: BatonConfig) -> String { db ?? config.directory + "/.baton/baton.db" }
    }

    static func loadConfig(_ dir: String) throws -> BatonConfig {
        do {
            return try ConfigLoader().load(directory: dir)
        } catch {
            for issue in error.issues { Terminal.error(issue.description) }
            Terminal.error("baton: the configuration in \(dir) is invalid")
            throw ExitCode(2)
        }
    }

    static func openAudit(_ path: String) throws -> AuditStore {
        do {
            return try AuditStore(path: path)
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
    }

    static func open(_ location: Location, pipeline name: String) throws -> PipelineSession {
        let config = try loadConfig(location.dir)
        guard let pipeline = config.pipeline(named: name) else {
            let known = config.pipelines.map(\.name).joined(separator: ", ")
            Terminal.error("baton: no pipeline \"\(name)\" in \(location.dir)/Pipelines (pipelines: \(known.isEmpty ? "none" : known))")
            throw ExitCode(2)
        }
        return try open(config, pipeline, location)
    }

    /// The session for the pipeline that has `environment` among its stages.
    static func open(_ location: Location, environment name: String) throws -> (PipelineSession, Int) {
        let config = try loadConfig(location.dir)
        guard config.environment(named: name) != nil else {
            let known = config.environments.map(\.name).joined(separator: ", ")
            Terminal.error("baton: no environment \"\(name)\" in \(location.dir)/Environments (environments: \(known.isEmpty ? "none" : known))")
            throw ExitCode(2)
        }
        guard let pipeline = config.pipeline(containing: name), let stage = pipeline.chain.firstIndex(of: name) else {
            Terminal.error("baton: environment \(name) is in no pipeline")
            throw ExitCode(2)
        }
        return (try open(config, pipeline, location), stage)
    }

    private static func open(_ config: BatonConfig, _ pipeline: PipelineConfig, _ location: Location) throws -> PipelineSession {
        let audit = try openAudit(location.path(config))
        return PipelineSession(config: config, pipeline: pipeline, audit: audit,
                               ledger: PromotionLedger(pipeline: pipeline, environments: config.environments, audit: audit))
    }

    /// The stage of `environment` in this pipeline; exit 2 when it has none.
    func stage(_ environment: String) throws -> Int {
        guard let stage = pipeline.chain.firstIndex(of: environment) else {
            Terminal.error("baton: pipeline \(pipeline.name) has no stage \(environment) (stages: \(pipeline.chain.joined(separator: ", ")))")
            throw ExitCode(2)
        }
        return stage
    }

    func machine() throws -> PromotionMachine {
        do {
            return try ledger.load()
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
    }

    /// The pipeline's repository (a mirror for a remote one, fetched now).
    func refs() async throws -> EnvironmentRefs {
        do {
            return try await EnvironmentRefs.open(pipeline, cacheRoot: config.directory + "/.baton/cache")
        } catch {
            throw EnvironmentSession.fail("cannot read the repository of pipeline \(pipeline.name) (\(pipeline.repo.url)): \(error)")
        }
    }

    /// `revision` as a full commit id; exit 1 when the repository does not have it.
    func resolve(_ revision: String, in refs: EnvironmentRefs) async throws -> String {
        do {
            return try await refs.store.resolve(revision).hex
        } catch {
            throw EnvironmentSession.fail("no revision \(revision) in \(pipeline.repo.url): \(error)")
        }
    }

    /// Carries out the ref moves a command decided. When `baton run` is running on this
    /// database (it holds the run lock), it is the only process that moves refs: the command
    /// waits until it has (so two processes never race to move the same ref); otherwise the
    /// command moves them itself, holding the run lock meanwhile.
    func settle(_ refs: EnvironmentRefs, actor: String, timeout: Duration = .seconds(60)) async throws {
        let lockPath = audit.path + ".run.lock"
        let fd = Glibc.open(lockPath, O_CREAT | O_RDWR, 0o644)
        if fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 {
            defer { close(fd) }
            try await Promoter(ledger: ledger, refs: refs, environments: config.environments).settle(actor: actor)
            return
        }
        if fd >= 0 { close(fd) }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try ledger.load().stages.allSatisfy({ $0.candidate?.phase != .promoting }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Terminal.error("baton: baton run has not moved the ref yet; it will (see baton status \(pipeline.name))")
    }

    /// Applies a CLI input as `actor`; a refusal is recorded in the audit log (who tried what,
    /// and why it was refused), printed, and exits 1.
    @discardableResult
    func update(actor: String, attempt kind: String, environment: String?, revision: String?, details: [String: JSONValue] = [:],
                _ input: (inout PromotionMachine) throws -> [PromotionEffect]) throws -> (machine: PromotionMachine, events: [AuditEvent]) {
        do {
            return try ledger.update(actor: actor, input)
        } catch let refusal as Refusal {
            var details = details
            details["reason"] = .string(refusal.message)
            _ = try? audit.append(EventDraft(kind: kind + "-refused", actor: actor, pipeline: pipeline.name, environment: environment,
                                             revision: revision, details: .object(details)))
            throw EnvironmentSession.fail("refused: \(refusal.message)")
        } catch let error as ExitCode {
            throw error
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
    }
}
