import ArgumentParser
import Foundation
import BatonCore
import KubeSim

/// `baton sim`: local simulated clusters.
struct Sim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run local simulated Kubernetes clusters (KubeSim) to try Baton without a cluster.",
        subcommands: [Up.self]
    )

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "up",
            abstract: "Start one KubeSim server per cluster and write a kubeconfig for them; runs until interrupted."
        )

        @Option(help: "Comma-separated cluster names; each gets the context baton-NAME.")
        var clusters: String = "dev,staging,production"

        @Option(help: "Where to write the kubeconfig.")
        var kubeconfig: String = ".baton/sim/kubeconfig"

        @Option(help: "How long a rollout takes in the simulation (e.g. 1s, 500ms).")
        var rolloutDelay: String = "1s"

        @Option(help: "A folder to keep each cluster's objects in (NAME.json), so that they survive a restart.")
        var state: String?

        @Option(help: "Fault injection: latency added to every answer (e.g. 200ms).")
        var latency: String = "0s"

        @Option(help: "Fault injection: the share of answers that are 500 (0 to 1).")
        var errorRate: Double = 0

        @Option(help: "Fault injection: the share of answers that are 429 with Retry-After (0 to 1).")
        var throttleRate: Double = 0

        @Flag(help: "Serve plain HTTP instead of HTTPS (debugging only).")
        var http = false

        @Option(name: .customLong("user"), help: ArgumentHelp(
            "Add a user (repeatable) with context NAME@baton-CLUSTER, in GROUP if given. It may do only what RBAC bindings grant it.",
            valueName: "NAME[:GROUP]"))
        var users: [String] = []

        func run() async throws {
            let names = clusters.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw ValidationError("--clusters names no cluster") }
            guard let delay = Duration(config: rolloutDelay) else {
                throw ValidationError("--rollout-delay: expected a duration such as 1s, got \"\(rolloutDelay)\"")
            }
            guard let latency = Duration(config: latency), latency >= .zero else {
                throw ValidationError("--latency: expected a duration such as 200ms, got \"\(self.latency)\"")
            }
            guard (0...1).contains(errorRate), (0...1).contains(throttleRate), errorRate + throttleRate <= 1 else {
                throw ValidationError("--error-rate and --throttle-rate must lie between 0 and 1 and add up to at most 1")
            }
            let extraUsers = try Self.users(users)
            var running: [(name: String, server: KubeSimServer)] = []
            for name in names {
                var configuration = KubeSimServer.Configuration()
                for user in extraUsers { configuration.users[Self.newToken()] = user }
                configuration.tls = !http
                configuration.rolloutDelay = delay
                configuration.faults = Faults.Settings(latencyMs: Int(latency.totalMilliseconds), errorRate: errorRate,
                                                       throttleRate: throttleRate)
                if let state {
                    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
                    configuration.stateFile = state + "/" + name + ".json"
                }
                running.append((name, try await KubeSimServer.start(configuration)))
            }
            let url = URL(fileURLWithPath: kubeconfig)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(SimKubeconfig.yaml(running).utf8).write(to: url, options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: url.path)
            for (name, server) in running {
                let others = extraUsers.map { "\($0.name)@baton-\(name)" }
                Terminal.out("cluster \(name): \(server.url) (context baton-\(name)\(others.isEmpty ? "" : "; " + others.joined(separator: ", ")))")
            }
            Terminal.out("""

                Kubeconfig written to \(url.path). Try:
                  export KUBECONFIG=\(url.path)
                  kubectl --context baton-dev get namespaces
                  kubectl --context baton-dev create deployment web --image=nginx:1.27 --dry-run=client -o yaml \\
                    | kubectl --context baton-dev apply --server-side -f -
                  kubectl --context baton-dev wait --for=condition=Available deployment/web
                  kubectl --context baton-dev get deployments
                Press Ctrl-C to stop the clusters.
                """)
            await Self.waitForInterrupt()
            // All at once: a signal should stop them within a second.
            let stopping = ContinuousClock.now
            await withTaskGroup(of: Void.self) { group in
                for (_, server) in running { group.addTask { await server.stop() } }
            }
            let took = ContinuousClock.now - stopping
            Terminal.out("clusters stopped in \(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000) ms")
        }

        /// The users of `--user NAME[:GROUP]`.
        static func users(_ specs: [String]) throws -> [UserInfo] {
            var seen: Set<String> = []
            return try specs.map { spec in
                let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0], group = parts.count > 1 ? parts[1] : nil
                guard !name.isEmpty, group.map({ !$0.isEmpty }) ?? true, !name.contains("@") else {
                    throw ValidationError("--user: expected NAME or NAME:GROUP, got \"\(spec)\"")
                }
                guard name != UserInfo.admin.name, !name.hasPrefix("system:"), group != "system:masters" else {
                    throw ValidationError("--user \(spec): that identity is reserved (the admin context is already all-powerful)")
                }
                guard seen.insert(name).inserted else { throw ValidationError("--user \(name) is given twice") }
                return UserInfo(name: name, groups: group.map { [$0] } ?? [])
            }
        }

        static func newToken() -> String {
            (0..<2).map { _ in UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") }.joined()
        }

        /// Returns on SIGINT or SIGTERM.
        static func waitForInterrupt() async {
            let (stream, continuation) = AsyncStream<Int32>.makeStream()
            var sources: [any DispatchSourceSignal] = []
            for signal in [SIGINT, SIGTERM] {
                Foundation.signal(signal, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signal)
                source.setEventHandler { continuation.yield(signal) }
                source.resume()
                sources.append(source)
            }
            for await _ in stream { break }
            sources.forEach { $0.cancel() }
        }
    }
}
