import BatonCore
import BatonTestSupport
import Coordinator
import Foundation
import GitStore
import Testing

/// A private repository behind git's smart HTTP protocol with basic auth (`git http-backend`
/// behind a small Python server on 127.0.0.1): the token comes from `repo.tokenFile` or
/// `repo.tokenEnv`, read at each exchange; a wrong one is refused once, clearly, and never shown.
@Suite("Coordinator: a private repository over HTTP with a token")
struct PrivateRemoteTests {
    static let token = "s3cr3t-token-4d8e"

    struct Served {
        let dir: TemporaryDirectory
        let work: GitCLI
        let server: GitHTTPServer
        let first: String
    }

    static func serve() async throws -> Served {
        let dir = try TemporaryDirectory("private-remote")
        for folder in ["home", "work", "served"] { try FileManager.default.createDirectory(atPath: dir.path + "/" + folder, withIntermediateDirectories: true) }
        let work = GitCLI(directory: dir.path + "/work", home: dir.path + "/home")
        try await work.run(["init", "-q", "-b", "main"])
        let first = try await work.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        try await work.run(["clone", "-q", "--bare", dir.path + "/work", dir.path + "/served/config.git"])
        let server = try await GitHTTPServer(basePath: dir.path + "/served", user: "baton-bot", token: token)
        return Served(dir: dir, work: work, server: server, first: first)
    }

    @Test("clone, fetch and a pushed ref move with the token from a file; the served repository's env ref moves")
    func tokenFromFile() async throws {
        let served = try await Self.serve()
        defer { served.server.stop(); served.dir.remove() }
        try served.dir.write("token", Self.token + "\n")
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: served.server.url("config.git"), token: .file(served.dir.path + "/token"),
                                                                      username: "baton-bot"),
                                      stages: [Stage(environment: "dev")])
        let refs = try await EnvironmentRefs.open(pipeline, cacheRoot: served.dir.path + "/cache")
        #expect(try await refs.current("refs/heads/main") == served.first)
        try await refs.move("refs/heads/env/dev", from: nil, to: served.first, anywhere: false, reason: "test")
        let remote = try await served.work.run(["--git-dir", served.dir.path + "/served/config.git", "rev-parse", "refs/heads/env/dev"])
        #expect(remote.trimmingCharacters(in: .whitespacesAndNewlines) == served.first)
        #expect(served.server.requests > 0)
    }

    /// An environment for git's credential helpers that sees none of the machine's git
    /// configuration: a home of its own whose `.gitconfig` names `git credential-store` on
    /// `store` (no helper when nil).
    static func helpers(_ served: Served, store: String?) -> [String: String] {
        let home = served.dir.path + "/helper-home-" + (store == nil ? "none" : "store")
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let config = store.map { "[credential]\n\thelper = store --file \($0)\n" } ?? ""
        try? config.write(toFile: home + "/.gitconfig", atomically: true, encoding: .utf8)
        return ["HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"]
    }

    @Test("with no token configured, git's own credential helpers are asked (here git credential-store), as git fetch would")
    func credentialHelpers() async throws {
        let served = try await Self.serve()
        defer { served.server.stop(); served.dir.remove() }
        try served.dir.write("credentials", "http://baton-bot:\(Self.token)@127.0.0.1:\(served.server.port)\n")
        let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: served.server.url("config.git")), stages: [Stage(environment: "dev")])
        let refs = try await EnvironmentRefs.open(pipeline, cacheRoot: served.dir.path + "/cache",
                                                  helperEnvironment: Self.helpers(served, store: served.dir.path + "/credentials"))
        #expect(try await refs.current("refs/heads/main") == served.first)
        try await refs.move("refs/heads/env/dev", from: nil, to: served.first, anywhere: false, reason: "test")
        let remote = try await served.work.run(["--git-dir", served.dir.path + "/served/config.git", "rev-parse", "refs/heads/env/dev"])
        #expect(remote.trimmingCharacters(in: .whitespacesAndNewlines) == served.first)
    }

    @Test("a wrong token: one clear error, no retry storm, the token never in it; no token: the remote's refusal said plainly")
    func wrongToken() async throws {
        let served = try await Self.serve()
        defer { served.server.stop(); served.dir.remove() }
        try served.dir.write("token", "wrong-token-9f1c\n")
        /// The error opening the pipeline's repository gives ("opened" when there is none).
        func failure(_ token: SecretSource?, cache: String) async -> String {
            let pipeline = PipelineConfig(name: "shop", repo: RepoSource(url: served.server.url("config.git"), token: token),
                                          stages: [Stage(environment: "dev")])
            do {
                _ = try await EnvironmentRefs.open(pipeline, cacheRoot: served.dir.path + "/" + cache, helperEnvironment: Self.helpers(served, store: nil))
                return "opened"
            } catch {
                return "\(error)"
            }
        }
        let wrong = await failure(.file(served.dir.path + "/token"), cache: "cache1")
        #expect(wrong.contains("authentication failed") && !wrong.contains("wrong-token-9f1c"), "\(wrong)")
        #expect(served.server.refused <= 3, "\(served.server.refused) refused requests")
        let none = await failure(nil, cache: "cache2")
        #expect(none.contains("git's credential helpers have none for it"), "\(none)")
        let unreadable = await failure(.file(served.dir.path + "/missing"), cache: "cache3")
        #expect(unreadable.contains("the repository's token: cannot read \(served.dir.path)/missing"), "\(unreadable)")
    }
}
