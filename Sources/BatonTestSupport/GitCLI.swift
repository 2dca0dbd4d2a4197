import Foundation

/// The `git` command line, isolated from this machine's configuration (no system or global
/// config, a fixed identity, `main` as the first branch), for tests that build repositories
/// the way a user would and check GitStore against git itself.
public struct GitCLI: Sendable {
    /// Where `git` runs (`-C`).
    public var directory: String
    /// Used as HOME so that nothing is read from the real one.
    public var home: String
    public var author = (name: "Test Author", email: "author@example.com")

    public init(directory: String, home: String) {
        self.directory = directory
        self.home = home
    }

    public var environment: [String: String] {
        [
            "HOME": home, "XDG_CONFIG_HOME": home + "/.config", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": "Test Committer", "GIT_COMMITTER_EMAIL": "committer@example.com",
            "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]
    }

    /// Runs `git ARGS` and returns its standard output; throws when git fails.
    @discardableResult
    public func callAsFunction(_ arguments: String...) async throws -> String {
        try await run(arguments)
    }

    @discardableResult
    public func run(_ arguments: [String]) async throws -> String {
        let result = try await CommandRun.run("/usr/bin/git", ["-c", "init.defaultBranch=main", "-C", directory] + arguments,
                                        environment: environment, replacingEnvironment: true)
        guard result.status == 0 else {
            throw GitCLIError(arguments: arguments, status: result.status, stderr: result.stderr)
        }
        return result.stdout
    }

    /// `run`, with the output's trailing newline removed.
    public func line(_ arguments: String...) async throws -> String {
        try await run(arguments).trimmingCharacters(in: .newlines)
    }

    /// Writes files under `directory`, adds everything and commits; returns the new id.
    @discardableResult
    public func commit(_ message: String, files: [String: String] = [:]) async throws -> String {
        for (path, text) in files {
            let url = URL(fileURLWithPath: directory + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        try await run(["add", "-A"])
        try await run(["commit", "-q", "--allow-empty", "-m", message])
        return try await run(["rev-parse", "HEAD"]).trimmingCharacters(in: .newlines)
    }
}

public struct GitCLIError: Error, CustomStringConvertible {
    public var arguments: [String]
    public var status: Int32
    public var stderr: String

    public init(arguments: [String], status: Int32, stderr: String) {
        self.arguments = arguments
        self.status = status
        self.stderr = stderr
    }

    public var description: String { "git \(arguments.joined(separator: " ")) exited \(status): \(stderr)" }
}
