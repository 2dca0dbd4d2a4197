import AuditStore
import BatonCore
import Foundation
import KubeSim

/// The real `baton run` (the release binary beside this one) against three KubeSim clusters
/// and a git repository: how long a commit on the source branch takes to reach dev Healthy
/// (1 s poll), and to reach production Healthy through a 3-stage pipeline with zero soak and an
/// approval the benchmark gives as soon as it is asked for. The peer is `kubectl apply
/// --server-side` of the same manifests plus `kubectl rollout status`, to dev alone and to the
/// three clusters one after the other: the same work done by hand, without git, polling or gates.
/// Then the peak memory (VmHWM) of `baton run` keeping three environments of 1,000 objects each,
/// against `kubectl apply --server-side` of one environment's 1,000 objects.
enum PipelineBench {
    final class Setup: @unchecked Sendable {
        let dir: String
        var servers: [String: KubeSimServer] = [:]
        var run: Process?

        init(label: String) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-\(label)-\(UUID().uuidString.prefix(8))").path
            for folder in ["repo/app", "home", "tmp"] {
                try FileManager.default.createDirectory(atPath: dir + "/" + folder, withIntermediateDirectories: true)
            }
        }

        var gitEnvironment: [String: String] {
            ["HOME": dir + "/home", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "Dana",
             "GIT_AUTHOR_EMAIL": "dana@example.com", "GIT_COMMITTER_NAME": "Dana", "GIT_COMMITTER_EMAIL": "dana@example.com",
             "PATH": "/usr/bin:/bin"]
        }

        func git(_ arguments: [String]) async throws {
            guard try await SyncBench.run("/usr/bin/git", arguments, in: dir + "/repo", environment: gitEnvironment) == 0 else {
                throw KubeSimError(message: "git \(arguments.joined(separator: " ")) failed")
            }
        }

        func start(manual: Bool, rollout: Duration) async throws {
            var configuration = KubeSimServer.Configuration()
            configuration.rolloutDelay = rollout
            for name in ["dev", "staging", "production"] { servers[name] = try await KubeSimServer.start(configuration) }
            try write("kubeconfig", SimKubeconfig.yaml(["dev", "staging", "production"].map { ($0, servers[$0]!) }))
            for name in ["dev", "staging", "production"] {
                try write("Environments/\(name).yaml", """
                    apiVersion: baton/v1
                    kind: Environment
                    name: \(name)
                    cluster: {kubeconfig: \(dir)/kubeconfig, context: baton-\(name)}
                    namespace: app
                    source: {path: app}
                    sync: {interval: 30s, timeout: 5m}
                    """)
            }
            try write("Pipelines/app.yaml", """
                apiVersion: baton/v1
                kind: Pipeline
                name: app
                identity: unverified
                repo: {url: ./repo, branch: main, poll: 1s}
                stages:
                  - environment: dev
                  - environment: staging
                  - environment: production
                    \(manual ? "promote: manual\n    approval: {required: 1}" : "promote: auto")
                """)
        }

        func write(_ path: String, _ text: String) throws {
            let url = URL(fileURLWithPath: dir + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }

        func startRun(tick: String = "100ms") throws {
            let process = Process()
            // BATON_BENCH_WRAP runs baton under a profiler (`/usr/bin/heaptrack -o FILE`); its
            // figures are then the profiler's process's, not to be compared.
            let wrapper = (ProcessInfo.processInfo.environment["BATON_BENCH_WRAP"] ?? "").split(separator: " ").map(String.init)
            process.executableURL = URL(fileURLWithPath: wrapper.first ?? PipelineBench.baton)
            process.arguments = wrapper.dropFirst() + (wrapper.isEmpty ? [] : [PipelineBench.baton]) + ["run", "--dir", dir, "--tick", tick]
            process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": dir + "/tmp"]) { $1 }
            _ = FileManager.default.createFile(atPath: dir + "/run.log", contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/run.log"))
            process.standardOutput = log
            process.standardError = log
            try process.run()
            run = process
        }

        /// Stops `baton run` (SIGTERM) and returns the counts it prints when it stops: write
        /// transactions of promotion state and reads of it.
        func stopRun() -> (transactions: Int, reads: Int)? {
            guard let run, run.isRunning else { return nil }
            kill(run.processIdentifier, SIGTERM)
            run.waitUntilExit()
            self.run = nil
            let text = (try? String(contentsOfFile: dir + "/run.log", encoding: .utf8)) ?? ""
            guard let line = text.split(separator: "\n").last(where: { $0.contains("write transactions of promotion state") }) else { return nil }
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return numbers.count >= 2 ? (numbers[0], numbers[1]) : nil
        }

        func phase(_ environment: String, _ revision: String) -> String? {
            (try? AuditStore(path: dir + "/.baton/baton.db").promotions(environment: environment, revision: revision))?.last?.phase
        }

        func waitFor(_ what: String, timeout: Double = 120, _ condition: () async throws -> Bool) async throws {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if try await condition() { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw KubeSimError(message: "timed out waiting for \(what)")
        }

        func close() async {
            if let run, run.isRunning {
                kill(run.processIdentifier, SIGTERM)
                run.waitUntilExit()
            }
            for server in servers.values { await server.stop() }
            // BATON_BENCH_KEEP_LOG=FILE keeps the output of the last `baton run` (it showed the
            // false set-backs that cost 500 pipelines a second per commit).
            if let keep = ProcessInfo.processInfo.environment["BATON_BENCH_KEEP_LOG"] {
                try? FileManager.default.removeItem(atPath: keep)
                try? FileManager.default.copyItem(atPath: dir + "/run.log", toPath: keep)
            }
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    static var baton: String {
        (Bundle.main.executableURL?.deletingLastPathComponent().path ?? ".") + "/baton"
    }

    static func app(image: String) -> [String: String] {
        ["app/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n",
         "app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
         "app/deployment.yaml": deployment(image: image)]
    }

    /// One replica of `image`, named web.
    static func deployment(image: String) -> String {
        """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: "\(image)"}]}
            """
    }

    /// `kubectl apply --server-side` of `folder` into `namespace` and `rollout status` of the
    /// Deployment, on `context`.
    static func kubectlDeploy(_ setup: Setup, context: String, folder: String, namespace: String) async throws {
        try await SyncBench.kubectl(["apply", "--server-side", "-f", folder, "-n", namespace, "--kubeconfig", setup.dir + "/kubeconfig",
                                     "--context", context])
        try await SyncBench.kubectl(["rollout", "status", "deployment/web", "-n", namespace, "--timeout", "60s",
                                     "--kubeconfig", setup.dir + "/kubeconfig", "--context", context])
    }

    static func latency(repetitions: Int) async throws -> [ResultRow] {
        let setup = try Setup(label: "pipeline")
        do {
            let rows = try await latency(setup, repetitions: repetitions)
            await setup.close()
            return rows
        } catch {
            await setup.close()
            throw error
        }
    }

    static func latency(_ setup: Setup, repetitions: Int) async throws -> [ResultRow] {
        try await setup.start(manual: true, rollout: .milliseconds(300))
        for (path, text) in app(image: "web:0") { try setup.write("repo/" + path, text) }
        try await setup.git(["init", "-q", "-b", "main"])
        try await setup.git(["add", "-A"])
        try await setup.git(["commit", "-q", "-m", "web 0"])
        try setup.startRun()
        var toDev: [Double] = [], toProduction: [Double] = [], kubectlDev: [Double] = [], kubectlAll: [Double] = []
        for round in 1...repetitions + 1 {
            // Round 1 only brings the pipeline to a steady state (namespaces created, caches warm).
            for (path, text) in app(image: "web:\(round)") { try setup.write("repo/" + path, text) }
            try await setup.git(["commit", "-q", "-am", "web \(round)"])
            let started = ContinuousClock.now
            var revision = ""
            try await setup.git(["rev-parse", "HEAD"])
            revision = String(decoding: try Data(contentsOf: URL(fileURLWithPath: setup.dir + "/repo/.git/refs/heads/main")), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await setup.waitFor("dev verified") { setup.phase("dev", revision) == "verified" }
            let dev = ContinuousClock.now - started
            try await setup.waitFor("production awaiting approval") {
                (try? AuditStore(path: setup.dir + "/.baton/baton.db").events(pipeline: "app").last {
                    $0.kind == "awaiting-approval" && $0.revision == revision
                }) != nil
            }
            let approve = try await SyncBench.run(baton, ["approve", "app", "production", "--dir", setup.dir], in: nil,
                                                  environment: ProcessInfo.processInfo.environment.merging(["BATON_ACTOR": "olivia@example.com"]) { $1 })
            guard approve == 0 else { throw KubeSimError(message: "baton approve exited \(approve)") }
            try await setup.waitFor("production verified") { setup.phase("production", revision) == "verified" }
            let production = ContinuousClock.now - started
            // The same release by hand: into other namespaces, so the two never share objects.
            let folder = setup.dir + "/kubectl-\(round)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (path, text) in app(image: "web:\(round)") where !path.hasSuffix("namespace.yaml") {
                try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/" + (path as NSString).lastPathComponent))
            }
            if round == 1 {
                for context in ["baton-dev", "baton-staging", "baton-production"] {
                    try await SyncBench.kubectl(["create", "namespace", "byhand", "--kubeconfig", setup.dir + "/kubeconfig", "--context", context])
                }
            }
            let clock = ContinuousClock()
            let byHandDev = try await clock.measure { try await kubectlDeploy(setup, context: "baton-dev", folder: folder, namespace: "byhand") }
            let byHandAll = try await clock.measure {
                for context in ["baton-dev", "baton-staging", "baton-production"] {
                    try await kubectlDeploy(setup, context: context, folder: folder, namespace: "byhand")
                }
            }
            if round > 1 {
                toDev.append(dev.seconds)
                toProduction.append(production.seconds)
                kubectlDev.append(byHandDev.seconds)
                kubectlAll.append(byHandAll.seconds)
            }
            print(String(format: "round %d: commit → dev Healthy %.2f s, → production Healthy %.2f s; kubectl dev %.2f s, three clusters %.2f s",
                         round, dev.seconds, production.seconds, byHandDev.seconds, byHandAll.seconds))
        }
        // What the driver wrote and read: per promotion step (a revision's promotion into one
        // stage, from entering to verified), and reads of the saved state after the start.
        var counts: [ResultRow] = []
        let steps = (try? AuditStore(path: setup.dir + "/.baton/baton.db").promotions().count) ?? 0
        if let (transactions, reads) = setup.stopRun(), steps > 0 {
            print("baton run: \(transactions) write transactions for \(steps) promotion steps; \(reads) reads of the saved state (1 at start)")
            counts = [
                ResultRow(benchmark: "pipeline", figure: "SQLite write transactions per promotion step", baton: Double(transactions) / Double(steps),
                          peerName: nil, peer: nil, unit: "", repetitions: 1),
                ResultRow(benchmark: "pipeline", figure: "reads of the saved state after start (one pipeline)", baton: Double(reads - 1),
                          peerName: "goal", peer: 0, unit: "", repetitions: 1),
            ]
        }
        return [
            ResultRow(benchmark: "pipeline", figure: "commit → dev Healthy (1 s poll, 300 ms rollout)", baton: median(toDev),
                      peerName: "kubectl apply --server-side + rollout status (dev)", peer: median(kubectlDev), unit: "s", repetitions: repetitions),
            ResultRow(benchmark: "pipeline", figure: "commit → production Healthy (3 stages, zero soak, approval given at once)",
                      baton: median(toProduction), peerName: "the same, to the three clusters in turn", peer: median(kubectlAll), unit: "s",
                      repetitions: repetitions),
        ] + counts
    }

    static func memory(kubectlRepetitions: Int) async throws -> [ResultRow] {
        let setup = try Setup(label: "memory")
        do {
            let rows = try await memory(setup, kubectlRepetitions: kubectlRepetitions)
            await setup.close()
            return rows
        } catch {
            await setup.close()
            throw error
        }
    }

    static func memory(_ setup: Setup, kubectlRepetitions: Int) async throws -> [ResultRow] {
        try await setup.start(manual: false, rollout: .milliseconds(300))
        for index in 0..<1000 { try setup.write("repo/app/" + String(format: "%04d.yaml", index), ApplyBench.manifest(index)) }
        try setup.write("repo/app/namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n")
        try await setup.git(["init", "-q", "-b", "main"])
        try await setup.git(["add", "-A"])
        try await setup.git(["commit", "-q", "-m", "app"])
        try setup.startRun()
        guard let pid = setup.run?.processIdentifier else { throw KubeSimError(message: "baton run did not start") }
        let revision = String(decoding: try Data(contentsOf: URL(fileURLWithPath: setup.dir + "/repo/.git/refs/heads/main")), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try await setup.waitFor("the 1,000 objects verified in production", timeout: 600) { setup.phase("production", revision) == "verified" }
        try await Task.sleep(for: .seconds(3))  // a few more reconcile passes over all three
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "") else {
            throw KubeSimError(message: "no VmHWM in /proc/\(pid)/status")
        }
        var kubectl: [Double] = []
        for round in 0..<kubectlRepetitions {
            let namespace = "kubectl-\(round)"
            try await SyncBench.kubectl(["create", "namespace", namespace, "--kubeconfig", setup.dir + "/kubeconfig", "--context", "baton-dev"])
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/time")
            process.arguments = ["-f", "%M", "-o", setup.dir + "/time-\(round)", "/usr/bin/kubectl", "apply", "--server-side", "-f",
                                 setup.dir + "/repo/app", "-n", namespace, "--kubeconfig", setup.dir + "/kubeconfig", "--context", "baton-dev"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            let text = try String(contentsOfFile: setup.dir + "/time-\(round)", encoding: .utf8)
            guard let peak = Double(text.split(separator: "\n").last { !$0.isEmpty } ?? "") else {
                throw KubeSimError(message: "/usr/bin/time printed no peak: \(text)")
            }
            kubectl.append(peak / 1024)
        }
        print(String(format: "baton run, three environments of 1,000 objects: peak %.0f MiB; kubectl apply of 1,000 objects: %.0f MiB",
                     kilobytes / 1024, median(kubectl)))
        return [ResultRow(benchmark: "memory", figure: "peak RSS of baton run, 3 environments × 1,000 objects",
                          baton: kilobytes / 1024, peerName: "kubectl apply --server-side of 1,000 objects (one environment)",
                          peer: median(kubectl), unit: "MiB", repetitions: 1)]
    }
}
