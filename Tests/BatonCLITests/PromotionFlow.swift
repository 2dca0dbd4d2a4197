import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import KubeSim
import Spawn
import Testing

/// A real config repository, three KubeSim clusters in this process (dev, staging,
/// production), and the real `baton` binary: `baton run` as a child process, the promotion
/// commands as further ones.
final class PromotionFlow: @unchecked Sendable {
    let dir: TemporaryDirectory
    let git: GitCLI
    let servers: [String: KubeSimServer]
    private var run: ChildProcess?
    private var startsBefore = 0
    var runLogPath: String { dir.path + "/run.log" }

    struct Options {
        var soaks = ["dev": "1s", "staging": "1s", "production": "0s"]
        var productionManual = true
        var approval = "{required: 2, approvers: [alice@example.com, bob@example.com, carol@example.com]}"
        var poll = "1s"
        /// Serve the repository with `git daemon` and let the pipeline follow its git:// URL.
        var remote = false
        /// More gates for staging, as YAML flow mappings (`{http: {...}}`).
        var stagingGates: [String] = []
        /// Production's deploy windows, as YAML flow mappings (`{deny: {...}}`).
        var productionWindows: [String] = []
        /// Every environment's `sync.timeout`.
        var syncTimeout = "40s"
    }

    let options: Options
    private(set) var repoURL = "./repo"

    /// The daemon serving `served/config.git` when the flow is remote.
    private(set) var daemon: GitDaemon?
    var servedPath: String { dir.path + "/served/config.git" }

    init(_ label: String, _ options: Options = Options()) async throws {
        self.options = options
        dir = try TemporaryDirectory(label)
        for folder in ["home", "repo", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir.path + "/" + folder, withIntermediateDirectories: true)
        }
        git = GitCLI(directory: dir.path + "/repo", home: dir.path + "/home")
        try await git.run(["init", "-q", "-b", "main"])
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(300)
        var servers: [String: KubeSimServer] = [:]
        for name in ["dev", "staging", "production"] { servers[name] = try await KubeSimServer.start(configuration) }
        self.servers = servers
        try dir.write("kubeconfig", SimKubeconfig.yaml(["dev", "staging", "production"].map { ($0, servers[$0]!) }))
        for name in ["dev", "staging", "production"] {
            try dir.write("Environments/\(name).yaml", """
                apiVersion: baton/v1
                kind: Environment
                name: \(name)
                cluster: {kubeconfig: \(dir.path)/kubeconfig, context: baton-\(name)}
                namespace: guestbook
                source: {path: app}
                sync: {interval: 1s, timeout: \(options.syncTimeout)}
                """)
        }
        var url = "./repo"
        if options.remote {
            try FileManager.default.createDirectory(atPath: dir.path + "/served", withIntermediateDirectories: true)
            try await GitCLI(directory: dir.path + "/served", home: dir.path + "/home").run(["init", "-q", "--bare", "-b", "main", "config.git"])
            let daemon = try await GitDaemon(basePath: dir.path + "/served")
            self.daemon = daemon
            url = daemon.url("config.git")
            try await git.run(["remote", "add", "origin", servedPath])
        }
        repoURL = url
        try writePipeline(options)
    }

    /// Writes Pipelines/guestbook.yaml for `options`.
    func writePipeline(_ options: Options) throws {
        let production = options.productionManual ? "promote: manual\n    approval: \(options.approval)" : "promote: auto"
        let staging = (["{health: {soak: \(options.soaks["staging"]!)}}"] + options.stagingGates).joined(separator: ", ")
        try dir.write("Pipelines/guestbook.yaml", """
            apiVersion: baton/v1
            kind: Pipeline
            name: guestbook
            identity: \(options.approval.contains("keys:") ? "verified" : "unverified")
            repo: {url: "\(repoURL)", branch: main, poll: \(options.poll)\(repoURL.hasPrefix("git://") ? ", insecure: true" : "")}
            stages:
              - environment: dev
                gates: [{health: {soak: \(options.soaks["dev"]!)}}]
              - environment: staging
                gates: [\(staging)]
              - environment: production
                \(production)
                windows: [\(options.productionWindows.joined(separator: ", "))]
                gates: [{health: {soak: \(options.soaks["production"]!)}}]
            """)
    }

    /// Commits the guestbook with `image` as `author`; returns the commit id.
    @discardableResult
    func release(_ image: String, by author: String, deadline: Int = 60) async throws -> String {
        var git = self.git
        git.author = (name: author, email: author)
        let commit = try await git.commit("guestbook \(image)", files: [
            "app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: guestbook}\n",
            "app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: guestbook}\nspec: {selector: {app: guestbook}, ports: [{port: 80}]}\n",
            "app/settings.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guestbook-settings}\ndata: {IMAGE: \"\(image)\"}\n",
            "app/deployment.yaml": """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: guestbook}
                spec:
                  replicas: 1
                  progressDeadlineSeconds: \(deadline)
                  selector: {matchLabels: {app: guestbook}}
                  template:
                    metadata: {labels: {app: guestbook}}
                    spec: {containers: [{name: guestbook, image: "\(image)"}]}
                """,
        ])
        if daemon != nil { try await git.run(["push", "-q", "origin", "main"]) }
        return commit
    }

    /// The commands' environment: isolated from this machine's git config, home and ssh-agent.
    var environment: [String: String] {
        ["TMPDIR": dir.path + "/tmp", "HOME": dir.path + "/home", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
         "SSH_AUTH_SOCK": ""]
    }

    /// Runs a `baton` command as `actor`.
    func baton(_ arguments: [String], as actor: String = "operator@example.com") async throws -> CommandRun {
        var environment = self.environment
        environment["BATON_ACTOR"] = actor
        return try await CommandRun.run(CommandRun.batonPath, arguments + ["--dir", dir.path], environment: environment)
    }

    /// Starts `baton run`, appending its output to run.log.
    func start() throws {
        startsBefore = runOutput().components(separatedBy: Self.started).count
        // Both streams appended to run.log (opened by the child, O_APPEND: the two never
        // overwrite each other).
        run = try ChildProcess(CommandRun.batonPath, ["run", "--dir", dir.path, "--tick", "200ms"],
                               environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
                               standardInput: .null, standardOutput: .file(runLogPath, append: true), standardError: .file(runLogPath, append: true))
    }

    /// What `baton run` prints once it is running (its signal handlers in place).
    static let started = "stop with Ctrl-C"

    /// Stops `baton run` with `signal` and waits for it; returns its exit status.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        guard let run else { return 0 }
        if signal != SIGKILL {
            // A graceful stop is asked of a running baton run: before its handlers are in place
            // (the first instants of the process) a signal ends it the default way.
            let deadline = ContinuousClock.now + .seconds(30)
            while run.isRunning, runOutput().components(separatedBy: Self.started).count <= startsBefore, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        run.signal(signal)
        let signalled = ContinuousClock.now
        while run.isRunning, ContinuousClock.now - signalled < .seconds(60) { try? await Task.sleep(for: .milliseconds(20)) }
        if run.isRunning {
            // A stop that never ends fails the test rather than holding the whole run.
            Issue.record("baton run was still running 60 s after signal \(signal); killed")
            run.signal(SIGKILL)
        }
        let termination = await run.wait()
        self.run = nil
        return termination.status
    }

    func runOutput() -> String {
        (try? String(contentsOfFile: runLogPath, encoding: .utf8)) ?? ""
    }

    func audit() throws -> AuditStore { try AuditStore(path: dir.path + "/.baton/baton.db") }

    /// The commit an environment's ref points at, read with git.
    /// For a remote flow, the served repository's ref.
    func ref(_ environment: String) async -> String? {
        let git = daemon == nil ? self.git : GitCLI(directory: servedPath, home: dir.path + "/home")
        return try? await git.line("rev-parse", "--verify", "-q", "refs/heads/env/\(environment)")
    }

    /// The phase of `revision` in `environment` as the audit log's promotion table has it.
    func phase(_ environment: String, _ revision: String) -> String? {
        (try? audit().promotions(environment: environment, revision: revision))?.last?.phase
    }

    /// The image the production (or another) cluster runs for the guestbook.
    func image(in environment: String) async -> String? {
        guard let server = servers[environment],
              let type = await server.state.type(plural: "deployments", group: "apps"),
              let live = try? await server.state.get(type, namespace: "guestbook", name: "guestbook") else { return nil }
        return live[path: ["spec", "template", "spec", "containers"]]?.array?.first?["image"]?.string
    }

    /// Waits (up to `seconds`) until `condition` holds; records an issue with `what` and
    /// `baton run`'s output otherwise.
    func wait(_ what: String, seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation,
              _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("timed out waiting for \(what); baton run printed:\n\(runOutput())", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    func close() async {
        await stop(SIGKILL)
        daemon?.stop()
        // Before the servers' graceful stops: the last tests of a run are closed from a task the
        // process may not wait for, and their folders were left behind.
        dir.remove()
        for server in servers.values { await server.stop() }
    }
}
