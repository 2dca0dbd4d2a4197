import ArgumentParser
import BatonCore
import Foundation
import Gates
import HTTP

/// `baton gates check PIPELINE ENV`: a stage's gates evaluated now, promoting nothing.
struct GatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gates",
        abstract: "Try a stage's gates.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Evaluate a stage's gates now and print each result with its evidence; promotes nothing.",
            discussion: """
                health: the environment synced at the revision and Healthy now, read from its cluster (the soak itself \
                is measured by baton run); http and prometheus: evaluated as baton run does, attempts and measurements \
                included (a prometheus gate takes count × interval); windows: whether a revision may enter now, and \
                until when it may not. Exits 0 when every gate passes, 1 when one fails, 2 for bad usage.
                """
        )

        @Argument(help: "The pipeline.") var pipeline: String
        @Argument(help: "The stage's environment.") var environment: String
        @Option(help: "The revision (default: what the environment's ref points at).") var revision: String?
        @Option(help: "text or json.") var output: OutputFormat = .text
        @OptionGroup var location: PipelineSession.Location

        func run() async throws {
            let session = try PipelineSession.open(location, pipeline: pipeline)
            let stageIndex = try session.stage(environment)
            let stage = session.pipeline.stages[stageIndex]
            var outcomes: [GateOutcome] = []
            let text = output == .text
            if text { Terminal.out("gates of \(pipeline)/\(environment):") }

            for gate in stage.gates {
                if case .health(let health) = gate {
                    let outcome = try await healthNow(soak: health.soak)
                    outcomes.append(outcome)
                    if text { show(outcome) }
                }
            }
            let client = HTTPClient()
            defer { client.shutdown() }
            for gate in stage.gates {
                let outcome: GateOutcome
                switch gate {
                case .health:
                    continue
                case .http(let check):
                    if text { Terminal.out("http: \(check.method) \(HTTPError.redacted(check.url)) (up to \(check.attempts) attempts)…") }
                    outcome = await HTTPCheck(check, client: client).evaluate()
                case .prometheus(let query):
                    if text { Terminal.out("prometheus: \(query.count) measurements \(query.interval) apart…") }
                    outcome = await PrometheusAnalysis(query, client: client).evaluate(progress: { measurement, number in
                        guard text else { return }
                        let value = measurement.value.map { PrometheusAnalysis.format($0) } ?? "-"
                        Terminal.out("  measurement \(number) of \(query.count) at \(measurement.time.formatted(.iso8601)): \(value) "
                            + (measurement.passed ? "(passed)" : measurement.unknown ? "(not measured: \(measurement.problem ?? ""))"
                                : "(failed: \(measurement.problem ?? ""))"))
                    })
                }
                outcomes.append(outcome)
                if text { show(outcome) }
            }
            if !stage.windows.isEmpty {
                let outcome = windows(stage, now: Date())
                outcomes.append(outcome)
                if text { show(outcome) }
            }
            if output == .json { Terminal.out(try Terminal.json(outcomes)) }
            if text, outcomes.isEmpty { Terminal.out("(this stage has no gates)") }
            if outcomes.contains(where: { !$0.passed }) { throw ExitCode(1) }
        }

        func show(_ outcome: GateOutcome) {
            Terminal.out("\(outcome.gate): \(outcome.passed ? "passed" : outcome.verdict == .unknown ? "UNKNOWN" : "FAILED"): \(outcome.summary)")
            Terminal.out("  evidence: " + String(decoding: outcome.evidence.encoded(), as: UTF8.self))
        }

        /// The environment read from its cluster now, at the revision asked about.
        func healthNow(soak: TimeSpan) async throws -> GateOutcome {
            let session = try await EnvironmentSession.open(dir: location.dir, environment: environment, db: location.db)
            let wanted = try await session.revision(revision)
            let report = await session.reconciler.sync(revision: wanted, dryRun: true)
            let deployed = try? await session.store.resolve(session.environment.fullRef).hex
            var problems: [String] = []
            if deployed != wanted { problems.append("\(environment) runs \(deployed.map { String($0.prefix(8)) } ?? "nothing"), not \(wanted.prefix(8))") }
            if !report.synced { problems.append("OutOfSync") }
            if report.health != .healthy { problems.append(report.health.rawValue) }
            problems += report.errors
            let evidence: JSONValue = ["revision": .string(wanted), "synced": .bool(report.synced), "health": .string(report.health.rawValue),
                                       "objects": .array(report.objects.filter { $0.health != .healthy }.map {
                                           .string("\($0.key): \($0.health.rawValue) \($0.healthMessage)")
                                       })]
            let state = "\(report.synced ? "Synced" : "OutOfSync"), \(report.health.rawValue) at \(wanted.prefix(8))"
            return GateOutcome(gate: "health", passed: problems.isEmpty,
                               summary: problems.isEmpty ? "\(state) now (the \(soak) soak is measured by baton run)"
                                   : "\(state): " + problems.joined(separator: "; "),
                               evidence: evidence)
        }

        func windows(_ stage: Stage, now: Date) -> GateOutcome {
            guard let window = stage.blockingWindow(at: now) else {
                return GateOutcome(gate: "window", passed: true, summary: "open now: a revision may enter \(environment)",
                                   evidence: ["now": .string(now.formatted(.iso8601))])
            }
            let opens = stage.windowOpens(after: now)
            let until = opens.map { "until \($0.formatted(.iso8601))" } ?? "for at least the next 8 days"
            return GateOutcome(gate: "window", passed: false,
                               summary: "closed: the \(window.effect.rawValue) window \(window) blocks entering \(environment) \(until)",
                               evidence: ["now": .string(now.formatted(.iso8601)), "opens": opens.map { .string($0.formatted(.iso8601)) } ?? .null])
        }
    }
}
