import ArgumentParser
import Foundation

/// `baton`: the root command. Subcommands live one per file.
public struct Baton: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Promote a config repository's commits through dev, staging and production, gate by gate.",
        discussion: """
            Exit codes: 0 success, 1 the thing asked for failed, 2 bad usage or bad configuration.
            """,
        version: "0.1.0",
        subcommands: [Validate.self, Run.self, StatusCommand.self, Promote.self, Approve.self, Reject.self, Rollback.self, Release.self,
                      History.self, GatesCommand.self, DiffCommand.self, SyncCommand.self, Audit.self, Cluster.self, Sim.self]
    )

    public init() {}

    /// Runs the command line and exits with Baton's codes: 0 ok, 1 failure, 2 bad usage or
    /// bad configuration (argument-parser's own usage errors are mapped from 64 to 2).
    public static func runAndExit(arguments: [String]? = nil) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if !message.isEmpty {
                if code == .success {
                    print(message)
                } else {
                    Terminal.error(message)
                }
            }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}
