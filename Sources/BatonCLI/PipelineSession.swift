import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
import Signatures
import Logging
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
    /// What approve, reject and promote start from: the pipeline, the index of `environment`
    /// in it, the promotion state, the repository, and who is deciding.
    static func decision(_ location: Location, pipeline name: String, environment: String) async throws
        -> (session: PipelineSession, stage: Int, machine: PromotionMachine, refs: EnvironmentRefs, actor: String) {
        let session = try open(location, pipeline: name)
        let stage = try session.stage(environment)
        let machine = try session.machine()
        let refs = try await session.refs()
        return (session, stage, machine, refs, await Actor.current())
    }

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

    /// Hands `decision` to the pipeline's driver through the inbox and waits for what it made
    /// of it; returns the machine after it. While `baton run` runs on this database (it holds
    /// the run lock) it is the driver and moves the refs; otherwise the command drives the
    /// pipeline itself for as long as it takes, holding the lock, so two processes never move
    /// the same ref. A refusal is recorded (who tried what, and why not), printed, and exits 1.
    func decide(_ decision: Decision, actor: String, refs: EnvironmentRefs, signed: (statement: Data, signature: String)? = nil,
                timeout: Duration = .seconds(60)) async throws -> PromotionMachine {
        let id: Int64
        do {
            let request = InboxRequest(decision: decision, statement: signed?.statement, signature: signed?.signature)
            id = try audit.enqueue(pipeline: pipeline.name, actor: actor, body: request.encoded())
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
        if let lock = try? Self.takeRunLock(audit.path) {
            defer { close(lock) }
            // Deciding here means checking signatures with this folder's keys: only when they are
            // the ones baton run last started with (else the decision waits for baton run).
            let pin = TrustedApprovers.pin(for: pipeline, directory: config.directory)
            if let stored = try? audit.state(Self.trustPinKey(pipeline.name)), String(decoding: stored, as: UTF8.self) != pin {
                Terminal.error("baton: the approvers, keys or identity of pipeline \(pipeline.name) in \(config.directory) differ from those "
                    + "baton run last started with: this command does not decide with them; the \(decision.attempt) waits in the inbox "
                    + "(item \(id)) for baton run")
                throw ExitCode(1)
            }
            do {
                let driver = try PipelineDriver(ledger: ledger, refs: refs, environments: config.environments, gates: nil,
                                                trust: PipelineDriver.trust(for: pipeline, directory: config.directory),
                                                commitSigners: PipelineDriver.commitSigners(for: pipeline, directory: config.directory),
                                                logger: Logger(label: "baton") { _ in SwiftLogNoOpLogHandler() })
                await driver.recover(takingHead: false)
            } catch {
                throw EnvironmentSession.fail("\(error)")
            }
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            if let outcome = try? audit.inboxItem(id)?.outcome {
                if case .refused(let reason) = outcome { throw EnvironmentSession.fail("refused: \(reason)") }
                break
            }
            guard ContinuousClock.now < deadline else {
                Terminal.error("baton: baton run has not taken the \(decision.attempt) yet (inbox item \(id)); it will when it can")
                throw ExitCode(1)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        // The ref moves the decision asked for are carried out by the driver after it saved
        // them: wait for them, so the command reports what happened.
        while true {
            let machine = try self.machine()
            if machine.stages.allSatisfy({ $0.candidate?.phase != .promoting }) { return machine }
            guard ContinuousClock.now < deadline else {
                Terminal.error("baton: baton run has not moved the ref yet; it will (see baton status \(pipeline.name))")
                return machine
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Where `baton run` keeps the pin of who may sign a pipeline's decisions.
    static func trustPinKey(_ pipeline: String) -> String { "trust-pin/" + pipeline }

    /// Takes the run lock beside the database, or nil when another process (a `baton run`)
    /// holds it; the kernel drops it when the process dies, however it dies. Throws when the
    /// lock file cannot be opened.
    static func takeRunLock(_ databasePath: String) throws -> Int32? {
        let path = databasePath + ".run.lock"
        let fd = Glibc.open(path, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else { throw EnvironmentSession.fail("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
