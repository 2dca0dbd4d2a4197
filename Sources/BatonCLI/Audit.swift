import ArgumentParser
import AuditStore
import Foundation

/// `baton audit`: the tamper-evident log of every decision.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and export the audit log.",
        subcommands: [Verify.self, Export.self, WhoChanged.self]
    )

    /// Where the audit database is: `--db`, else `DIR/.baton/baton.db`.
    struct Location: ParsableArguments {
        @Option(name: .long, help: "The folder holding Environments/ and Pipelines/ (the database is DIR/.baton/baton.db).")
        var dir: String = "."

        @Option(name: .long, help: "The audit database file.")
        var db: String?

        var path: String { db ?? (dir + "/.baton/baton.db") }

        /// The store, which must exist already (reading never creates one, nor writes to it).
        func open() throws -> AuditStore {
            guard FileManager.default.fileExists(atPath: path) else {
                Terminal.error("baton: no audit database at \(path)")
                throw ExitCode(1)
            }
            do {
                return try AuditStore(path: path, readOnly: true)
            } catch {
                Terminal.error("baton: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute the audit log's hash chain; name the first row that was changed, inserted or deleted.",
            discussion: "Exits 0 when the chain is intact, 1 when it is broken or cannot be read."
        )

        @OptionGroup var location: Location

        func run() async throws {
            let store = try location.open()
            let result: AuditStore.Verification
            do {
                result = try store.verify()
            } catch {
                Terminal.error("baton: \(error)")
                throw ExitCode(1)
            }
            switch result {
            case .intact:
                Terminal.out("\(location.path): \(result)")
            case .broken:
                Terminal.error("baton: \(location.path): \(result)")
                throw ExitCode(1)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", abstract: "Print every audit event, one JSON object per line.")

        enum Format: String, ExpressibleByArgument { case jsonl }

        @OptionGroup var location: Location
        @Option(help: "jsonl (one JSON object per line).") var format: Format = .jsonl

        func run() async throws {
            let store = try location.open()
            do {
                FileHandle.standardOutput.write(Data(try store.exportJSONL().utf8))
            } catch {
                Terminal.error("baton: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct WhoChanged: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "who-changed",
            abstract: "Every change to one object in an environment: when, which revisions, whose commits, who approved, what the gates saw.",
            discussion: "Example: baton audit who-changed deployment/guestbook --env production (--output json has every gate's full evidence)"
        )

        @Argument(help: "KIND/NAME, as kubectl takes it (deployment/web, configmaps/settings).") var object: String
        @Option(help: "The environment.") var env: String
        @Option(help: "text or json.") var output: OutputFormat = .text
        @OptionGroup var location: Location

        func validate() throws {
            let parts = object.split(separator: "/")
            if parts.count != 2 || parts.contains(where: \.isEmpty) {
                throw ValidationError("\"\(object)\" is not KIND/NAME (for example deployment/web)")
            }
        }

        struct Change: Encodable {
            var time: String
            var action: String
            var error: String?
            var revision: String
            var by: String
            var promotion: PromotionRecord?
            var approvals: [DecisionRecord]
            var gates: [GateRecord]
        }

        func run() async throws {
            let store = try location.open()
            let parts = object.split(separator: "/").map(String.init)
            let kind = parts[0].split(separator: ".").first.map(String.init) ?? parts[0]
            var changes: [Change] = []
            do {
                for entry in try store.objectHistory(environment: env, kind: kind, name: parts[1]) {
                    let change = entry.change
                    changes.append(Change(time: change.time, action: change.action, error: change.error, revision: change.revision,
                                          by: change.actor, promotion: entry.promotion, approvals: entry.approvals, gates: entry.gates))
                }
            } catch {
                Terminal.error("baton: \(error)")
                throw ExitCode(1)
            }
            switch output {
            case .json:
                Terminal.out(try Terminal.json(changes))
            case .text:
                if changes.isEmpty {
                    Terminal.out("no recorded sync changed \(object) in \(env)")
                    return
                }
                var lines: [String] = []
                for change in changes {
                    var head = "\(change.time.prefix(19))Z  \(change.action) at \(change.revision.prefix(8))"
                    if let promotion = change.promotion {
                        head += ", promotion from \(promotion.from.map { String($0.prefix(8)) } ?? "nothing") (\(promotion.kind), started by \(promotion.actor))"
                    } else {
                        head += ", synced by \(change.by) outside a promotion"
                    }
                    lines.append(head)
                    if let error = change.error { lines.append("  error: \(error)") }
                    if let promotion = change.promotion {
                        lines.append("  commits by: " + (promotion.authors.isEmpty ? "-" : promotion.authors.joined(separator: ", ")))
                        if let reason = promotion.reason { lines.append("  reason: \(reason)") }
                    }
                    lines.append("  approved by: " + (change.approvals.isEmpty ? "-" : change.approvals.map {
                        "\($0.actor) at \($0.time.prefix(19))Z" + ($0.comment.map { " (\"\($0)\")" } ?? "")
                    }.joined(separator: ", ")))
                    for gate in change.gates {
                        let said = gate.evidence["summary"]?.string ?? String(decoding: gate.evidence.encoded(), as: UTF8.self)
                        lines.append("  gate \(gate.gate) in \(gate.environment): \(gate.passed ? "passed" : "failed"): \(said)")
                    }
                }
                Terminal.out("\(object) in \(env):\n" + lines.joined(separator: "\n"))
            }
        }
    }
}
