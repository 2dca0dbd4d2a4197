import BatonCore
import Foundation

/// Who is acting (DESIGN.md §8): `BATON_ACTOR`, else git's `user.email`, else `$USER@host`.
/// The operating-system user is recorded beside it by the audit store.
enum Actor {
    static func current() async -> String {
        let environment = ProcessInfo.processInfo.environment
        if let actor = environment["BATON_ACTOR"], !actor.isEmpty { return actor }
        if let result = try? await Subprocess.run("git", ["config", "user.email"]), result.status == 0 {
            let email = String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !email.isEmpty { return email }
        }
        return "\(environment["USER"] ?? NSUserName())@\(ProcessInfo.processInfo.hostName)"
    }
}
