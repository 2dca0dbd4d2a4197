import BatonCore
import BatonTestSupport
import Foundation
import Testing

@Suite("Loading valid configuration")
struct ConfigLoadingTests {
    private func load(_ edits: [ConfigFixture.Edit], variables: [String: String] = ["HOME": "/home/tester"]) throws -> BatonConfig {
        let files = try #require(ConfigFixture.files(edits))
        return try ConfigLoader(variables: variables).load(environments: files.environments,
                                                           pipelines: files.pipelines, baseDirectory: "/config")
    }

    @Test("a cluster's request budget set by one of its environments holds for all of them; other clusters keep the defaults")
    func clusterBudgetShared() throws {
        let config = try load([.replace("Environments/dev.yaml", "  context: dev\n", with: "  context: shared\n  qps: 20\n"),
                               .replace("Environments/staging.yaml", "  context: staging\n", with: "  context: shared\n  burst: 40\n")])
        let dev = try #require(config.environment(named: "dev")), staging = try #require(config.environment(named: "staging"))
        let production = try #require(config.environment(named: "production"))
        #expect(dev.cluster.sharingKey == staging.cluster.sharingKey && dev.cluster.sharingKey != production.cluster.sharingKey)
        #expect(ClusterTarget.budget(for: dev.cluster, among: config.environments) == (20, 40))
        #expect(ClusterTarget.budget(for: staging.cluster, among: config.environments) == (20, 40))
        #expect(ClusterTarget.budget(for: production.cluster, among: config.environments) == (ClusterTarget.defaultQPS, ClusterTarget.defaultBurst))
    }

    @Test("keys left out take their documented defaults")
    func defaults() throws {
        let minimal = """
            apiVersion: baton/v1
            kind: Environment
            name: dev
            source: { path: ./apps/dev/ }
            """
        let config = try load([.set("Environments/dev.yaml", minimal)], variables: ["HOME": "/home/tester"])
        let dev = try #require(config.environment(named: "dev"))
        #expect(dev.cluster.kubeconfig == ["/home/tester/.kube/config"])
        #expect(dev.cluster.context == nil)
        #expect(dev.namespace == nil)
        #expect(dev.source == ManifestSource(path: "apps/dev", render: .auto))
        #expect(dev.ref == "env/dev")
        #expect(dev.fullRef == "refs/heads/env/dev")
        #expect(dev.sync == SyncPolicy(interval: .minutes(3), prune: false, selfHeal: false, timeout: .minutes(5)))
        #expect(dev.ignoreDifferences.isEmpty)
        #expect(dev.file == "Environments/dev.yaml")
    }

    @Test("cluster.qps and cluster.burst are read; absent, the defaults apply")
    func requestBudget() throws {
        let config = try load([.replace("Environments/dev.yaml", "  context: dev", with: "  context: dev\n  qps: 25.5\n  burst: 40")])
        #expect(config.environment(named: "dev")?.cluster.qps == 25.5 && config.environment(named: "dev")?.cluster.burst == 40)
        #expect(config.environment(named: "staging")?.cluster.qps == nil && config.environment(named: "staging")?.cluster.burst == nil)
    }

    @Test("sync.createNamespace and sync.allowEmpty are read, false by default")
    func createNamespace() throws {
        let config = try load([.replace("Environments/dev.yaml", "  prune: true", with: "  prune: true\n  createNamespace: true\n  allowEmpty: true")])
        #expect(config.environment(named: "dev")?.sync.createNamespace == true)
        #expect(config.environment(named: "staging")?.sync.createNamespace == false)
        #expect(config.environment(named: "dev")?.sync.allowEmpty == true)
        #expect(config.environment(named: "staging")?.sync.allowEmpty == false)
        #expect(config.environment(named: "dev")?.source.allowRemoteBases == false)
    }

    @Test("the kubeconfig default is $KUBECONFIG, split as kubectl splits it")
    func kubeconfigFromEnvironment() throws {
        let config = try load([], variables: ["HOME": "/home/t", "KUBECONFIG": "/a/one:rel/two::~/three"])
        #expect(config.environment(named: "dev")?.cluster.kubeconfig == ["/a/one", "/config/rel/two", "/home/t/three"])
    }

    @Test("kubeconfig paths expand ~, $VAR and ${VAR} and resolve against the config folder")
    func kubeconfigExpansion() throws {
        let config = try load([
            .replace("Environments/dev.yaml", "  context: dev", with: "  kubeconfig: ~/kube/${CLUSTER}.yaml:$EXTRA\n  context: dev"),
        ], variables: ["HOME": "/home/t", "CLUSTER": "dev", "EXTRA": "./local/../extra.yaml"])
        #expect(config.environment(named: "dev")?.cluster.kubeconfig == ["/home/t/kube/dev.yaml", "/config/extra.yaml"])
    }

    @Test("repo.paths: folders or files of the repository; only changes under them concern the pipeline")
    func repoPaths() throws {
        let config = try load([.replace("Pipelines/app.yaml", "poll: 15s", with: "poll: 15s\n  paths: [apps/shop, base/]")])
        let repo = try #require(config.pipeline(named: "app")?.repo)
        #expect(repo.paths == ["apps/shop", "base"])
        #expect(repo.includes("apps/shop/deployment.yaml") && repo.includes("base") && repo.includes("base/kustomization.yaml"))
        #expect(!repo.includes("apps/shopping/deployment.yaml") && !repo.includes("apps/blog/x.yaml") && !repo.includes("README.md"))
        #expect(try load([]).pipeline(named: "app")?.repo.includes("anything/at/all") == true, "without paths every change concerns it")
    }

    @Test("the example pipeline reads into the model exactly")
    func pipelineModel() throws {
        let pipeline = try #require(try load([]).pipeline(named: "app"))
        #expect(pipeline.chain == ["dev", "staging", "production"])
        #expect(pipeline.repo == RepoSource(url: "https://git.example.com/org/config.git", branch: "main", poll: .seconds(15)))
        #expect(pipeline.stages[0].gates == [.health(HealthGate(soak: .seconds(30)))])
        #expect(pipeline.stages[1].gates == [
            .http(HTTPGate(url: "https://staging.example.com/healthz", expectStatus: [200])),
            .prometheus(PrometheusGate(url: "http://prometheus:9090", query: "up", max: 0.05)),
        ])
        let production = pipeline.stages[2]
        #expect(production.promote == .manual)
        #expect(production.approval == ApprovalPolicy(required: 2, approvers: ["alice@example.com", "bob@example.com"],
                                                      allowCommitAuthors: false))
        #expect(production.windows == [DeployWindow(effect: .deny, days: [.sat, .sun], timezone: "Europe/Berlin")])
        #expect(pipeline.stages[0].effectiveApproval == nil)
    }

    @Test("a manual stage without an approval block needs one approval from anyone")
    func implicitApproval() throws {
        let config = try load([.replace("Pipelines/app.yaml", """
                approval:
                  required: 2
                  approvers: [alice@example.com, bob@example.com]

            """, with: "")])
        let stage = try #require(config.pipeline(named: "app")?.stages[2])
        #expect(stage.approval == nil)
        #expect(stage.effectiveApproval == ApprovalPolicy(required: 1, approvers: [], allowCommitAuthors: true))
    }

    @Test("every gate key is read, with a list of status codes and headers")
    func fullGates() throws {
        let config = try load([.replace("Pipelines/app.yaml",
            #"- http: { url: "https://staging.example.com/healthz", expectStatus: 200 }"#, with: """
            - http:
                      url: https://staging.example.com/healthz
                      method: post
                      headers: { Accept: application/json, X-Api-Token: s3cr3t }
                      expectStatus: [200, 204]
                      bodyContains: ok
                      timeout: 250ms
                      attempts: 3
                      interval: 1h30m
            """)])
        let gate = try #require(config.pipeline(named: "app")?.stages[1].gates.first)
        #expect(gate == .http(HTTPGate(url: "https://staging.example.com/healthz", method: "POST",
                                       headers: [HTTPHeader(name: "Accept", value: "application/json"),
                                                 HTTPHeader(name: "X-Api-Token", value: "s3cr3t")],
                                       expectStatus: [200, 204], bodyContains: "ok", timeout: .milliseconds(250),
                                       attempts: 3, interval: TimeSpan(.seconds(5_400)))))
    }

    @Test("a header value may be read when the gate runs, from an environment variable or a file; JSON output says from where")
    func headersFromSecrets() throws {
        let config = try load([.replace("Pipelines/app.yaml",
            #"- http: { url: "https://staging.example.com/healthz", expectStatus: 200 }"#, with: """
            - http:
                      url: https://staging.example.com/healthz
                      headers: { Authorization: { valueFrom: { env: GATE_TOKEN } }, X-Key: { valueFrom: { file: /run/secrets/key } } }
            """)])
        guard case .http(let gate)? = config.pipeline(named: "app")?.stages[1].gates.first else {
            Issue.record("no HTTP gate")
            return
        }
        #expect(gate.headers == [HTTPHeader(name: "Authorization", valueFrom: .env("GATE_TOKEN")),
                                 HTTPHeader(name: "X-Key", valueFrom: .file("/run/secrets/key"))])
        let json = String(decoding: try JSONEncoder().encode(gate), as: UTF8.self)
        #expect(json.contains("<from environment variable GATE_TOKEN>"), "\(json)")
    }

    @Test("a remote's token comes from a file (relative to the configuration folder) or an environment variable, with a user name")
    func repositoryToken() throws {
        let file = try load([.replace("Pipelines/app.yaml", "  branch: main", with: "  branch: main\n  tokenFile: secrets/git-token\n  username: baton-bot")])
        #expect(file.pipeline(named: "app")?.repo.token == .file("/config/secrets/git-token"))
        #expect(file.pipeline(named: "app")?.repo.username == "baton-bot")
        let env = try load([.replace("Pipelines/app.yaml", "  branch: main", with: "  branch: main\n  tokenEnv: GIT_TOKEN")])
        #expect(env.pipeline(named: "app")?.repo.token == .env("GIT_TOKEN"))
        #expect(env.pipeline(named: "app")?.repo.username == "x-access-token")
    }

    @Test("a Prometheus gate takes headers the same way: literal or read when it runs")
    func prometheusHeaders() throws {
        let config = try load([.replace("Pipelines/app.yaml",
            #"- prometheus: { url: "http://prometheus:9090", query: "up", max: 0.05 }"#, with: """
            - prometheus:
                      url: https://prometheus.example.com
                      query: up
                      max: 0.05
                      headers: { Authorization: { valueFrom: { file: /run/secrets/prometheus } }, X-Scope-OrgID: shop }
            """)])
        guard case .prometheus(let gate)? = config.pipeline(named: "app")?.stages[1].gates.last else {
            Issue.record("no Prometheus gate")
            return
        }
        #expect(gate.headers == [HTTPHeader(name: "Authorization", valueFrom: .file("/run/secrets/prometheus")),
                                 HTTPHeader(name: "X-Scope-OrgID", value: "shop")])
        let decoded = try JSONDecoder().decode(PrometheusGate.self, from: Data(#"{"url":"u","query":"q","interval":"30s","count":1,"failureLimit":0}"#.utf8))
        #expect(decoded.headers == [])
    }

    @Test("instance.yaml names the install; every environment carries the name; a bad one is an error with its line")
    func instance() throws {
        let files = try #require(ConfigFixture.files([]))
        let loader = ConfigLoader(variables: ["HOME": "/home/tester"])
        let named = try loader.load(environments: files.environments, pipelines: files.pipelines,
                                    instance: ConfigFile(path: "instance.yaml", text: "apiVersion: baton/v1\nkind: Instance\nname: platform-eu\n"),
                                    baseDirectory: "/config")
        #expect(named.instance == "platform-eu")
        #expect(named.environments.allSatisfy { $0.instance == "platform-eu" })
        let unnamed = try loader.load(environments: files.environments, pipelines: files.pipelines, baseDirectory: "/config")
        #expect(unnamed.instance == nil && unnamed.environments.allSatisfy { $0.instance == nil })
        do {
            _ = try loader.load(environments: files.environments, pipelines: files.pipelines,
                                instance: ConfigFile(path: "instance.yaml", text: "apiVersion: baton/v1\nkind: Instanz\nname: Platform EU\n"),
                                baseDirectory: "/config")
            Issue.record("a bad instance.yaml was accepted")
        } catch {
            #expect(error.issues.map(\.description) == [
                "instance.yaml:2:7: kind: expected \"Instance\" (instance.yaml names this install), got \"Instanz\"",
                "instance.yaml:3:7: name: \"Platform EU\" is not a valid name: use 1 to 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit",
            ])
        }
    }

    @Test("JSON output hides header values that carry credentials")
    func headersRedacted() throws {
        let gate = HTTPGate(url: "https://x.example", headers: [HTTPHeader(name: "Authorization", value: "Bearer abc"),
                                                                HTTPHeader(name: "Accept", value: "text/plain")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        let json = String(decoding: try encoder.encode(gate), as: UTF8.self)
        #expect(!json.contains("Bearer abc"))
        #expect(json.contains("<redacted>"))
        #expect(json.contains("text/plain"))
    }

    @Test("windows: days by short or full name, overnight hours, defaults for the rest")
    func windows() throws {
        let config = try load([.replace("Pipelines/app.yaml", "- deny: { days: [sat, sun], timezone: Europe/Berlin }", with: """
            - allow: { days: [Monday, tue, WED], from: "22:00", to: "06:00", timezone: America/New_York }
                  - deny: {}
            """)])
        let windows = try #require(config.pipeline(named: "app")?.stages[2].windows)
        #expect(windows == [
            DeployWindow(effect: .allow, days: [.mon, .tue, .wed], from: TimeOfDay(minutes: 22 * 60),
                         to: TimeOfDay(minutes: 6 * 60), timezone: "America/New_York"),
            DeployWindow(effect: .deny, days: Weekday.allCases, from: .startOfDay, to: .endOfDay, timezone: "UTC"),
        ])
    }

    @Test("a local repository path resolves against the configuration folder")
    func localRepo() throws {
        let config = try load([.replace("Pipelines/app.yaml", "https://git.example.com/org/config.git", with: "../repos/config.git")])
        let repo = try #require(config.pipeline(named: "app")?.repo)
        #expect(repo.isLocal)
        #expect(repo.location == "/repos/config.git")
        #expect(repo.url == "../repos/config.git")
    }

    @Test("scp-like, ssh and (insecure) git URLs are remote", arguments: ["git@github.com:org/config.git", "ssh://git@host/org/config.git", "git://127.0.0.1/config.git"])
    func remoteRepo(_ url: String) throws {
        let config = try load([.replace("Pipelines/app.yaml", "https://git.example.com/org/config.git", with: url),
                               .replace("Pipelines/app.yaml", "  branch: main", with: "  branch: main\n  insecure: \(url.hasPrefix("git://"))")])
        let repo = try #require(config.pipeline(named: "app")?.repo)
        #expect(!repo.isLocal)
        #expect(repo.location == url)
    }

    @Test("a folder on disk loads with paths named as the user gave the folder")
    func loadsFolder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for (path, text) in ConfigFixture.environments.merging(ConfigFixture.pipelines, uniquingKeysWith: { a, _ in a }) {
            try dir.write("conf/" + path, text)
        }
        try dir.write("conf/Environments/README.md", "not configuration")
        try dir.write("conf/Environments/.hidden.yaml", "not: loaded")
        let config = try ConfigLoader(variables: ["HOME": "/h"]).load(directory: dir.path + "/conf")
        #expect(config.environments.map(\.name) == ["dev", "production", "staging"])
        #expect(config.environment(named: "dev")?.file == dir.path + "/conf/Environments/dev.yaml")

        try dir.write("conf/Environments/dev.yaml", "name: [")
        #expect {
            try ConfigLoader(variables: ["HOME": "/h"]).load(directory: dir.path + "/conf")
        } throws: { error in
            (error as? ConfigError)?.issues.first?.file == dir.path + "/conf/Environments/dev.yaml"
        }
    }

    @Test("a missing or empty folder is an error that names it")
    func missingFolder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(throws: ConfigError.self) { try ConfigLoader().load(directory: dir.path + "/nope") }
        do {
            _ = try ConfigLoader().load(directory: dir.path)
            Issue.record("an empty folder loaded")
        } catch {
            #expect(error.description == "\(dir.path): no configuration here: expected Environments/*.yaml and Pipelines/*.yaml")
        }
    }
}
