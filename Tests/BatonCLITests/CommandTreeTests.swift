import ArgumentParser
@testable import BatonCLI
import Testing

/// The command tree as ArgumentParser builds it at every start.
@Suite("CLI: the command tree")
struct CommandTreeTests {
    /// Every command names itself. Without a `commandName`, ArgumentParser derives the name with
    /// `String(describing:)` on the type, and each such call scans the binary's protocol
    /// conformance records (a few milliseconds each in a binary of Baton's size): together
    /// about a tenth of a short command's run (`baton audit who-changed`, profiled with perf).
    @Test("every command has an explicit commandName")
    func explicitNames() {
        var missing: [String] = []
        func walk(_ command: any ParsableCommand.Type, path: String) {
            let configuration = command.configuration
            guard let name = configuration.commandName else {
                missing.append(path + " → \(command)")
                return
            }
            for sub in configuration.subcommands { walk(sub, path: path + " " + name) }
        }
        walk(Baton.self, path: "")
        #expect(missing.isEmpty, "\(missing)")
    }
}
