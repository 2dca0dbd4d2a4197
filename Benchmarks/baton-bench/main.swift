// `make bench`: every benchmark of the project in one go. Each compares Baton with a peer
// measured in the same run; the figures go to stdout as they come and, as one table with the
// machine and the date, to bench/RESULTS.md. Tests assert behaviour; benchmarks only measure.
// BATON_BENCH_ONLY=git|kubesim|apply|sync|pipeline|scale|audit|trust|memory runs one of them;
// BATON_BENCH_KEEP_LOG=FILE keeps the output of the last `baton run` a benchmark started.
import Foundation

let environment = ProcessInfo.processInfo.environment
let repetitions = Int(environment["BATON_BENCH_REPETITIONS"] ?? "") ?? 3
let only = environment["BATON_BENCH_ONLY"]
let started = Date()
var rows: [ResultRow] = []
func wanted(_ name: String) -> Bool { only == nil || only == name }

if wanted("git") {
    rows += try await GitStoreBench.run(repetitions: max(repetitions, 15))
    print("")
}
if wanted("kubesim") {
    var gets: [Double] = [], plainGets: [Double] = [], applies: [Double] = []
    for _ in 0..<repetitions {
        let rates = try await KubeSimBench.run(seconds: 3)
        gets.append(rates.gets)
        plainGets.append(rates.plainGets)
        applies.append(rates.applies)
        print("")
    }
    rows.append(ResultRow(benchmark: "KubeSim", figure: "GET one of 10,000 objects, RBAC on, a Role-bound user (wrk, 16 connections)",
                          baton: median(gets), peerName: "target", peer: 10000, unit: "req/s", repetitions: repetitions, lowerIsBetter: false))
    rows.append(ResultRow(benchmark: "KubeSim", figure: "GET one of 10,000 objects, RBAC on", baton: median(gets),
                          peerName: "the same requests with RBAC off", peer: median(plainGets), unit: "req/s", repetitions: repetitions,
                          lowerIsBetter: false))
    rows.append(ResultRow(benchmark: "KubeSim", figure: "server-side apply, RBAC on (wrk, 16 connections)", baton: median(applies),
                          peerName: nil, peer: nil, unit: "req/s", repetitions: repetitions, lowerIsBetter: false))
}
if wanted("apply") {
    var kubectl: [Double] = [], baton: [Double] = []
    for _ in 0..<repetitions {
        let times = try await ApplyBench.run()
        kubectl.append(times.kubectl)
        baton.append(times.baton)
        print("")
    }
    rows.append(ResultRow(benchmark: "apply", figure: "server-side apply of 1,000 manifests", baton: median(baton),
                          peerName: "kubectl apply --server-side -f DIR", peer: median(kubectl), unit: "s", repetitions: repetitions))
}
if wanted("sync") {
    var runs: [[Double]] = []
    for _ in 0..<repetitions {
        runs.append(try await SyncBench.run())
        print("")
    }
    rows.append(ResultRow(benchmark: "sync", figure: "cold sync of 1,000 objects from git", baton: median(runs.map { $0[1] }),
                          peerName: "kubectl apply --server-side -f DIR", peer: median(runs.map { $0[0] }), unit: "s", repetitions: repetitions))
    rows.append(ResultRow(benchmark: "sync", figure: "no-op re-sync of 1,000 objects", baton: median(runs.map { $0[3] }),
                          peerName: "kubectl apply --server-side -f DIR again", peer: median(runs.map { $0[2] }), unit: "s",
                          repetitions: repetitions))
}
if wanted("pipeline") {
    rows += try await PipelineBench.latency(repetitions: repetitions)
    print("")
}
if wanted("audit") {
    rows += try await AuditBench.run(repetitions: repetitions)
    print("")
}
if wanted("trust") {
    rows += try await StatementBench.run(repetitions: repetitions)
    print("")
}
if wanted("scale") {
    // BATON_BENCH_SCALE lists the sizes (default 1,10,100,500 pipelines); each runs once.
    let sizes = (environment["BATON_BENCH_SCALE"] ?? "1,10,100,500").split(separator: ",").compactMap { Int($0) }
    var figures: [ScaleBench.Figures] = []
    for size in sizes {
        figures.append(try await ScaleBench.run(pipelines: size))
        print(ScaleBench.table(figures))
        print("")
        fflush(nil)  // each size's figures as they come, also into a pipe or a file
    }
    for row in figures {
        let large = row.pipelines >= 500
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: every first revision in production", baton: row.allInProduction,
                              peerName: large ? "goal" : nil, peer: large ? 120 : nil, unit: "s", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: idle CPU of baton run (% of a core)",
                              baton: row.idleCPU * 100, peerName: large ? "goal" : nil, peer: large ? 10 : nil, unit: "%", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: peak RSS of baton run", baton: row.batonRSS,
                              peerName: large ? "goal" : nil, peer: large ? 250 : nil, unit: "MiB", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: API requests per minute at rest",
                              baton: row.requestsPerMinute, peerName: nil, peer: nil, unit: "req/min", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: failed revisions", baton: Double(row.failed),
                              peerName: large ? "goal" : nil, peer: large ? 0 : nil, unit: "", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: peak RSS of the bench process with its 3 KubeSim clusters",
                              baton: row.simRSS, peerName: nil, peer: nil, unit: "MiB", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: KubeSim's share of it (peak less the RSS before the clusters started)",
                              baton: row.simShare, peerName: nil, peer: nil, unit: "MiB", repetitions: 1))
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: commit → dev verified for one of them, p50",
                              baton: row.devP50, peerName: nil, peer: nil, unit: "s", repetitions: row.devSamples))
        if let p99 = row.devP99 {
            rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: commit → dev verified for one of them, p99",
                                  baton: p99, peerName: large ? "goal" : nil, peer: large ? 3 : nil, unit: "s", repetitions: row.devSamples))
        }
        rows.append(ResultRow(benchmark: "scale", figure: "\(row.pipelines) pipelines: commit → dev verified for one of them, slowest of \(row.devSamples)",
                              baton: row.devMax, peerName: nil, peer: nil, unit: "s", repetitions: row.devSamples))
        for outage in row.outages {
            rows.append(ResultRow(benchmark: "scale",
                                  figure: "\(row.pipelines) pipelines: every dev verified after 30 s \(outage.outage.rawValue) (\(outage.failed) failed)",
                                  baton: outage.secondsAfterReturn, peerName: "goal", peer: 10, unit: "s", repetitions: 1))
        }
    }
}
if wanted("memory") {
    rows += try await PipelineBench.memory(kubectlRepetitions: repetitions)
    print("")
}

let table = ResultsFile.markdown(rows, started: started, finished: Date())
print(table)
try FileManager.default.createDirectory(atPath: "bench", withIntermediateDirectories: true)
try Data(table.utf8).write(to: URL(fileURLWithPath: "bench/RESULTS.md"))
print("written to bench/RESULTS.md")
