import Foundation

/// One figure of a benchmark: Baton's, and the peer's measured in the same run.
struct ResultRow: Sendable {
    var benchmark: String
    var figure: String
    var baton: Double
    var peerName: String?
    var peer: Double?
    /// How the numbers read: "ms", "s", "req/s", "MiB", "µs".
    var unit: String
    var repetitions: Int
    /// Lower is better (times, memory); higher for rates.
    var lowerIsBetter = true

    var ratio: Double? { peer.map { baton / $0 } }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

enum ResultsFile {
    static func format(_ value: Double, _ unit: String) -> String {
        switch unit {
        case "req/s", "MiB": String(format: "%.0f %@", value, unit)
        case "ms", "µs": String(format: "%.1f %@", value, unit)
        default: String(format: "%.2f %@", value, unit)
        }
    }

    static func machine() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown CPU"
        var name = utsname()
        uname(&name)
        func text<T>(_ field: T) -> String { withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        return "\(text(name.sysname)) \(text(name.release)) \(text(name.machine)), \(cpu), "
            + "\(ProcessInfo.processInfo.activeProcessorCount) cores, \(String(format: "%.1f", memory)) GiB"
    }

    /// The table of every figure, as markdown.
    static func markdown(_ rows: [ResultRow], started: Date, finished: Date) -> String {
        var lines = ["# Benchmark results", "",
                     "- machine: \(machine())",
                     "- date: \(started.formatted(.iso8601)) (took \(Int(finished.timeIntervalSince(started))) s)",
                     "- written by `make bench`; every figure is the median of the repetitions shown, Baton's and the peer's",
                     "  measured in the same run on the same machine. Ratio = Baton / peer (below 1: Baton is faster or smaller;",
                     "  for rates, above 1 is better).", "",
                     "| benchmark | figure | Baton | peer | peer's figure | ratio | repetitions |",
                     "|---|---|---:|---|---:|---:|---:|"]
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
        for row in rows {
            lines.append("| \(row.benchmark) | \(cell(row.figure)) | \(format(row.baton, row.unit)) | \(cell(row.peerName ?? "—")) | "
                + "\(row.peer.map { format($0, row.unit) } ?? "—") | \(row.ratio.map { String(format: "%.2f", $0) } ?? "—") | \(row.repetitions) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
