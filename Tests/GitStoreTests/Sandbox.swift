import BatonTestSupport
import Foundation
import GitStore
import Testing

/// A temp folder for one test, with an isolated `git` for building repositories in it.
struct Sandbox {
    let dir: TemporaryDirectory

    init() throws {
        dir = try TemporaryDirectory("gitstore-test")
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
    }

    var path: String { dir.path }

    /// git running in `path/name`, created as a repository with `main` when `initialise`.
    func git(_ name: String, initialise: Bool = true, bare: Bool = false) async throws -> GitCLI {
        let directory = path + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let git = GitCLI(directory: directory, home: path + "/home")
        if initialise { try await git.run(bare ? ["init", "-q", "--bare"] : ["init", "-q"]) }
        return git
    }

    func remove() { dir.remove() }
}

/// Expects `body` to throw a GitStoreError with `code`, and returns it for more checks.
@discardableResult
func expectGitError(_ code: GitStoreError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () async throws -> Void) async -> GitStoreError? {
    do {
        try await body()
        Issue.record("expected a GitStoreError .\(code); nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as GitStoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected a GitStoreError .\(code), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
