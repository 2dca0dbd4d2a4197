import AuditStore
import BatonCore
import Foundation
import KubeSim

/// N small pipelines (dev → staging → production, each a Namespace, a ConfigMap and a
/// Deployment) in one real `baton run` against the three KubeSim clusters, all from one
/// repository polled every second (each pipeline's `repo.paths` its own folder), every sync
/// interval 30 s, `baton run`'s default tick (1 s): how long until every pipeline's
/// first revision is verified in production, how many failed, commit → dev verified for one
/// pipeline while all run, API requests per minute and CPU of `baton run` at rest, and the peak
/// memory of `baton run` and of this process (which holds the three KubeSim servers).
enum ScaleBench {
    struct Figures {
        var pipelines: Int
        var allInProduction: Double
        var failed: Int
        var devP50: Double
        var devMax: Double
        var requestsPerMinute: Double
        var listsPerMinute: Double
        var idleCPU: Double
        var batonRSS: Double
        var simRSS: Double
        /// What the three KubeSim clusters added to this process: its peak RSS less its RSS before
        /// they started (the bench itself does little besides).
        var simShare: Double
        /// Commit → dev samples taken, and the 99th percentile of them (nearest rank; nil with
        /// fewer than 100 samples, which cannot tell a p99).
        var devSamples: Int
        var devP99: Double?
        /// At the sizes BATON_BENCH_OUTAGES lists (default 100): for each fault, seconds from
        /// the clusters' return until every pipeline's dev verified the commit made to every
        /// pipeline meanwhile, and the revisions that failed.
        var outages: [OutageFigures] = []
    }

    /// What the three clusters do for 30 s.
    enum Outage: String, CaseIterable {
        /// Connections accepted, nothing answered (answers held until it ends).
        case frozen
        /// Every byte lost; connections that carried one meanwhile stay half-open.
        case blackHoled = "black-holed"
    }

    struct OutageFigures {
        var outage: Outage
        var secondsAfterReturn: Double
        var failed: Int
    }

    /// How many of one pipeline's commits are timed to dev while every pipeline runs: 100 at
    /// the goal's size (500 pipelines: enough for a p99), 10 below.
    static func devSamples(_ pipelines: Int) -> Int {
        Int(ProcessInfo.processInfo.environment["BATON_BENCH_DEV_SAMPLES"] ?? "") ?? (pipelines >= 500 ? 100 : 10)
    }

    static func run(pipelines count: Int) async throws -> Figures {
        // The bench process's peak RSS is measured per size: reset it (Linux's clear_refs "5"),
        // or it would carry the peak of every benchmark run before in this process. The reset
        // starts from the current RSS, so first hand back what malloc still holds of the
        // benchmarks before (KubeSim with 10,000 objects): without it this row read 600-700 MiB.
        // (malloc_trim is not in the Glibc module: found by name.)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
        }
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let baseline = residentMiB(getpid())
        let setup = try PipelineBench.Setup(label: "scale-\(count)")
        do {
            var figures = try await run(setup, count: count)
            figures.simShare = figures.simRSS - baseline
            await setup.close()
            return figures
        } catch {
            await setup.close()
            throw error
        }
    }

    static func manifests(_ index: Int, image: String) -> [String: String] {
        ["repo/apps/p\(index)/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: p\(index)}\n",
         "repo/apps/p\(index)/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: bench}\n",
         "repo/apps/p\(index)/deployment.yaml": PipelineBench.deployment(image: image)]
    }

    static func run(_ setup: PipelineBench.Setup, count: Int) async throws -> Figures {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(300)
        let clusters = ["dev", "staging", "production"]
        for name in clusters { setup.servers[name] = try await KubeSimServer.start(configuration) }
        try setup.write("kubeconfig", SimKubeconfig.yaml(clusters.map { ($0, setup.servers[$0]!) }))
        for index in 0..<count {
            for cluster in clusters {
                try setup.write("Environments/p\(index)-\(cluster).yaml", """
                    apiVersion: baton/v1
                    kind: Environment
                    name: p\(index)-\(cluster)
                    cluster: {kubeconfig: \(setup.dir)/kubeconfig, context: baton-\(cluster)}
                    namespace: p\(index)
                    source: {path: apps/p\(index)}
                    sync: {interval: 30s, timeout: 5m}
                    """)
            }
            try setup.write("Pipelines/p\(index).yaml", """
                apiVersion: baton/v1
                kind: Pipeline
                name: p\(index)
                repo: {url: ./repo, branch: main, poll: 1s, paths: [apps/p\(index)]}
                stages:
                  - environment: p\(index)-dev
                  - environment: p\(index)-staging
                  - environment: p\(index)-production
                """)
            for (path, text) in manifests(index, image: "web:1") { try setup.write(path, text) }
        }
        try await setup.git(["init", "-q", "-b", "main"])
        try await setup.git(["add", "-A"])
        try await setup.git(["commit", "-q", "-m", "first"])
        let started = ContinuousClock.now
        try setup.startRun(tick: "1s")  // baton run's default
        let database = setup.dir + "/.baton/baton.db"
        func promotions() -> [PromotionRecord] {
            (try? AuditStore(path: database).promotions()) ?? []
        }
        try await setup.waitFor("every pipeline in production", timeout: 900) {
            try await Task.sleep(for: .milliseconds(500))
            return promotions().filter { $0.environment.hasSuffix("-production") && $0.phase == "verified" }.count >= count
        }
        let allInProduction = (ContinuousClock.now - started).seconds

        // One pipeline's commits while every pipeline runs.
        var toDev: [Double] = []
        for round in 2...(1 + devSamples(count)) {
            for (path, text) in manifests(0, image: "web:\(round)") { try setup.write(path, text) }
            try await setup.git(["commit", "-q", "-am", "p0 \(round)"])
            let revision = String(decoding: try Data(contentsOf: URL(fileURLWithPath: setup.dir + "/repo/.git/refs/heads/main")), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let commit = ContinuousClock.now
            try await setup.waitFor("p0 dev verified", timeout: 120) { setup.phase("p0-dev", revision) == "verified" }
            toDev.append((ContinuousClock.now - commit).seconds)
        }
        // Let p0's last commit walk on to production, then measure at rest.
        let last = String(decoding: try Data(contentsOf: URL(fileURLWithPath: setup.dir + "/repo/.git/refs/heads/main")), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try await setup.waitFor("p0's last commit verified in production", timeout: 300) {
            try await Task.sleep(for: .milliseconds(250))
            return setup.phase("p0-production", last) == "verified"
        }
        try await Task.sleep(for: .seconds(2))
        let pid = setup.run?.processIdentifier ?? 0
        func total() -> (all: Int, lists: Int) {
            var all = 0, lists = 0
            for server in setup.servers.values {
                for method in ["GET", "PATCH", "POST", "PUT", "DELETE", "DRYRUN-PATCH"] { all += server.requests.count(method) }
                lists += server.requests.count("GET")
            }
            return (all, lists)
        }
        let before = total(), cpuBefore = cpuSeconds(pid), restStart = ContinuousClock.now
        try await Task.sleep(for: .seconds(30))
        let after = total(), cpuAfter = cpuSeconds(pid)
        let rest = (ContinuousClock.now - restStart).seconds
        let failures = promotions().filter { $0.phase == "failed" }
        let failed = failures.count
        for (reason, count) in Dictionary(grouping: failures, by: { $0.reason ?? "" }).mapValues(\.count).sorted(by: { $0.value > $1.value }).prefix(5) {
            print("failed \(count)×: \(reason)")
        }
        var outages: [OutageFigures] = []
        let outageSizes = (ProcessInfo.processInfo.environment["BATON_BENCH_OUTAGES"] ?? "100").split(separator: ",").compactMap { Int($0) }
        if outageSizes.contains(count) {
            for outage in Outage.allCases {
                let failedBefore = promotions().filter { $0.phase == "failed" }.count
                for server in setup.servers.values {
                    switch outage {
                    case .frozen: await server.simulation.faults.freeze(for: .seconds(30))
                    case .blackHoled: server.simulation.faults.blackHole.open(for: .seconds(30))
                    }
                }
                let began = ContinuousClock.now
                for index in 0..<count {
                    try setup.write("repo/apps/p\(index)/config.yaml",
                                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: \(outage.rawValue)}\n")
                }
                try await setup.git(["commit", "-q", "-am", "every pipeline, while the clusters are \(outage.rawValue)"])
                let revision = String(decoding: try Data(contentsOf: URL(fileURLWithPath: setup.dir + "/repo/.git/refs/heads/main")), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                try await Task.sleep(until: began + .seconds(30))
                let back = ContinuousClock.now
                try await setup.waitFor("every pipeline's dev verified after the clusters were \(outage.rawValue)", timeout: 300) {
                    try await Task.sleep(for: .milliseconds(250))
                    return promotions().filter { $0.environment.hasSuffix("-dev") && $0.revision == revision && $0.phase == "verified" }.count >= count
                }
                outages.append(OutageFigures(outage: outage, secondsAfterReturn: (ContinuousClock.now - back).seconds,
                                             failed: promotions().filter { $0.phase == "failed" }.count - failedBefore))
            }
        }
        let sorted = toDev.sorted()
        let p99 = sorted.count >= 100 ? sorted[Int((0.99 * Double(sorted.count)).rounded(.up)) - 1] : nil
        return Figures(pipelines: count, allInProduction: allInProduction, failed: failed, devP50: sorted[sorted.count / 2],
                       devMax: sorted.last ?? 0, requestsPerMinute: Double(after.all - before.all) * 60 / rest,
                       listsPerMinute: Double(after.lists - before.lists) * 60 / rest, idleCPU: (cpuAfter - cpuBefore) / rest,
                       batonRSS: peakRSS(pid), simRSS: peakRSS(getpid()), simShare: 0, devSamples: sorted.count, devP99: p99,
                       outages: outages)
    }

    /// User and system CPU seconds of `pid` so far (/proc/PID/stat).
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The peak resident set of `pid` in MiB (VmHWM).
    static func peakRSS(_ pid: Int32) -> Double { status(pid, "VmHWM:") }

    /// The resident set of `pid` now, in MiB (VmRSS).
    static func residentMiB(_ pid: Int32) -> Double { status(pid, "VmRSS:") }

    private static func status(_ pid: Int32, _ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kib = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kib / 1024
    }

    static func table(_ rows: [Figures]) -> String {
        var lines = ["| pipelines (environments) | all in production | failed | commit → dev verified p50 / p99 / max (samples) | requests/min at rest (GET) | idle CPU of baton run | peak RSS baton run | peak RSS bench + 3 KubeSim (KubeSim's share) |",
                     "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in rows {
            lines.append(String(format: "| %d (%d) | %.1f s | %d | %.2f / %@ / %.2f s (%d) | %.0f (%.0f) | %.1f %% | %.0f MiB | %.0f MiB (%.0f MiB) |", row.pipelines,
                                row.pipelines * 3, row.allInProduction, row.failed, row.devP50, row.devP99.map { String(format: "%.2f", $0) } ?? "-",
                                row.devMax, row.devSamples, row.requestsPerMinute,
                                row.listsPerMinute, row.idleCPU * 100, row.batonRSS, row.simRSS, row.simShare))
        }
        for row in rows {
            for outage in row.outages {
                lines.append(String(format: "\n%d pipelines, the three clusters %@ for 30 s with a commit to every pipeline meanwhile: every dev "
                    + "verified %.1f s after they came back; %d revisions failed", row.pipelines, outage.outage.rawValue,
                    outage.secondsAfterReturn, outage.failed))
            }
        }
        return lines.joined(separator: "\n")
    }
}
