import Foundation
import Logging

/// `baton run`'s console: a transition (logged at `info`) is printed as the one line it is; a
/// problem (`warning` and above) as `TIME PIPELINE[/ENVIRONMENT]: message`. Debug and trace
/// are not printed.
struct ConsoleLogHandler: LogHandler {
    let label: String
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= logLevel else { return }
        if event.level <= .notice {
            Terminal.out("\(event.message)")
            return
        }
        let all = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        var who = all["pipeline"].map { "\($0)" } ?? "baton run"
        if let environment = all["environment"] { who += "/\(environment)" }
        Terminal.out("\(Date().formatted(.iso8601)) \(who): \(event.message)")
    }
}
