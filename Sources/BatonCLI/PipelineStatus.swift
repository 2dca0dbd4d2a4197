import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation

/// What `baton status PIPELINE` shows: per stage what runs there, and for each revision on
/// its way, where it is and why it is not moving.
struct PipelineStatusView: Encodable {
    struct StageView: Encodable {
        var environment: String
        var promote: String
        var revision: String?
        var summary: String?
        var since: String?
        var sync: String?
        var health: String?
        var errors: [String]
        var candidate: CandidateView?
    }

    struct CandidateView: Encodable {
        var revision: String
        var summary: String?
        var kind: String
        var phase: String
        var since: String
        var reason: String?
        var approvals: [String]
        var approvalsRequired: Int?
        /// Who may still approve: names, or `anyone` (with exclusions in `mayNotApprove`).
        var mayApprove: [String]?
        var mayNotApprove: [String]?
        var gates: [String]
        var held: Bool
        /// The revision it superseded in this stage.
        var supersedes: String?
        /// What keeps it from entering now: a deploy window (and until when), a hold.
        var blockedBy: String?
    }

    var pipeline: String
    var repository: String
    var branch: String
    var head: String?
    var stages: [StageView]
    var holds: [String]
}

extension PipelineStatusView {
    static func build(_ session: PipelineSession, machine: PromotionMachine, refs: EnvironmentRefs?, now: Date) async -> PipelineStatusView {
        func summary(_ revision: String?) async -> String? {
            guard let revision, let refs else { return nil }
            return try? await refs.store.commit(revision).summary
        }
        var stages: [StageView] = []
        for (index, state) in machine.stages.enumerated() {
            let stage = session.pipeline.stages[index]
            let promotions = (try? session.audit.promotions(pipeline: session.pipeline.name, environment: state.environment)) ?? []
            let report = state.lastReport.flatMap { $0.revision == state.deployed ? $0 : nil }
            var view = StageView(environment: state.environment, promote: stage.promote.rawValue, revision: state.deployed,
                                 summary: await summary(state.deployed),
                                 since: promotions.last(where: { $0.revision == state.deployed })?.startedAt,
                                 sync: report.map { $0.synced ? "Synced" : "OutOfSync" }, health: report?.health.rawValue,
                                 errors: report?.errors ?? [])
            if let candidate = state.candidate, !(candidate.phase == .verified && state.deployed == candidate.revision && index + 1 < machine.stages.count
                                                    && machine.stages[index + 1].candidate?.revision == candidate.revision) {
                var gates: [String] = []
                var checkIndex = 0
                for gate in stage.gates {
                    switch gate {
                    case .health(let health):
                        gates.append(Self.health(candidate, soak: health.soak, report: state.lastReport, now: now))
                    case .http, .prometheus:
                        let outcome = candidate.checks.flatMap { checkIndex < $0.count ? $0[checkIndex] : nil }
                        checkIndex += 1
                        if let outcome {
                            gates.append("\(gate.kind): \(outcome.verdict.rawValue): \(outcome.summary)")
                        } else if let since = candidate.checksRequestedAt {
                            gates.append("\(gate.kind): being evaluated since \(since.formatted(.iso8601))")
                        } else if let since = candidate.checksUnknownSince, let retry = candidate.checksRetryAt, candidate.phase == .verifying {
                            gates.append("\(gate.kind): could not be evaluated since \(since.formatted(.iso8601)) (no verdict); asked again at "
                                + retry.formatted(.iso8601))
                        } else if candidate.phase == .syncing || candidate.phase == .verifying {
                            gates.append("\(gate.kind): after the health soak")
                        } else if candidate.phase.isFinal {
                            gates.append("\(gate.kind): not evaluated")
                        } else {
                            gates.append("\(gate.kind): waits for the promotion")
                        }
                    }
                }
                var view2 = CandidateView(revision: candidate.revision, summary: await summary(candidate.revision), kind: candidate.kind.rawValue,
                                          phase: candidate.phase.rawValue, since: candidate.since.formatted(.iso8601), reason: candidate.reason,
                                          approvals: candidate.approvals.map(\.actor), gates: gates, held: machine.holds.contains(candidate.revision),
                                          supersedes: candidate.supersedes)
                if let policy = stage.effectiveApproval, candidate.phase == .awaitingApproval {
                    view2.approvalsRequired = policy.required
                    let authors = await refs?.authors(from: state.deployed, to: candidate.revision) ?? []
                    let approved = Set(candidate.approvals.map(\.actor))
                    let excluded = policy.allowCommitAuthors ? [] : authors
                    if policy.approvers.isEmpty {
                        view2.mayApprove = ["anyone"]
                        view2.mayNotApprove = (Array(approved) + excluded).sorted()
                    } else {
                        view2.mayApprove = policy.approvers.filter { !approved.contains($0) && !excluded.contains($0) }
                        view2.mayNotApprove = policy.approvers.filter { excluded.contains($0) }
                    }
                }
                view2.blockedBy = candidate.blockedBy
                if candidate.phase == .pending || candidate.phase == .approved || candidate.phase == .awaitingApproval,
                   let window = stage.blockingWindow(at: now) {
                    view2.blockedBy = "blocked by the \(window.effect.rawValue) window \(window)"
                        + (stage.windowOpens(after: now).map { " until \($0.formatted(.iso8601))" } ?? " for at least the next 8 days")
                }
                view.candidate = view2
            }
            stages.append(view)
        }
        return PipelineStatusView(pipeline: session.pipeline.name, repository: session.pipeline.repo.url, branch: session.pipeline.repo.branch,
                                  head: machine.head, stages: stages, holds: machine.holds.sorted())
    }

    /// The health gate's state, in words.
    static func health(_ candidate: Candidate, soak: TimeSpan, report: LastReport?, now: Date) -> String {
        let soakText = "health (soak \(soak))"
        switch candidate.phase {
        case .pending, .awaitingApproval, .approved, .promoting:
            return "\(soakText): waits for the promotion"
        case .syncing, .verifying:
            if let since = candidate.healthySince {
                // A soak paused while the cluster does not answer: the time away does not count.
                let soaked = (candidate.soakPausedAt ?? now).timeIntervalSince(since)
                let left = max(0, Double(soak.duration.totalMilliseconds) / 1000 - soaked)
                let remaining = TimeSpan(.milliseconds(Int64(left * 1000)))
                if let paused = candidate.soakPausedAt {
                    return "\(soakText): paused since \(paused.formatted(.iso8601)), the cluster not answering (Unknown); \(remaining) left once it does"
                }
                return "\(soakText): Healthy since \(since.formatted(.iso8601)), \(remaining) left"
            }
            let seen = report.flatMap { $0.revision == candidate.revision ? "\($0.synced ? "Synced" : "OutOfSync"), \($0.health.rawValue)" : nil }
            return "\(soakText): waiting for Synced and Healthy" + (seen.map { " (now \($0))" } ?? "")
        case .verified:
            return "\(soakText): passed"
        case .failed:
            // Failed by another gate after the soak passed, or by health itself.
            return "\(soakText): " + (candidate.checks != nil ? "passed" : "failed")
        case .rejected, .superseded:
            return "\(soakText): not evaluated"
        }
    }

    /// How long ago `stamp` (RFC 3339) was: `42s`, `5m`, `3h`, `2d`.
    static func age(_ stamp: String, now: Date) -> String {
        guard let date = (try? Date(stamp, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            ?? (try? Date(stamp, strategy: .iso8601)) else { return "-" }
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m"
        case ..<86_400: return "\(seconds / 3600)h"
        default: return "\(seconds / 86_400)d"
        }
    }

    func text(now: Date = Date()) -> String {
        var lines = ["pipeline \(pipeline): \(stages.map(\.environment).joined(separator: " → ")) from \(repository) (\(branch)"
            + (head.map { " at \($0.prefix(8))" } ?? "") + ")", ""]
        var rows = [["STAGE", "REVISION", "SUMMARY", "AGE", "SYNC", "HEALTH"]]
        for stage in stages {
            rows.append([stage.environment, stage.revision.map { String($0.prefix(8)) } ?? "-", stage.summary ?? "-",
                         stage.since.map { Self.age($0, now: now) } ?? "-", stage.sync ?? "-", stage.health ?? "-"])
        }
        lines.append(Terminal.table(rows))
        for stage in stages {
            for error in stage.errors { lines.append("\(stage.environment): \(error)") }
            guard let candidate = stage.candidate else { continue }
            lines.append("")
            var head = "\(stage.environment): \(candidate.revision.prefix(8))"
            if let summary = candidate.summary { head += " \"\(summary)\"" }
            head += " is \(candidate.phase)" + (candidate.kind == "auto" || candidate.kind == "approved" ? "" : " (\(candidate.kind))")
                + " since \(candidate.since.prefix(19))Z"
            lines.append(head)
            if let old = candidate.supersedes {
                lines.append("  superseded \(old.prefix(8)), which had not left \(stage.environment)")
            }
            if let reason = candidate.reason {
                let label = ["failed", "rejected", "superseded"].contains(candidate.phase) ? "why: "
                    : (["rollback", "forced"].contains(candidate.kind) ? "reason: " : "")
                lines.append("  " + label + reason)
            }
            if let required = candidate.approvalsRequired {
                var text = "  approvals: \(candidate.approvals.count) of \(required)"
                if !candidate.approvals.isEmpty { text += " (\(candidate.approvals.joined(separator: ", ")))" }
                lines.append(text)
                if let may = candidate.mayApprove {
                    lines.append("  may still approve: " + (may.isEmpty ? "nobody" : may.joined(separator: ", ")))
                }
                if let mayNot = candidate.mayNotApprove, !mayNot.isEmpty {
                    lines.append("  may not approve: \(mayNot.joined(separator: ", ")) (already approved, or wrote a commit it brings)")
                }
            }
            if let blocked = candidate.blockedBy { lines.append("  waiting: \(blocked)") }
            for gate in candidate.gates { lines.append("  gate \(gate)") }
        }
        if !holds.isEmpty {
            lines.append("")
            for hold in holds {
                lines.append("held: \(hold.prefix(8)) (a rollback replaced it; baton release \(pipeline) \(hold.prefix(8)) lets it promote again)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// `baton history PIPELINE` or `baton history --env ENV`: the promotions, oldest first.
struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "List the promotions of a pipeline or of one environment, oldest first."
    )

    @Argument(help: "The pipeline.") var pipeline: String?
    @Option(help: "Only this environment.") var env: String?
    @Option(help: "text or json.") var output: OutputFormat = .text
    @OptionGroup var location: PipelineSession.Location

    func validate() throws {
        if pipeline == nil, env == nil { throw ValidationError("name a pipeline or --env ENV") }
    }

    struct Entry: Encodable {
        var promotion: PromotionRecord
        var approvedBy: [String]
    }

    func run() async throws {
        let session: PipelineSession
        if let pipeline {
            session = try PipelineSession.open(location, pipeline: pipeline)
            if let env { _ = try session.stage(env) }
        } else {
            session = try PipelineSession.open(location, environment: env ?? "").0
        }
        let entries: [Entry]
        do {
            entries = try session.audit.promotions(pipeline: session.pipeline.name, environment: env).map { promotion in
                Entry(promotion: promotion, approvedBy: try session.audit.approvals(for: promotion).map(\.actor))
            }
        } catch {
            throw EnvironmentSession.fail("\(error)")
        }
        switch output {
        case .json:
            Terminal.out(try Terminal.json(entries))
        case .text:
            var rows = [["STARTED", "ENVIRONMENT", "REVISION", "FROM", "KIND", "PHASE", "BY", "APPROVED BY", "AUTHORS"]]
            for entry in entries {
                let p = entry.promotion
                rows.append([String(p.startedAt.prefix(19)) + "Z", p.environment, String(p.revision.prefix(8)),
                             p.from.map { String($0.prefix(8)) } ?? "-", p.kind, p.phase, p.actor,
                             entry.approvedBy.isEmpty ? "-" : entry.approvedBy.joined(separator: ","),
                             p.authors.isEmpty ? "-" : p.authors.joined(separator: ",")])
            }
            Terminal.out(Terminal.table(rows))
            for entry in entries where entry.promotion.reason != nil && entry.promotion.phase != "verified" {
                Terminal.out("\(entry.promotion.environment) \(entry.promotion.revision.prefix(8)) \(entry.promotion.phase): \(entry.promotion.reason ?? "")")
            }
        }
    }
}
