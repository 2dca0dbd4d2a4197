import BatonCore
import BatonTestSupport
import Foundation
import Signatures
import Testing

@Suite("Signatures: allowed_signers files")
struct AllowedSignersTests {
    @Test("reads principals, patterns, namespaces and validity as ssh-keygen does; the same file verifies with ssh-keygen -Y verify")
    func reads() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let bob = try await keys.make("bob", type: "ed25519")
        let alice = try await keys.make("alice", type: "ecdsa", bits: 256)
        let text = """
            # people who approve
            bob@example.com,robert@example.com namespaces="baton,git" \(bob.openSSH) bob's laptop

            "*@ops.example.com,!intern@ops.example.com" valid-after="20260101",valid-before="20300101Z" \(alice.openSSH)
            """
        let signers = try AllowedSigners(text: text, file: "signers")
        #expect(signers.entries.count == 2)
        #expect(signers.entries[0].source == "signers:2" && signers.entries[1].source == "signers:4")
        #expect(signers.keys(for: "robert@example.com", namespace: "baton") == [bob])
        #expect(signers.keys(for: "bob@example.com", namespace: "file").isEmpty)
        #expect(signers.keys(for: "carol@ops.example.com", namespace: "baton") == [alice])
        #expect(signers.keys(for: "intern@ops.example.com", namespace: "baton").isEmpty)
        #expect(signers.keys(for: "carol@ops.example.com", namespace: "baton", at: Date(timeIntervalSince1970: 1_700_000_000)).isEmpty)
        #expect(signers.entries(for: bob, namespace: "git").map(\.principals) == [["bob@example.com", "robert@example.com"]])
        // ssh-keygen reads the same file the same way.
        let signature = try await keys.sign("x", with: "alice")
        #expect(try await keys.opensshAccepts(signature, "x", principal: "carol@ops.example.com", signers: text))
        #expect(try await !keys.opensshAccepts(signature, "x", principal: "intern@ops.example.com", signers: text))
    }

    @Test("mistakes name the file and line: too few fields, an unknown option, a bad time, an unclosed quote, a certificate authority, a broken key",
          arguments: [
              ("bob@example.com\n", "signers:1", "field"),
              ("# ok\nbob@example.com sometimes=1 KEY\n", "signers:2", "unknown option \"sometimes\""),
              ("bob@example.com valid-after=\"tomorrow\" KEY\n", "signers:1", "valid-after=\"tomorrow\" is not a time"),
              ("bob@example.com namespaces=\"baton KEY\n", "signers:1", "quote is not closed"),
              ("*@example.com cert-authority KEY\n", "signers:1", "not certificates"),
              ("bob@example.com ssh-ed25519 AAAA\n", "signers:1", "truncated"),
          ])
    func mistakes(text: String, at source: String, saying words: String) async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let key = try await keys.make("k", type: "ed25519")
        let error = throwing { _ = try AllowedSigners(text: text.replacingOccurrences(of: "KEY", with: key.openSSH), file: "signers") }
        #expect(error?.source == source && error?.message.contains(words) == true, "\(String(describing: error))")
    }

    @Test("namespaces are a pattern list and valid-before is the last good moment, as ssh-keygen reads them")
    func patternsAndTimes() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let key = try await keys.make("k", type: "ed25519")
        let signers = try AllowedSigners(text: "ops@example.com namespaces=\"bat*,!batch\",valid-before=\"20300101Z\" \(key.openSSH)\n", file: "s")
        let end = try #require(signers.entries.first?.validBefore)
        #expect(signers.keys(for: "ops@example.com", namespace: "baton", at: end) == [key])
        #expect(signers.keys(for: "ops@example.com", namespace: "baton", at: end.addingTimeInterval(1)).isEmpty)
        #expect(signers.keys(for: "ops@example.com", namespace: "batch", at: end).isEmpty)
        #expect(signers.keys(for: "ops@example.com", namespace: "git", at: end).isEmpty)
        #expect(signers.keys(for: "OPS@example.com", namespace: "baton", at: end).isEmpty, "principals match case-sensitively, as in ssh-keygen")
        // ssh-keygen agrees on the namespace pattern.
        let signature = try await keys.sign("x", with: "k", namespace: "baton")
        let text = "ops@example.com namespaces=\"bat*,!batch\" \(key.openSSH)\n"
        #expect(try await keys.opensshAccepts(signature, "x", principal: "ops@example.com", signers: text))
    }

    @Test("a statement is read only in exactly the form Baton writes: an unknown or repeated key is refused")
    func statementForm() throws {
        let statement = Statement(verb: .approve, pipeline: "p", environment: "production", revision: "abc", text: "ok", key: "ssh-ed25519 AAAA",
                                  osUser: "bob", host: "h")
        #expect(try Statement.decode(statement.encoded()) == statement)
        let text = String(decoding: statement.encoded(), as: UTF8.self)
        for variant in [text.replacingOccurrences(of: #""verb":"approve""#, with: #""verb":"approve","verb":"reject""#),
                        text.replacingOccurrences(of: "{", with: #"{"extra":1,"#),
                        text.replacingOccurrences(of: ",", with: ", ")] {
            #expect(throws: StatementError.self) { _ = try Statement.decode(Data(variant.utf8)) }
        }
    }

    @Test("a file that cannot be read or is too large is refused, naming it")
    func files() throws {
        let dir = try TemporaryDirectory("signers")
        defer { dir.remove() }
        let missing = throwing { _ = try AllowedSigners(contentsOf: dir.path + "/none", shownAs: "keys/allowed_signers") }
        #expect(missing?.source == "keys/allowed_signers" && missing?.kind == .malformed)
        try dir.write("big", String(repeating: "# comment\n", count: AllowedSigners.maximumLength / 10 + 1))
        #expect(throwing { _ = try AllowedSigners(contentsOf: dir.path + "/big") }?.kind == .tooLarge)
    }
}
