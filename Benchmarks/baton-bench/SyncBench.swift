import AuditStore
import BatonCore
import Foundation
import GitStore
import Kube
import KubeSim
import Manifests
import Reconciler

/// A 1,000-object application synced to one KubeSim cluster: Baton's reconciler (rendering
/// the revision from a real git repository, diffing against the cluster, applying what
/// differs) against `kubectl apply --server-side -f DIR` of the same files, cold (into an
/// empty namespace) and again with nothing changed. Targets: Baton at most half of kubectl's
/// time cold, at most a tenth on the no-op re-sync (kubectl sends everything again; Baton
/// sends nothing).
enum SyncBench {
    static func run() async throws -> [Double] {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .seconds(3600)
        let server = try await KubeSimServer.start(configuration)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-sync-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/repo/app", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/home", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for index in 0..<1000 {
            try Data(ApplyBench.manifest(index).utf8).write(to: URL(fileURLWithPath: dir + "/repo/app/" + String(format: "%04d.yaml", index)))
        }
        // Commit them with git itself, isolated from the machine's configuration.
        let environment = ["HOME": dir + "/home", "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@baton.invalid",
                           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@baton.invalid", "PATH": "/usr/bin:/bin"]
        for arguments in [["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "app"]] {
            guard try await run("/usr/bin/git", arguments, in: dir + "/repo", environment: environment) == 0 else {
                throw KubeSimError(message: "git \(arguments.joined(separator: " ")) failed")
            }
        }
        try Data(SimKubeconfig.yaml([("bench", server)]).utf8).write(to: URL(fileURLWithPath: dir + "/kubeconfig"))
        let resolved = try Kubeconfig.load(paths: [dir + "/kubeconfig"]).resolve()
        let setup = try KubeClient(resolved)
        for namespace in ["bench-kubectl", "bench-baton"] {
            try await setup.apply(.object(["apiVersion": "v1", "kind": "Namespace", "metadata": .object(["name": .string(namespace)])]))
        }

        let kubectlArguments = ["apply", "--server-side", "-f", dir + "/repo/app", "-n", "bench-kubectl", "--kubeconfig", dir + "/kubeconfig"]
        let clock = ContinuousClock()
        // Each measured run starts on a cluster at rest: the simulated controllers finished
        // with what the run before wrote (300 Deployments' ReplicaSets, 300 Services'
        // Endpoints and EndpointSlices), so neither tool pays for the other's aftermath.
        func atRest() async throws {
            var last = await server.state.revision
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(300))
                let now = await server.state.revision
                if now == last { return }
                last = now
            }
        }
        try await atRest()
        let kubectlCold = try await clock.measure { try await kubectl(kubectlArguments) }
        try await atRest()
        let kubectlAgain = try await clock.measure { try await kubectl(kubectlArguments) }
        try await atRest()

        let store = try await GitStore.open(dir + "/repo")
        let revision = try await store.resolve("main").hex
        let target = EnvironmentConfig(name: "bench", namespace: "bench-baton", source: ManifestSource(path: "app", render: .plain),
                                       sync: SyncPolicy(prune: true))
        let inventory = try AuditStore(path: dir + "/baton.db")
        func reconciler() throws -> Reconciler {
            Reconciler(environment: target, client: try KubeClient(resolved), renderer: Renderer(store: store, cacheRoot: dir + "/cache"),
                       inventory: inventory)
        }
        // One reconciler for both passes, as the reconcile loop keeps one: the re-sync is the
        // loop's periodic pass over a revision it has synced.
        let baton = try reconciler()
        var cold: StatusReport?, again: StatusReport?
        let methods = ["GET", "PATCH", "DRYRUN-PATCH", "POST", "DELETE", "WATCH"]
        let requestsBefore = methods.map { server.requests.count($0) }
        let batonCold = await clock.measure { cold = await baton.sync(revision: revision) }
        if ProcessInfo.processInfo.environment["BATON_BENCH_DETAIL"] != nil {
            let sent = zip(methods, zip(requestsBefore, methods.map { server.requests.count($0) })).map { "\($0.0) \($0.1.1 - $0.1.0)" }
            print("detail: the cold sync sent " + sent.joined(separator: ", "))
            let gets = Dictionary(grouping: server.requests.paths("GET"), by: { $0 }).mapValues(\.count).sorted { $0.value > $1.value }.prefix(8)
            print("detail: GET paths so far (kubectl's included): \(gets.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))")
        }
        // The first pass after the cold sync meets what the controllers wrote meanwhile (the
        // Deployment controller's revision annotation): one dry run per such object. Measured
        // and printed once the controllers are done, then the no-op pass an idle interval makes.
        let watcher = try KubeClient(resolved)
        for _ in 0..<300 {
            let deployments = try await watcher.list(apiVersion: "apps/v1", kind: "Deployment", namespace: "bench-baton").items
            if deployments.allSatisfy({ $0[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] != nil }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        var settle: StatusReport?
        let dryRunsBefore = server.requests.count("DRYRUN-PATCH")
        let batonSettle = await clock.measure { settle = await baton.sync(revision: revision) }
        let settleDryRuns = server.requests.count("DRYRUN-PATCH") - dryRunsBefore
        let patches = server.requests.count("PATCH"), dryRuns = server.requests.count("DRYRUN-PATCH")
        let batonAgain = await clock.measure { again = await baton.sync(revision: revision) }
        guard let cold, cold.errors.isEmpty, cold.objects.count == 1000, let settle, settle.errors.isEmpty, let again, again.errors.isEmpty,
              again.objects.allSatisfy({ $0.action == .unchanged }) else {
            throw KubeSimError(message: "the Baton syncs did not do what was expected: \(cold?.errors ?? []) \(again?.errors ?? [])")
        }
        let sentAgain = server.requests.count("PATCH") - patches, dryRunsAgain = server.requests.count("DRYRUN-PATCH") - dryRuns
        if ProcessInfo.processInfo.environment["BATON_BENCH_DETAIL"] != nil {
            let probe = try reconciler()
            let render = try await clock.measure { _ = try await probe.renderer.render(revision: revision, path: "app", mode: .plain) }
            let desired = try await clock.measure { _ = try await probe.desired(revision: revision) }
            let plan = try await clock.measure { _ = try await probe.plan(revision: revision) }
            print(String(format: "detail: render %.3f s, render+normalise %.3f s, plan %.3f s",
                         render.seconds, desired.seconds, plan.seconds))
        }
        await server.stop()
        print("Sync of a 1,000-object application (400 ConfigMaps, 300 Services, 300 Deployments) to KubeSim over HTTPS")
        print("")
        print("| pass | kubectl apply --server-side -f DIR | Baton sync | Baton / kubectl | target |")
        print("|---|---:|---:|---:|---:|")
        print(String(format: "| cold (empty namespace) | %.2f s | %.2f s | %.2f | ≤ 0.50 |", kubectlCold.seconds, batonCold.seconds,
                     batonCold.seconds / kubectlCold.seconds))
        print(String(format: "| first re-sync (controllers wrote since) | %.2f s | %.2f s | %.2f | — |", kubectlAgain.seconds, batonSettle.seconds,
                     batonSettle.seconds / kubectlAgain.seconds))
        print(String(format: "| no-op re-sync | %.2f s | %.2f s | %.2f | ≤ 0.10 |", kubectlAgain.seconds, batonAgain.seconds,
                     batonAgain.seconds / kubectlAgain.seconds))
        print("\nDry runs on the first re-sync: \(settleDryRuns); on the no-op re-sync: \(dryRunsAgain) dry runs, \(sentAgain) applies")
        return [kubectlCold.seconds, batonCold.seconds, kubectlAgain.seconds, batonAgain.seconds]
    }

    static func kubectl(_ arguments: [String]) async throws {
        let status = try await run("/usr/bin/kubectl", arguments, in: nil, environment: nil)
        guard status == 0 else { throw KubeSimError(message: "kubectl \(arguments.prefix(2).joined(separator: " ")) exited with \(status)") }
    }

    static func run(_ executable: String, _ arguments: [String], in directory: String?, environment: [String: String]?) async throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if let environment { process.environment = environment }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }
}
