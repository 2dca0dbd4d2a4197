import ArgumentParser
import AuditStore
import Foundation

/// `baton audit`: the tamper-evident log of every decision.
struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and export the audit log.",
        subcommands: [Verify.self, Export.self]
    )

    /// Where the audit database is: `--db`, else `DIR/.baton/baton.db`.
    struct Location: ParsableArguments {
        @Option(name: .long, help: "The folder holding Environments/ and Pipelines/ (the database is DIR/.baton/baton.db).")
        var dir: String = "."

        @Option(name: .long, help: "The audit database file.")
        var db: String?

        var path: String { db ?? (dir + "/.baton/baton.db") }

        /// The store, which must exist already (reading never creates one).
        func open() throws -> AuditStore {
            guard FileManager.default.fileExists(atPath: path) else {
                Terminal.error("baton: no audit database at \(path)")
                throw ExitCode(1)
            }
            do {
                return try AuditStore(path: path)
            } catch {
                Terminal.error("baton: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
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
        static let configuration = CommandConfiguration(abstract: "Print every audit event, one JSON object per line.")

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
}
