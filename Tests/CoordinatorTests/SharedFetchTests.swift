import BatonCore
import BatonTestSupport
import Coordinator
import Foundation
import GitStore
import Testing

/// Pipelines on one remote repository share its mirror and one fetch per poll (a real
/// `git daemon` on 127.0.0.1).
@Suite("Coordinator: one fetch per repository per poll")
struct SharedFetchTests {
    @Test("two pipelines on one URL share a mirror; a fetch younger than the poll is not repeated, an older one is")
    func oneFetchPerPoll() async throws {
        let dir = try TemporaryDirectory("shared-fetch")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/work", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/served", withIntermediateDirectories: true)
        let work = GitCLI(directory: dir.path + "/work", home: dir.path + "/home")
        try await work.run(["init", "-q", "-b", "main"])
        let c1 = try await work.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        try await work.run(["clone", "-q", "--bare", dir.path + "/work", dir.path + "/served/config.git"])
        try await work.run(["remote", "add", "served", dir.path + "/served/config.git"])
        let daemon = try await GitDaemon(basePath: dir.path + "/served")
        defer { daemon.stop() }

        let url = daemon.url("config.git")
        let shop = PipelineConfig(name: "shop", repo: RepoSource(url: url), stages: [Stage(environment: "dev")])
        let blog = PipelineConfig(name: "blog", repo: RepoSource(url: url), stages: [Stage(environment: "blog-dev")])
        let fetches = FetchCoalescer()  // what baton run shares between the pipelines on one URL
        let refs = try await EnvironmentRefs.open(shop, cacheRoot: dir.path + "/cache", fetches: fetches)
        #expect(try await refs.current("refs/heads/main") == c1)
        // Another pipeline on the same URL opens the same mirror (a handle of its own).
        let other = try await EnvironmentRefs.open(blog, cacheRoot: dir.path + "/cache", fetches: fetches)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/repos").count == 1)

        let c2 = try await work.commit("two", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {}\n"])
        try await work.run(["push", "-q", "served", "main"])
        try await refs.refresh(maxAge: .seconds(60))
        #expect(try await refs.current("refs/heads/main") == c2)
        // Within the poll, a second pipeline's refresh of the same repository fetches nothing.
        let c3 = try await work.commit("three", files: ["app/cm.yaml": "kind: ConfigMap\ndata: {a: b}\n"])
        try await work.run(["push", "-q", "served", "main"])
        let sharing = other  // the second pipeline
        try await sharing.refresh(maxAge: .seconds(60))
        #expect(try await refs.current("refs/heads/main") == c2, "a fetch younger than the poll was repeated")
        // Once the last fetch is older than the poll, the next one goes out.
        try await sharing.refresh(maxAge: .zero)
        #expect(try await refs.current("refs/heads/main") == c3)
        #expect(try await other.current("refs/heads/main") == c3, "the second pipeline's mirror is not the same")
    }

    @Test("pipelines on one URL with credentials of their own share neither mirror nor fetch")
    func credentialsSeparate() async throws {
        let dir = try TemporaryDirectory("shared-fetch-credentials")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/served", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/work", withIntermediateDirectories: true)
        let work = GitCLI(directory: dir.path + "/work", home: dir.path + "/home")
        try await work.run(["init", "-q", "-b", "main"])
        let c1 = try await work.commit("one", files: ["app/cm.yaml": "kind: ConfigMap\n"])
        try await work.run(["clone", "-q", "--bare", dir.path + "/work", dir.path + "/served/config.git"])
        let daemon = try await GitDaemon(basePath: dir.path + "/served")
        defer { daemon.stop() }
        let url = daemon.url("config.git")
        try "team-a-token\n".write(toFile: dir.path + "/a.token", atomically: true, encoding: .utf8)
        try "team-b-token\n".write(toFile: dir.path + "/b.token", atomically: true, encoding: .utf8)
        let plain = RepoSource(url: url)
        let teamA = RepoSource(url: url, token: .file(dir.path + "/a.token"))
        let teamA2 = RepoSource(url: url, branch: "other", poll: .seconds(5), token: .file(dir.path + "/a.token"))
        let teamB = RepoSource(url: url, token: .file(dir.path + "/b.token"))
        let asB = RepoSource(url: url, token: .file(dir.path + "/a.token"), username: "bob")
        // What baton run keys its coalescers and pollers by: the same only for the same credentials.
        #expect(teamA.sharingKey == teamA2.sharingKey)
        #expect(Set([plain.sharingKey, teamA.sharingKey, teamB.sharingKey, asB.sharingKey]).count == 4)
        #expect(!teamA.sharingKey.contains("team-a-token"), "the key names where the token is read, never the token")

        for (name, repo) in [("plain", plain), ("a", teamA), ("a2", teamA2), ("b", teamB)] {
            let pipeline = PipelineConfig(name: name, repo: repo, stages: [Stage(environment: name + "-dev")])
            let refs = try await EnvironmentRefs.open(pipeline, cacheRoot: dir.path + "/cache")
            #expect(try await refs.current("refs/heads/main") == c1)
        }
        // One mirror per URL and credentials: plain, team A (twice), team B.
        let mirrors = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/repos").sorted()
        #expect(mirrors.count == 3, "\(mirrors)")
    }
}
