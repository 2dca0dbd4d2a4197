import BatonCore
import Testing

/// One broken configuration and the exact problems `baton validate` must report for it.
struct InvalidCase: Sendable, CustomTestStringConvertible {
    let name: String
    let edits: [ConfigFixture.Edit]
    let expected: [String]

    init(_ name: String, _ edits: [ConfigFixture.Edit], _ expected: String...) {
        self.name = name
        self.edits = edits
        self.expected = expected
    }

    var testDescription: String { name }
}

private let dev = "Environments/dev.yaml"
private let staging = "Environments/staging.yaml"
private let production = "Environments/production.yaml"
private let app = "Pipelines/app.yaml"

let invalidCases: [InvalidCase] = [
    InvalidCase("YAML syntax error", [.replace(app, "  branch: main", with: "  branch: [main")],
                "Pipelines/app.yaml:7:7: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 6, column 11)"),
    InvalidCase("tab in indentation", [.replace(dev, "  context: dev", with: "\tcontext: dev")],
                "Environments/dev.yaml:5:1: invalid YAML: found character that cannot start any token (while scanning for the next token at line 5, column 1)"),
    InvalidCase("empty file", [.set(dev, "")],
                "Environments/dev.yaml:1:1: the file is empty; it must hold one object"),
    InvalidCase("only comments", [.set(staging, "# nothing here yet\n")],
                "Environments/staging.yaml:1:1: the file is empty; it must hold one object"),
    InvalidCase("several documents", [.set(dev, ConfigFixture.environment("dev") + "---\n" + ConfigFixture.environment("qa"))],
                "Environments/dev.yaml:13:1: the file holds more than one YAML document; put one object in each file"),
    InvalidCase("non-UTF-8 bytes", [.setBytes(dev, Array("apiVersion: baton/v1\nkind: Environment\nname: d".utf8) + [0xFF] + Array("ev\n".utf8))],
                "Environments/dev.yaml:3:8: the file is not valid UTF-8 (byte 0xff at offset 46)"),
    InvalidCase("a key given twice", [.replace(dev, "namespace: app", with: "namespace: app\nnamespace: web")],
                "Environments/dev.yaml:6:1: key \"namespace\" appears more than once in this mapping"),
    InvalidCase("wrong apiVersion", [.replace(dev, "baton/v1", with: "baton/v2")],
                "Environments/dev.yaml:1:13: apiVersion: expected \"baton/v1\", got \"baton/v2\""),
    InvalidCase("wrong kind", [.replace(staging, "kind: Environment", with: "kind: Pipeline")],
                "Environments/staging.yaml:2:7: kind: expected \"Environment\" (a file in Environments/), got \"Pipeline\""),
    InvalidCase("name differs from the file name", [.replace(staging, "name: staging", with: "name: stage")],
                "Environments/staging.yaml:3:7: name: \"stage\" does not match the file name; name the file stage.yaml or the object \"staging\""),
    InvalidCase("invalid name", [.replace(app, "name: app", with: "name: App_1")],
                "Pipelines/app.yaml:3:7: name: \"App_1\" is not a valid name: use 1 to 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit"),
    InvalidCase("top-level key misspelt", [.replace(dev, "namespace: app", with: "namepsace: app")],
                "Environments/dev.yaml:6:1: namepsace: unknown key \"namepsace\"; did you mean \"namespace\"?"),
    InvalidCase("gate key misspelt", [.replace(app, "{ soak: 30s }", with: "{ sok: 30s }")],
                "Pipelines/app.yaml:11:19: stages[0].gates[0].health.sok: unknown key \"sok\"; did you mean \"soak\"?"),
    InvalidCase("request budget of zero", [.replace(dev, "  context: dev", with: "  context: dev\n  qps: 0")],
                "Environments/dev.yaml:6:8: cluster.qps: must be more than 0, got 0.0"),
    InvalidCase("burst that is not a whole number", [.replace(dev, "  context: dev", with: "  context: dev\n  burst: lots")],
                "Environments/dev.yaml:6:10: cluster.burst: expected a whole number, got \"lots\""),
    InvalidCase("unknown key far from any", [.replace(dev, "  prune: true", with: "  prune: true\n  color: blue")],
                "Environments/dev.yaml:12:3: sync.color: unknown key \"color\"; expected one of interval, prune, selfHeal, timeout, createNamespace, allowEmpty, adopt"),
    InvalidCase("scope: a namespace that cannot be one, a cluster kind with too many parts, a misspelt key",
                [.replace(dev, "  prune: true", with: "  prune: true\nscope:\n  namespaces: [app, Team_A, \"team-*\"]\n  clusterResources: [Namespace, a/b/c]\n  clusterResource: []")],
                "Environments/dev.yaml:13:21: scope.namespaces[1]: \"Team_A\" is not a namespace or a pattern of one (lowercase letters, digits, \"-\" and \"*\")",
                "Environments/dev.yaml:14:33: scope.clusterResources[1]: expected KIND or GROUP/KIND (\"*\" for any), such as apiextensions.k8s.io/CustomResourceDefinition, got \"a/b/c\"",
                "Environments/dev.yaml:15:3: scope.clusterResource: unknown key \"clusterResource\"; did you mean \"clusterResources\"?"),
    InvalidCase("source.limits: a size that is not one, a count of zero",
                [.replace(dev, "  path: apps/dev", with: "  path: apps/dev\n  limits: {fileBytes: 8MB, objects: 0}")],
                "Environments/dev.yaml:9:23: source.limits.fileBytes: expected a byte count such as 4096, 512Ki or 8Mi, got \"8MB\"",
                "Environments/dev.yaml:9:37: source.limits.objects: must be at least 1, got 0"),
    InvalidCase("a token as the URL's user name is refused without being repeated",
                [.replace(app, "https://git.example.com/org/config.git", with: "https://ghp_SECRET123@git.example.com/org/config.git")],
                "Pipelines/app.yaml:5:8: repo.url: the URL carries credentials (before \"@\"), which would be printed and stored wherever the URL is: remove them and let git's credential helpers or the environment provide them"),
    InvalidCase("git:// without repo.insecure",
                [.replace(app, "https://git.example.com/org/config.git", with: "git://git.example.com/org/config.git")],
                "Pipelines/app.yaml:5:8: repo.url: git:// carries the repository unencrypted and unauthenticated (anyone on the path can change what is deployed): use https:// or ssh://, or set repo.insecure: true"),
    InvalidCase("a token given twice",
                [.replace(app, "  branch: main", with: "  branch: main\n  tokenFile: secrets/token\n  tokenEnv: GIT_TOKEN")],
                "Pipelines/app.yaml:7:14: repo.tokenFile: give tokenFile or tokenEnv, not both"),
    InvalidCase("a token for an ssh remote",
                [.replace(app, "https://git.example.com/org/config.git", with: "ssh://git@git.example.com/org/config.git"),
                 .replace(app, "  branch: main", with: "  branch: main\n  tokenEnv: GIT_TOKEN")],
                "Pipelines/app.yaml:7:13: repo.tokenEnv: a token is for an https:// remote; \"ssh://git@git.example.com/org/config.git\" is not one"),
    InvalidCase("missing required key", [.replace(dev, "source:\n  path: apps/dev\n", with: "")],
                "Environments/dev.yaml:1:1: source: is required"),
    InvalidCase("number expected", [.replace(app, "max: 0.05", with: "max: low")],
                "Pipelines/app.yaml:15:72: stages[1].gates[1].prometheus.max: expected a number, got \"low\""),
    InvalidCase("list expected", [.replace(app, "approvers: [alice@example.com, bob@example.com]", with: "approvers: alice@example.com")],
                "Pipelines/app.yaml:20:18: stages[2].approval.approvers: expected a list, got \"alice@example.com\""),
    InvalidCase("mapping expected", [.replace(dev, "source:\n  path: apps/dev", with: "source: apps/dev")],
                "Environments/dev.yaml:7:9: source: expected a mapping, got \"apps/dev\""),
    InvalidCase("boolean expected", [.replace(dev, "prune: true", with: "prune: yes")],
                "Environments/dev.yaml:11:10: sync.prune: expected true or false, got \"yes\""),
    InvalidCase("duration without unit", [.replace(app, "poll: 15s", with: "poll: 15")],
                "Pipelines/app.yaml:7:9: repo.poll: expected a duration such as \"30s\", \"5m\" or \"1h30m\", got \"15\""),
    InvalidCase("duration in words", [.replace(app, "soak: 30s", with: "soak: 5 minutes")],
                "Pipelines/app.yaml:11:25: stages[0].gates[0].health.soak: expected a duration such as \"30s\", \"5m\" or \"1h30m\", got \"5 minutes\""),
    InvalidCase("zero interval", [.replace(dev, "interval: 30s", with: "interval: 0s")],
                "Environments/dev.yaml:10:13: sync.interval: must be longer than 0s"),
    InvalidCase("a path outside the repository, a path twice", [.replace(app, "poll: 15s", with: "poll: 15s\n  paths: [apps, ../other, apps/]")],
                "Pipelines/app.yaml:8:17: repo.paths[1]: \"../other\" is not a path inside the repository (relative, no \".\" or \"..\" parts)",
                "Pipelines/app.yaml:8:27: repo.paths[2]: \"apps/\" is listed twice"),
    InvalidCase("negative duration", [.replace(app, "poll: 15s", with: "poll: -15s")],
                "Pipelines/app.yaml:7:9: repo.poll: must not be negative, got \"-15s\""),
    InvalidCase("choice misspelt", [.replace(dev, "  path: apps/dev", with: "  path: apps/dev\n  render: kustomise")],
                "Environments/dev.yaml:9:11: source.render: expected one of auto, plain, kustomize, got \"kustomise\"; did you mean \"kustomize\"?"),
    InvalidCase("URL with another scheme", [.replace(app, "https://staging.example.com/healthz", with: "ftp://staging.example.com/healthz")],
                "Pipelines/app.yaml:14:22: stages[1].gates[0].http.url: the URL scheme must be https or http, got \"ftp\""),
    InvalidCase("URL without host", [.replace(app, "http://prometheus:9090", with: "http://")],
                "Pipelines/app.yaml:15:28: stages[1].gates[1].prometheus.url: the URL \"http://\" has no host"),
    InvalidCase("URL carrying a password", [.replace(app, "https://git.example.com", with: "https://bot:hunter2@git.example.com")],
                "Pipelines/app.yaml:5:8: repo.url: the URL carries credentials (before \"@\"), which would be printed and stored wherever the URL is: remove them and let git's credential helpers or the environment provide them"),
    InvalidCase("unknown time zone", [.replace(app, "Europe/Berlin", with: "Europe/Berln")],
                "Pipelines/app.yaml:22:45: stages[2].windows[0].deny.timezone: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?"),
    InvalidCase("unknown weekday", [.replace(app, "[sat, sun]", with: "[fry, sun]")],
                "Pipelines/app.yaml:22:24: stages[2].windows[0].deny.days[0]: unknown weekday \"fry\"; did you mean \"fri\"?"),
    InvalidCase("bad time of day", [.replace(app, "days: [sat, sun],", with: "days: [sat, sun], from: 9am,")],
                "Pipelines/app.yaml:22:41: stages[2].windows[0].deny.from: expected a time of day as HH:MM (24-hour clock), got \"9am\""),
    InvalidCase("duplicate environment name", [.set("Environments/dev.yml", ConfigFixture.environment("dev"))],
                "Environments/dev.yml:3:7: name: environment \"dev\" is already declared in Environments/dev.yaml"),
    InvalidCase("two request budgets for one cluster",
                [.replace("Environments/dev.yaml", "  context: dev\n", with: "  context: shared\n  qps: 20\n"),
                 .replace("Environments/staging.yaml", "  context: staging\n", with: "  context: shared\n  qps: 50\n  burst: 80\n")],
                "Environments/staging.yaml:6:8: cluster.qps: 50 differs from the 20 environment \"dev\" (Environments/dev.yaml) sets for the same cluster (context shared): the request budget is one per cluster; set it the same, or in one environment only"),
    InvalidCase("duplicate pipeline name", [.set("Pipelines/app.yml", ConfigFixture.pipelines[app]!)],
                "Pipelines/app.yml:3:7: name: pipeline \"app\" is already declared in Pipelines/app.yaml"),
    InvalidCase("stage names an unknown environment", [.replace(app, "- environment: staging", with: "- environment: stagin")],
                "Pipelines/app.yaml:12:18: stages[1].environment: unknown environment \"stagin\"; did you mean \"staging\"?"),
    InvalidCase("environment twice in a pipeline", [.replace(app, "- environment: production", with: "- environment: dev")],
                "Pipelines/app.yaml:16:18: stages[2].environment: environment \"dev\" appears twice in this pipeline (also stages[0])"),
    InvalidCase("environment in two pipelines", [.set("Pipelines/web.yaml", ConfigFixture.pipelines[app]!.replacingOccurrences(of: "name: app", with: "name: web"))],
                "Pipelines/web.yaml:9:18: stages[0].environment: environment \"dev\" already belongs to pipeline \"app\" (Pipelines/app.yaml); an environment can be in one pipeline only",
                "Pipelines/web.yaml:12:18: stages[1].environment: environment \"staging\" already belongs to pipeline \"app\" (Pipelines/app.yaml); an environment can be in one pipeline only",
                "Pipelines/web.yaml:16:18: stages[2].environment: environment \"production\" already belongs to pipeline \"app\" (Pipelines/app.yaml); an environment can be in one pipeline only"),
    InvalidCase("more approvals required than approvers", [.replace(app, "required: 2", with: "required: 3")],
                "Pipelines/app.yaml:19:17: stages[2].approval.required: 3 approvals are required but only 2 approvers are listed"),
    InvalidCase("empty pipeline", [.replace(app, "stages:", with: "stages: []\nunused:")],
                "Pipelines/app.yaml:8:9: stages: a pipeline needs at least one stage",
                "Pipelines/app.yaml:9:1: unused: unknown key \"unused\"; expected one of apiVersion, kind, name, repo, identity, stages"),
    InvalidCase("approvers without keys under verified identity (the default)", [.replace(app, "identity: unverified ", with: "identity: verified ")],
                "Pipelines/app.yaml:18:5: stages[2].approval: a manual stage's approvers need SSH keys (approvers: [{email: ..., keys: [...]}] "
                    + "or allowedSigners: FILE), so that an approval proves who gave it; or set identity: unverified on the pipeline to trust "
                    + "the identity a command claims"),
    InvalidCase("an identity that is neither", [.replace(app, "identity: unverified ", with: "identity: maybe ")],
                "Pipelines/app.yaml:23:11: identity: expected one of verified, unverified, got \"maybe\""),
    InvalidCase("approval on an auto stage", [.replace(app, "    promote: manual\n", with: "")],
                "Pipelines/app.yaml:17:5: stages[2].approval: an approval block needs \"promote: manual\" on its stage; an auto stage is never approved"),
    InvalidCase("status code out of range", [.replace(app, "expectStatus: 200", with: "expectStatus: [200, 700]")],
                "Pipelines/app.yaml:14:81: stages[1].gates[0].http.expectStatus[1]: 700 is not an HTTP status code (100 to 599)"),
    InvalidCase("a JSON pointer without its leading slash", [.replace(app, "expectStatus: 200", with: "expectStatus: 200, json: {pointer: status, equals: ok}")],
                "Pipelines/app.yaml:14:96: stages[1].gates[0].http.json.pointer: a JSON pointer is empty (the whole body) or starts with /, got \"status\""),
    InvalidCase("a JSON condition without equals", [.replace(app, "expectStatus: 200", with: "expectStatus: 200, json: {pointer: /status}")],
                "Pipelines/app.yaml:14:86: stages[1].gates[0].http.json.equals: is required"),
    InvalidCase("a CA file for a plain-HTTP URL", [.replace(app, "https://staging.example.com/healthz", with: "http://staging.example.com/healthz"),
                                                   .replace(app, "expectStatus: 200", with: "expectStatus: 200, caFile: ca.pem")],
                "Pipelines/app.yaml:14:87: stages[1].gates[0].http.caFile: caFile applies to an https URL only"),
    InvalidCase("failure limit that can never fail", [.replace(app, "max: 0.05", with: "max: 0.05, count: 3, failureLimit: 3")],
                "Pipelines/app.yaml:15:102: stages[1].gates[1].prometheus.failureLimit: must be less than count (3), or the gate could never fail"),
    InvalidCase("min above max", [.replace(app, "max: 0.05", with: "min: 1, max: 0.05")],
                "Pipelines/app.yaml:15:72: stages[1].gates[1].prometheus.min: min (1.0) is greater than max (0.05); no value could pass"),
    InvalidCase("prometheus without a range", [.replace(app, ", max: 0.05", with: "")],
                "Pipelines/app.yaml:15:21: stages[1].gates[1].prometheus: give min, max or both: the range a measurement must lie in"),
    InvalidCase("two kinds in one gate", [.replace(app, "- health: { soak: 30s }", with: "- health: { soak: 30s }\n        http: { url: \"https://x.example\" }")],
                "Pipelines/app.yaml:11:9: stages[0].gates[0]: a gate has exactly one kind, found health and http; make each its own list entry"),
    InvalidCase("invalid ref name", [.replace(dev, "namespace: app", with: "namespace: app\nref: env..dev")],
                "Environments/dev.yaml:7:6: ref: \"env..dev\" is not a valid git ref name: must not contain \"..\""),
    InvalidCase("ref that is the source branch", [.replace(dev, "namespace: app", with: "namespace: app\nref: main")],
                "Pipelines/app.yaml:9:18: stages[0].environment: environment \"dev\" uses ref \"main\", which is this pipeline's source branch; promotions would move the branch itself"),
    InvalidCase("path leaving the repository", [.replace(dev, "path: apps/dev", with: "path: ../secrets")],
                "Environments/dev.yaml:8:9: source.path: must not leave the repository with \"..\", got \"../secrets\""),
    InvalidCase("unset variable in kubeconfig", [.replace(dev, "  context: dev", with: "  kubeconfig: $BATON_TEST_UNSET/config\n  context: dev")],
                "Environments/dev.yaml:5:15: cluster.kubeconfig: environment variable BATON_TEST_UNSET is not set"),
    InvalidCase("every problem in one run", [
        .replace(dev, "prune: true", with: "prune: maybe"),
        .replace(staging, "interval: 30s", with: "interval: soon"),
        .replace(app, "{ soak: 30s }", with: "{ soak: 30s, extra: 1 }"),
    ],
                "Environments/dev.yaml:11:10: sync.prune: expected true or false, got \"maybe\"",
                "Environments/staging.yaml:10:13: sync.interval: expected a duration such as \"30s\", \"5m\" or \"1h30m\", got \"soon\"",
                "Pipelines/app.yaml:11:30: stages[0].gates[0].health.extra: unknown key \"extra\"; expected one of soak"),
]

@Suite("Invalid configuration")
struct InvalidConfigTests {
    @Test("reports the exact problem with file, line, column and key", arguments: invalidCases)
    func reports(_ testCase: InvalidCase) throws {
        let problems = try #require(ConfigFixture.problems(testCase.edits), "an edit found nothing to replace")
        #expect(problems == testCase.expected)
    }

    @Test("the fixture itself is valid")
    func fixtureIsValid() throws {
        #expect(try #require(ConfigFixture.problems([])) == [])
    }

    @Test("there are at least 30 cases")
    func enoughCases() {
        #expect(invalidCases.count >= 30)
    }
}
