import BatonCore
import Foundation
import Signatures

/// Signed statements (issue 15): 1,000 approvals signed by `ssh-keygen -Y sign` with three
/// approvers' Ed25519 keys, then verified the way the coordinator does (parse, namespace, key
/// among the approvers', signature). Peer in the same run: `ssh-keygen -Y verify` on the same
/// statements and signatures, one process each, as a script would check them. Goal: 1,000 in
/// at most 1 s.
enum StatementBench {
    static func run(count: Int = 1000, repetitions: Int = 3) async throws -> [ResultRow] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-bench-statements-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let people = ["alice", "bob", "carol"]
        var keys: [ApproverKey] = []
        var signers = ""
        for person in people {
            try shell("ssh-keygen -q -t ed25519 -N '' -C \(person) -f '\(dir)/\(person)'")
            let line = try String(contentsOfFile: "\(dir)/\(person).pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            keys.append(ApproverKey(email: "\(person)@example.com", key: line, source: "bench"))
            signers += "\(person)@example.com namespaces=\"baton\" \(line)\n"
        }
        try Data(signers.utf8).write(to: URL(fileURLWithPath: dir + "/allowed_signers"))
        // The statements, written to files and signed by ssh-keygen in batches (one process per key).
        var statements: [(data: Data, signer: String)] = []
        for index in 0..<count {
            let person = people[index % people.count]
            let key = keys[index % people.count].key
            let statement = Statement(verb: .approve, pipeline: "shop", environment: "production", revision: String(format: "%040x", index),
                                      text: "approval \(index)", key: key, osUser: person, host: "bench")
            statements.append((statement.encoded(), person))
            try statement.encoded().write(to: URL(fileURLWithPath: "\(dir)/s\(index)"))
        }
        for (offset, person) in people.enumerated() {
            let files = stride(from: offset, to: count, by: people.count).map { "'\(dir)/s\($0)'" }.joined(separator: " ")
            try shell("ssh-keygen -Y sign -q -f '\(dir)/\(person)' -n baton \(files)")
        }
        let signatures = try (0..<count).map { try String(contentsOfFile: "\(dir)/s\($0).sig", encoding: .utf8) }
        let trusted = try TrustedApprovers(ApprovalPolicy(required: 1, approvers: people.map { "\($0)@example.com" }, keys: keys), directory: dir)
        let clock = ContinuousClock()
        var baton: [Double] = []
        for _ in 0..<repetitions {
            baton.append(try clock.measure {
                for index in 0..<count {
                    let verified = try trusted.verify(statement: statements[index].data, signature: signatures[index])
                    guard verified.approver == statements[index].signer + "@example.com" else {
                        throw SignatureError(.badSignature, "statement \(index) verified as \(verified.approver)")
                    }
                }
            }.seconds)
        }
        // The peer: ssh-keygen -Y verify, one process per statement.
        let peer = try clock.measure {
            for index in 0..<count {
                let person = statements[index].signer
                try shell("ssh-keygen -Y verify -f '\(dir)/allowed_signers' -I \(person)@example.com -n baton -s '\(dir)/s\(index).sig' < '\(dir)/s\(index)' > /dev/null")
            }
        }.seconds
        let row = ResultRow(benchmark: "trust", figure: "verify 1,000 signed statements (Ed25519, three approvers)", baton: median(baton),
                            peerName: "ssh-keygen -Y verify, one process each", peer: peer, unit: "s", repetitions: repetitions)
        print(String(format: "Verifying %d signed statements: Baton %.3f s (goal ≤ 1 s), ssh-keygen -Y verify %.2f s, ratio %.3f",
                     count, row.baton, peer, row.baton / peer))
        return [row]
    }

    private static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SignatureError(.signingFailed, "\(command.prefix(80)) exited \(process.terminationStatus)")
        }
    }
}
