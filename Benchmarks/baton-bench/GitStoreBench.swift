import Foundation
import GitStore

/// GitStore: read every file of a commit with 1,000 YAML files into memory, against
/// `git archive COMMIT | tar -x -C DIR` of the same commit; with the objects loose (as a
/// repository people commit to) and packed (as Baton's clone of a remote).
enum GitStoreBench {
    static func run(repetitions: Int) async throws -> [ResultRow] {
        var rows: [ResultRow] = []
        func sh(_ command: String, in directory: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
            process.environment = [
                "PATH": "/usr/bin:/bin", "HOME": directory, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
            ]
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw NSError(domain: "bench", code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: command])
            }
        }

        func milliseconds(_ body: () async throws -> Void) async rethrows -> Double {
            let clock = ContinuousClock()
            let elapsed = try await clock.measure { try await body() }
            let (seconds, attoseconds) = elapsed.components
            return Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        }

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repo = root + "/repo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        for i in 0..<1_000 {
            let path = "\(repo)/apps/app\(i % 10)/overlays/env\(i % 7)/object-\(i).yaml"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let body = (0..<20).map { "  key\($0): value-\(i)-\($0)\n" }.joined()
            try Data("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-\(i)\ndata:\n\(body)".utf8).write(to: URL(fileURLWithPath: path))
        }
        try sh("git -c init.defaultBranch=main init -q && git add -A && git commit -q -m bench", in: repo)

        print("GitStore vs git archive: all 1,000 YAML files of one commit, \(repetitions) repetitions, median wall time")
        print("")
        print("| objects | GitStore read (store open) | GitStore open + read | git archive \\| tar -x | ratio (open) | ratio (open + read) | GitStore materialise to disk | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for layout in ["loose", "packed"] {
            if layout == "packed" { try sh("git gc -q --prune=now", in: repo) }
            var ours: [Double] = [], theirs: [Double] = [], toDisk: [Double] = [], warm: [Double] = []
            // Baton keeps its store open: the first operation checks the loose objects once.
            let store = try await GitStore.open(repo)
            _ = try await store.readFiles(at: "HEAD")
            for round in 0..<repetitions {
                var count = 0
                ours.append(try await milliseconds {
                    let store = try await GitStore.open(repo)
                    count = try await store.readFiles(at: "HEAD") { $0.path.hasSuffix(".yaml") }.count
                })
                guard count == 1_000 else { fatalError("GitStore read \(count) files, expected 1000") }
                warm.append(try await milliseconds {
                    count = try await store.readFiles(at: "HEAD") { $0.path.hasSuffix(".yaml") }.count
                })
                let out = root + "/archive-\(layout)-\(round)"
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                theirs.append(try await milliseconds { try sh("git archive HEAD | tar -x -C '\(out)'", in: repo) })
                try FileManager.default.removeItem(atPath: out)
                let cache = root + "/cache-\(layout)-\(round)"
                toDisk.append(try await milliseconds {
                    _ = try await GitStore.open(repo).materialize("HEAD", into: cache)
                })
                try FileManager.default.removeItem(atPath: cache)
            }
            let w = median(warm), a = median(ours), b = median(theirs), c = median(toDisk)
            rows.append(ResultRow(benchmark: "git read", figure: "1,000 files of a commit (\(layout) objects, store open)", baton: w,
                                  peerName: "git archive | tar -x", peer: b, unit: "ms", repetitions: repetitions))
            rows.append(ResultRow(benchmark: "git read", figure: "1,000 files of a commit (\(layout) objects, open + read)", baton: a,
                                  peerName: "git archive | tar -x", peer: b, unit: "ms", repetitions: repetitions))
            print(String(format: "| %@ | %.1f ms | %.1f ms | %.1f ms | %.2f | %.2f | %.1f ms | %.2f |", layout, w, a, b, w / b, a / b, c, c / b))
        }
        print("")
        print("ratio = GitStore / git archive; below 0.5 means GitStore takes at most half the time. Open + read includes")
        print("checking every loose object once (the guard against libgit2 1.5 hanging on a truncated one).")
        print("Both git archive and materialise write 1,000 files to disk; open + read keeps them in memory, as the renderer does.")

        return rows
    }
}
