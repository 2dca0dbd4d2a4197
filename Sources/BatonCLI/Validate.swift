import ArgumentParser
import BatonCore
import Coordinator
import Signatures

/// `baton validate`: load every environment and pipeline and report every problem at once.
struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check Environments/ and Pipelines/ and print each pipeline's chain.",
        discussion: """
            Every problem is reported, each as FILE:LINE:COLUMN: KEY.PATH: message.
            Exits 0 when the configuration is valid, 2 when it is not.
            """
    )

    @Option(name: .long, help: "The folder holding Environments/ and Pipelines/.")
    var dir: String = "."

    @Option(name: .long, help: "text or json.")
    var output: OutputFormat = .text

    func run() async throws {
        let config: BatonConfig
        do throws(ConfigError) {
            config = try ConfigLoader().load(directory: dir)
            // Every approver's key is read as a key, and every allowed_signers file (approvers',
            // commit signers') as one.
            let keyIssues = config.pipelines.compactMap { pipeline -> ConfigIssue? in
                do throws(SignatureError) {
                    _ = try PipelineDriver.trust(for: pipeline, directory: config.directory)
                    _ = try PipelineDriver.commitSigners(for: pipeline, directory: config.directory)
                    return nil
                } catch {
                    return ConfigIssue(file: error.source ?? "pipeline \(pipeline.name)", position: nil, keyPath: "", message: error.message)
                }
            }
            if !keyIssues.isEmpty { throw ConfigError(issues: keyIssues) }
        } catch {
            for issue in error.issues { Terminal.error(issue.description) }
            let count = error.issues.count
            Terminal.error("baton: the configuration in \(dir) is invalid: \(count) problem\(count == 1 ? "" : "s")")
            if output == .json {
                Terminal.out(try Terminal.json(ValidationReport(valid: false, issues: error.issues, config: nil)))
            }
            throw ExitCode(2)
        }
        switch output {
        case .json:
            Terminal.out(try Terminal.json(ValidationReport(valid: true, issues: [], config: config)))
        case .text:
            Terminal.out(ConfigSummary(config: config).text)
        }
    }
}

/// What `baton validate --output json` prints.
struct ValidationReport: Encodable {
    var valid: Bool
    var issues: [ConfigIssue]
    var config: BatonConfig?
}
