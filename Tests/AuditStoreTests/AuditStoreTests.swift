import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import Synchronization
import Testing

@Suite("AuditStore: the hash-chained log")
struct AuditStoreTests {
    func fill(_ store: AuditStore, count: Int) throws {
        for index in 1...count {
            try store.append(EventDraft(kind: index % 2 == 0 ? "promotion" : "approval", actor: "alice@example.com", pipeline: "shop",
                                        environment: "dev", revision: String(repeating: "a", count: 40),
                                        details: .object(["index": .int(Int64(index)), "note": .string("row \(index)")])))
        }
    }

    @Test("appends, reads back, verifies and exports")
    func appendVerifyExport() throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let store = try AuditStore(path: dir.path + "/.baton/baton.db")
        try fill(store, count: 50)
        #expect(try store.verify() == .intact(rows: 50))
        let events = try store.events()
        #expect(events.map(\.sequence) == Array(1...50))
        #expect(events.first?.previousHash == AuditEvent.genesis && events[1].previousHash == events[0].hash)
        #expect(events[4].details == #"{"index":5,"note":"row 5"}"#)
        #expect(try store.events(environment: "prod").isEmpty && store.events(pipeline: "shop", after: 45).count == 5)
        let lines = try store.exportJSONL().split(separator: "\n")
        #expect(lines.count == 50)
        let decoded = try JSONDecoder().decode(AuditEvent.self, from: Data(lines[9].utf8))
        #expect(decoded == events[9])
        // Reopening (another process would) continues the same chain.
        let again = try AuditStore(path: dir.path + "/.baton/baton.db")
        try again.append(EventDraft(kind: "note", actor: "bob@example.com"))
        #expect(try again.verify() == .intact(rows: 51))
    }

    func tamper(_ sql: String) async throws -> AuditStore.Verification {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        let store = try AuditStore(path: path)
        try fill(store, count: 10)
        // The attacker has the file: the append-only triggers go first.
        let run = try await CommandRun.run("/usr/bin/sqlite3", [path, Self.dropTriggers + sql])
        #expect(run.status == 0, "\(run.stderr)")
        return try AuditStore(path: path).verify()
    }

    static let dropTriggers = "DROP TRIGGER event_no_update; DROP TRIGGER event_no_delete; "

    @Test("UPDATE and DELETE on events are refused by the database itself; the log stays whole")
    func appendOnly() async throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        try fill(try AuditStore(path: path), count: 5)
        for sql in ["UPDATE event SET actor = 'mallory@example.com' WHERE sequence = 2", "DELETE FROM event WHERE sequence = 5"] {
            let run = try await CommandRun.run("/usr/bin/sqlite3", [path, sql])
            #expect(run.status != 0 && run.stderr.contains("the audit log is append-only"), "\(sql): \(run.stderr)")
        }
        #expect(try AuditStore(path: path).verify() == .intact(rows: 5))
    }

    @Test("a read-only open (the audit commands) reads everything and cannot write; the database file is left as it was")
    func readOnly() throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        do {
            let store = try AuditStore(path: path)
            try fill(store, count: 20)
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let reader = try AuditStore(path: path, readOnly: true)
            #expect(try reader.verify() == .intact(rows: 20))
            #expect(try reader.events().count == 20)
            #expect(throws: AuditError.self) { try fill(reader, count: 1) }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try AuditStore(path: path).verify() == .intact(rows: 20))
    }

    @Test("a row changed, deleted or inserted with the sqlite3 command line is named")
    func tampering() async throws {
        #expect(try await tamper("UPDATE event SET actor = 'mallory@example.com' WHERE sequence = 5")
            == .broken(sequence: 5, reason: "its contents do not match its hash (changed)"))
        #expect(try await tamper("DELETE FROM event WHERE sequence = 7")
            == .broken(sequence: 7, reason: "row 7 is missing (deleted); the next row is 8"))
        #expect(try await tamper("""
            INSERT INTO event SELECT 11, time, 'mallory@example.com', osUser, host, kind, pipeline, environment, revision, details,
            previousHash, hash FROM event WHERE sequence = 10
            """) == .broken(sequence: 11, reason: "it does not follow row 10 (inserted, or the chain was rewritten)"))
        // Rows cut from the end leave a shorter chain that is intact in itself: the recorded head names them.
        #expect(try await tamper("DELETE FROM event WHERE sequence >= 9")
            == .broken(sequence: 9, reason: "row 9 is missing (deleted): the log once reached row 10"))
        // A head set back (so that rows seem appended behind the writer's back) is named too.
        #expect(try await tamper("UPDATE head SET sequence = 8")
            == .broken(sequence: 9, reason: "the log was written up to row 8; rows from 9 were added behind its back"))
        // Changing a row and fixing up its own hash still breaks the next link.
        let store = try TemporaryDirectory("audit")
        defer { store.remove() }
        let path = store.path + "/baton.db"
        let audit = try AuditStore(path: path)
        try fill(audit, count: 10)
        var forged = try audit.events()[3]
        forged.actor = "mallory@example.com"
        forged.hash = forged.computedHash
        #expect(try await CommandRun.run("/usr/bin/sqlite3", [path, Self.dropTriggers + "UPDATE event SET actor = '\(forged.actor)', hash = '\(forged.hash)' WHERE sequence = 4"]).status == 0)
        #expect(try audit.verify() == .broken(sequence: 5, reason: "it does not follow row 4 (inserted, or the chain was rewritten)"))
    }

    struct Refused: Error {}

    @Test("a state update writes its events and state together, or nothing when its body throws")
    func stateUpdates() throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let store = try AuditStore(path: dir.path + "/baton.db")
        let written = try store.update(state: "pipeline:shop") { state in
            #expect(state == nil)
            state = Data("one".utf8)
            return [EventDraft(kind: "approved-by", actor: "bob@example.com", pipeline: "shop", environment: "production", revision: "abc",
                               records: [.decision(decision: "approve", actor: "bob@example.com", comment: "ok")])]
        }
        #expect(written.map(\.sequence) == [1])
        #expect(throws: Refused.self) {
            try store.update(state: "pipeline:shop") { state in
                state = Data("two".utf8)
                throw Refused()
            }
        }
        #expect(try store.state("pipeline:shop") == Data("one".utf8))
        #expect(try store.events().count == 1)
        let decision = try #require(try store.decisions(environment: "production", revision: "abc").first)
        #expect(decision.actor == "bob@example.com" && decision.comment == "ok" && decision.sequence == 1)
    }

    @Test("ten writers at once (each its own connection) lose no row and keep the chain")
    func concurrentWriters() throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        _ = try AuditStore(path: path)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 10) { writer in
            do {
                let store = try AuditStore(path: path)
                for index in 0..<20 { try store.append(EventDraft(kind: "approval", actor: "writer-\(writer)", details: .object(["n": .int(Int64(index))]))) }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let store = try AuditStore(path: path)
        #expect(try store.verify() == .intact(rows: 200))
        #expect(Set(try store.events().map(\.actor)).count == 10)
    }

    @Test("verify while another connection appends (baton run writing): every verification is intact, none sees rows behind the head")
    func verifyWhileAppending() throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        let writer = try AuditStore(path: path)
        try fill(writer, count: 200)
        let reader = try AuditStore(path: path, readOnly: true)
        let done = Atomic<Bool>(false)
        let results = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { side in
            if side == 0 {
                for index in 0..<400 { _ = try? writer.append(EventDraft(kind: "sync", actor: "baton", details: .object(["n": .int(Int64(index))]))) }
                done.store(true, ordering: .sequentiallyConsistent)
            } else {
                var rounds = 0
                while !done.load(ordering: .sequentiallyConsistent) || rounds < 3 {
                    rounds += 1
                    let verdict = (try? reader.verify()).map { "\($0)" } ?? "error"
                    if !verdict.hasPrefix("the audit log is intact") { results.withLock { $0.append(verdict) } }
                }
                results.withLock { $0.append("rounds: \(rounds)") }
            }
        }
        let seen = results.withLock { $0 }
        #expect(seen.count == 1 && seen.first?.hasPrefix("rounds: ") == true, "\(seen)")
        #expect(try reader.verify() == .intact(rows: 600))
    }

    @Test("baton audit verify and export, as the real binary")
    func command() async throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/.baton/baton.db"
        try fill(try AuditStore(path: path), count: 3)
        let verified = try await CommandRun.baton(["audit", "verify", "--dir", dir.path])
        #expect(verified.status == 0 && verified.stdout == "\(path): the audit log is intact: 3 rows, every hash chained\n")
        let exported = try await CommandRun.baton(["audit", "export", "--format", "jsonl", "--db", path])
        #expect(exported.status == 0 && exported.stdout.split(separator: "\n").count == 3)
        _ = try await CommandRun.run("/usr/bin/sqlite3", [path, Self.dropTriggers + "UPDATE event SET details = '{}' WHERE sequence = 2"])
        let broken = try await CommandRun.baton(["audit", "verify", "--db", path])
        #expect(broken.status == 1)
        #expect(broken.stderr == "baton: \(path): the audit log was tampered with at row 2: its contents do not match its hash (changed)\n")
        let missing = try await CommandRun.baton(["audit", "verify", "--db", dir.path + "/none.db"])
        #expect(missing.status == 1 && missing.stderr == "baton: no audit database at \(dir.path)/none.db\n")
    }
}

extension AuditStoreTests {
    @Test("an inventory saved unchanged adds no row; one written meanwhile by another process is not mistaken for it")
    func inventoryRowsOnlyOnChange() async throws {
        let dir = try TemporaryDirectory("audit")
        defer { dir.remove() }
        let path = dir.path + "/baton.db"
        func rows() async throws -> String {
            let run = try await CommandRun.run("/usr/bin/sqlite3", [path, "SELECT count(*) FROM inventory WHERE environment = 'dev'"])
            #expect(run.status == 0, "\(run.stderr)")
            return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let entry = InventoryEntry(key: ResourceKey(group: "", kind: "ConfigMap", namespace: "shop", name: "settings"), apiVersion: "v1", uid: "u1")
        let first = Inventory(environment: "dev", revision: String(repeating: "a", count: 40), entries: [entry])
        let store = try AuditStore(path: path)
        try await store.saveInventory(first)
        #expect(try await rows() == "1")
        // Every pass at rest saves what it has: no new row, read or not in between.
        try await store.saveInventory(first)
        _ = try await store.inventory(environment: "dev")
        try await store.saveInventory(first)
        #expect(try await rows() == "1")
        // Another process (baton sync from the CLI) writes a newer inventory.
        var other = first
        other.revision = String(repeating: "b", count: 40)
        try await AuditStore(path: path).saveInventory(other)
        #expect(try await rows() == "2")
        // This store's copy of the first is no longer the newest row: saving it is a change again.
        try await store.saveInventory(first)
        #expect(try await rows() == "3")
        #expect(try await store.inventory(environment: "dev") == first)
    }
}
