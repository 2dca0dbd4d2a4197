// `make bench`: Baton's benchmarks. Each prints figures, against a peer measured in the same
// run where one exists; tests assert behaviour, benchmarks only measure.
// BATON_BENCH_ONLY=git|kubesim|apply|sync runs one of them.
import Foundation

let environment = ProcessInfo.processInfo.environment
let repetitions = Int(environment["BATON_BENCH_REPETITIONS"] ?? "") ?? 15
let only = environment["BATON_BENCH_ONLY"]
if only == nil || only == "git" {
    try await GitStoreBench.run(repetitions: repetitions)
    print("")
}
if only == nil || only == "kubesim" {
    try await KubeSimBench.run(seconds: 5)
    print("")
}
if only == nil || only == "apply" {
    try await ApplyBench.run()
    print("")
}
if only == nil || only == "sync" {
    try await SyncBench.run()
}
