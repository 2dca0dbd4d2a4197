// `make bench`: Baton's benchmarks. Each prints figures, against a peer measured in the same
// run where one exists; tests assert behaviour, benchmarks only measure.
import Foundation

let repetitions = Int(ProcessInfo.processInfo.environment["BATON_BENCH_REPETITIONS"] ?? "") ?? 15
try await GitStoreBench.run(repetitions: repetitions)
print("")
try await KubeSimBench.run(seconds: 5)
