import BatonTestSupport
import Foundation
import Testing

/// `baton validate`, run as the real binary.
@Suite("baton validate")
struct ValidateCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test("prints each pipeline's chain with its stages, gates and approval rule")
    func summary() async throws {
        let run = try await CommandRun.baton(["validate"], in: Self.root)
        #expect(run.status == 0)
        #expect(run.stderr == "")
        #expect(run.stdout == """
            Configuration in . is valid: 3 environments, 1 pipeline.

            pipeline guestbook: dev → staging → production
              source  git://127.0.0.1:9418/config.git, branch main, polled every 2s
              1. dev         promote auto  (context baton-dev, namespace guestbook, path apps/guestbook/overlays/dev)
                             sync     every 2s, prune, self-heal, timeout 2m
                             scope    namespaces guestbook only; cluster-scoped kinds Namespace
                             render   kustomize, remote bases refused
                             gate     health: synced and Healthy for 3s
              2. staging     promote auto  (context baton-staging, namespace guestbook, path apps/guestbook/overlays/staging)
                             sync     every 2s, prune, self-heal, timeout 2m
                             scope    namespaces guestbook only; cluster-scoped kinds Namespace
                             render   kustomize, remote bases refused
                             gate     health: synced and Healthy for 15s
                             gate     http: GET https://127.0.0.1:6443/sim/services/guestbook/guestbook/healthz expects 200, CA \((Self.root as NSString).deletingLastPathComponent)/staging-ca.pem; 3 attempts 1s apart, 2s timeout
                             gate     prometheus: (sum(rate(sim_http_requests_total{namespace="guestbook",code=~"5.."}[10s])) or vector(0)) / sum(rate(sim_http_requests_total{namespace="guestbook"}[10s])) ≤ 0.05, 3 measurements 2s apart, 0 failures allowed (http://127.0.0.1:9090)
              3. production  promote manual  (context baton-production, namespace guestbook, path apps/guestbook/overlays/production)
                             sync     every 2s, prune, self-heal, timeout 2m
                             scope    namespaces guestbook only; cluster-scoped kinds Namespace
                             render   kustomize, remote bases refused
                             approval 2 of alice@example.com, bob@example.com, carol@example.com; commit authors may not approve
                             gate     health: synced and Healthy for 5s

            """)
    }

    @Test("explains what limits an environment (scope, sync options, render limits) and where credentials come from, never a secret")
    func explainsLimitsAndCredentials() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try copyExample(to: dir)
        try dir.write("instance.yaml", "apiVersion: baton/v1\nkind: Instance\nname: platform-eu\n")
        let dev = try String(contentsOfFile: dir.path + "/Environments/dev.yaml", encoding: .utf8)
        try dir.write("Environments/dev.yaml", dev.replacingOccurrences(of: "  render: kustomize\n", with: """
              render: kustomize
              allowRemoteBases: true
              limits: {fileBytes: 1Mi, objects: 500}

            """) + """
              createNamespace: true
              adopt: true
            scope:
              namespaces: [guestbook, team-*]
              clusterResources: []

            """)
        let pipeline = try String(contentsOfFile: dir.path + "/Pipelines/guestbook.yaml", encoding: .utf8)
        try dir.write("Pipelines/guestbook.yaml", pipeline
            .replacingOccurrences(of: "url: git://127.0.0.1:9418/config.git", with: "url: https://git.example.com/team/config.git\n  tokenEnv: CONFIG_TOKEN")
            .replacingOccurrences(of: "expectStatus: 200", with: "expectStatus: 200\n          headers:\n            Authorization: {valueFrom: {env: HEALTH_TOKEN}}"))
        let run = try await CommandRun.baton(["validate", "--dir", dir.path], environment: ["CONFIG_TOKEN": "s3cr3t-token", "HEALTH_TOKEN": "Bearer s3cr3t-too"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("Instance platform-eu: its objects carry tracking IDs platform-eu/ENVIRONMENT:…, apart from another install's."))
        #expect(run.stdout.contains("  access  token from environment variable CONFIG_TOKEN, sent as user x-access-token\n"))
        #expect(run.stdout.contains("""
                             sync     every 2s, prune, self-heal, timeout 2m, creates its namespace, adopts existing objects
                             scope    namespaces guestbook, team-*; cluster-scoped kinds none
                             render   kustomize, remote bases allowed
                             limits   1Mi per file, 64Mi per revision, 500 objects, 250000 YAML nodes per file, 1000000 per revision
            """))
        #expect(run.stdout.contains("headers Authorization (from environment variable HEALTH_TOKEN)"))
        #expect(!run.stdout.contains("s3cr3t"), "a secret's value was printed")
    }

    @Test("a broken file exits 2 and names file, line, column and key on stderr")
    func broken() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try copyExample(to: dir)
        let pipeline = try String(contentsOfFile: dir.path + "/Pipelines/guestbook.yaml", encoding: .utf8)
        try dir.write("Pipelines/guestbook.yaml", pipeline.replacingOccurrences(of: "max: 0.05", with: "max: low")
            .replacingOccurrences(of: "soak: 3s", with: "sok: 3s"))
        let run = try await CommandRun.baton(["validate", "--dir", dir.path])
        #expect(run.status == 2)
        #expect(run.stdout == "")
        #expect(run.stderr == """
            \(dir.path)/Pipelines/guestbook.yaml:18:19: stages[0].gates[0].health.sok: unknown key "sok"; did you mean "soak"?
            \(dir.path)/Pipelines/guestbook.yaml:35:16: stages[1].gates[2].prometheus.max: expected a number, got "low"
            baton: the configuration in \(dir.path) is invalid: 2 problems

            """)
    }

    @Test("--output json prints the loaded configuration")
    func json() async throws {
        let run = try await CommandRun.baton(["validate", "--output", "json"], in: Self.root)
        #expect(run.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == true)
        let config = try #require(object["config"] as? [String: Any])
        let pipelines = try #require(config["pipelines"] as? [[String: Any]])
        #expect(pipelines.count == 1)
        let stages = try #require(pipelines.first?["stages"] as? [[String: Any]])
        #expect(stages.map { $0["environment"] as? String } == ["dev", "staging", "production"])
        let repo = try #require(pipelines.first?["repo"] as? [String: Any])
        #expect(repo["poll"] as? String == "2s")
    }

    @Test("--output json on a broken configuration lists the issues and exits 2")
    func jsonInvalid() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try copyExample(to: dir)
        try dir.write("Environments/dev.yaml", "apiVersion: baton/v1\nkind: Environment\nname: dev\nsource: {path: x}\nsync: {prune: maybe}\n")
        let run = try await CommandRun.baton(["validate", "--dir", dir.path, "--output", "json"])
        #expect(run.status == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        let issues = try #require(object["issues"] as? [[String: Any]])
        #expect(issues.count == 1)
        #expect(issues.first?["keyPath"] as? String == "sync.prune")
        let position = try #require(issues.first?["position"] as? [String: Any])
        #expect(position["line"] as? Int == 5)
        #expect(position["column"] as? Int == 15)
        #expect(run.stderr.hasPrefix("\(dir.path)/Environments/dev.yaml:5:15: sync.prune: expected true or false, got \"maybe\"\n"))
    }

    @Test("bad usage exits 2", arguments: [["validate", "--output", "yaml"], ["validat"], ["validate", "--bogus"]])
    func badUsage(_ arguments: [String]) async throws {
        let run = try await CommandRun.baton(arguments, in: Self.root)
        #expect(run.status == 2)
        #expect(run.stderr.contains("Error:"))
    }

    @Test("--help exits 0 and lists the subcommand")
    func help() async throws {
        let run = try await CommandRun.baton(["--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("validate"))
    }

    private func copyExample(to dir: TemporaryDirectory) throws {
        for folder in ["Environments", "Pipelines"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: Self.root + "/" + folder) {
                try dir.write(folder + "/" + name, String(contentsOfFile: Self.root + "/\(folder)/\(name)", encoding: .utf8))
            }
        }
    }
}
