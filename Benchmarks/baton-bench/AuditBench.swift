import AuditStore
import BatonCore
import Foundation
import KubeSim

/// The audit log with 100,000 events: appending them one transaction each (as `baton run`
/// does), then `baton audit who-changed` and `baton audit verify` (the release binary) on them.
/// Peers, measured in the same run on the same rows: the `sqlite3` command line inserting
/// 100,000 rows of the same size one transaction each (no hashing), selecting the same changes,
/// and reading every row once (what a verify cannot do with less).
enum AuditBench {
    static func run(events: Int = 100_000, repetitions: Int = 3) async throws -> [ResultRow] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-audit-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // BATON_BENCH_KEEP keeps the database for a look afterwards (its path is printed).
        let keep = ProcessInfo.processInfo.environment["BATON_BENCH_KEEP"] != nil
        defer { if keep { print("kept \(dir)") } else { try? FileManager.default.removeItem(atPath: dir) } }
        let path = dir + "/baton.db"
        let store = try AuditStore(path: path)
        let clock = ContinuousClock()
        let details: JSONValue = ["objects": ["update Deployment.apps shop/web", "update ConfigMap shop/settings"], "health": "Healthy"]
        let append = try clock.measure {
            for index in 0..<events {
                // One event in a hundred is a sync that changed the Deployment `web`.
                let records: [AuditRecord] = index % 100 == 0
                    ? [.syncResult(objects: [SyncedObject(kind: "Deployment", group: "apps", namespace: "shop", name: "web", action: "update")],
                                   errors: [])]
                    : []
                try store.append(EventDraft(kind: index % 100 == 0 ? "sync" : "verifying", actor: "baton", pipeline: "shop",
                                            environment: "production", revision: String(format: "%040x", index), details: details,
                                            records: records))
            }
        }
        // The peer: the same number of single-row transactions through the sqlite3 shell.
        var script = "PRAGMA journal_mode=WAL;\nCREATE TABLE event (sequence INTEGER PRIMARY KEY, time TEXT, actor TEXT, kind TEXT, revision TEXT, details TEXT, hash TEXT);\n"
        let detailText = String(decoding: details.encoded(), as: UTF8.self)
        for index in 0..<events {
            script += "BEGIN IMMEDIATE; INSERT INTO event VALUES (\(index + 1), '2026-11-27T00:00:00.000Z', 'baton', 'verifying', '\(String(format: "%040x", index))', '\(detailText)', '\(String(repeating: "0", count: 64))'); COMMIT;\n"
        }
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir + "/insert.sql"))
        let sqlite = try await clock.measure {
            let status = try await SyncBench.run("/bin/sh", ["-c", "sqlite3 '\(dir)/peer.db' < '\(dir)/insert.sql'"], in: nil, environment: nil)
            guard status == 0 else { throw KubeSimError(message: "sqlite3 exited \(status)") }
        }
        print(String(format: "append %d events: Baton %.1f s (%.0f µs each), sqlite3 %.1f s", events, append.seconds,
                     append.seconds / Double(events) * 1e6, sqlite.seconds))

        var whoChanged: [Double] = [], verify: [Double] = [], selectPeer: [Double] = [], scanPeer: [Double] = []
        let baton = PipelineBench.baton
        for _ in 0..<repetitions {
            whoChanged.append(try await clock.measure {
                let status = try await SyncBench.run(baton, ["audit", "who-changed", "deployment/web", "--env", "production", "--db", path,
                                                             "--output", "json"], in: nil, environment: nil)
                guard status == 0 else { throw KubeSimError(message: "baton audit who-changed exited \(status)") }
            }.seconds)
            verify.append(try await clock.measure {
                let status = try await SyncBench.run(baton, ["audit", "verify", "--db", path], in: nil, environment: nil)
                guard status == 0 else { throw KubeSimError(message: "baton audit verify exited \(status)") }
            }.seconds)
            selectPeer.append(try await clock.measure {
                _ = try await SyncBench.run("/usr/bin/sqlite3", [path, """
                    SELECT o.action, r.revision, r.time, e.actor FROM syncObject o JOIN syncResult r ON r.sequence = o.sequence
                    JOIN event e ON e.sequence = r.sequence WHERE o.environment = 'production' AND o.name = 'web' ORDER BY r.sequence
                    """], in: nil, environment: nil)
            }.seconds)
            scanPeer.append(try await clock.measure {
                _ = try await SyncBench.run("/usr/bin/sqlite3", [path, "SELECT sum(length(details) + length(hash) + length(actor)) FROM event"],
                                            in: nil, environment: nil)
            }.seconds)
        }
        return [
            ResultRow(benchmark: "audit", figure: "append \(events / 1000)k events, one transaction each (hash-chained, with records)",
                      baton: append.seconds, peerName: "sqlite3 shell, same rows, one transaction each, no hashing", peer: sqlite.seconds,
                      unit: "s", repetitions: 1),
            ResultRow(benchmark: "audit", figure: "baton audit who-changed over \(events / 1000)k events (\(events / 100) changes)",
                      baton: median(whoChanged), peerName: "sqlite3 selecting the same changes", peer: median(selectPeer), unit: "s",
                      repetitions: repetitions),
            ResultRow(benchmark: "audit", figure: "baton audit verify over \(events / 1000)k events", baton: median(verify),
                      peerName: "sqlite3 reading every row once", peer: median(scanPeer), unit: "s", repetitions: repetitions),
        ]
    }
}
