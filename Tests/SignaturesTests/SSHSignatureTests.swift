import BatonTestSupport
import Foundation
import Signatures
import Testing

/// SSHSIG against OpenSSH itself: signatures by `ssh-keygen -Y sign` verified here, and
/// signatures made through `SSHSigner` accepted by `ssh-keygen -Y verify`.
@Suite("Signatures: SSHSIG with ssh-keygen on both sides")
struct SSHSignatureTests {
    static let statement = "pipeline: guestbook\nstage: production\nrevision: 0123abcd\nverb: approve\nnonce: 5f1c\n"

    @Test("what ssh-keygen -Y sign makes with Ed25519, ECDSA P-256 and RSA keys (sha256 and sha512) verifies, and names its key as ssh-keygen -l does",
          arguments: [("ssh-ed25519", "ed25519", nil), ("ecdsa", "ecdsa", 256), ("rsa", "rsa", 3072)] as [(String, String, Int?)])
    func opensshSignaturesVerify(name: String, type: String, bits: Int?) async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let key = try await keys.make(name, type: type, bits: bits)
        #expect(key.fingerprint == (try await keys.fingerprint(name)))
        for hash in ["sha256", "sha512"] {
            let signature = try SSHSignature(armored: try await keys.sign(Self.statement, with: name, hash: hash))
            #expect(signature.hashAlgorithm.rawValue == hash)
            #expect(signature.publicKey == key)
            #expect(try signature.verify(Data(Self.statement.utf8), namespace: "baton", allowed: [key]) == key)
            // One byte changed in the message: refused as a bad signature.
            let changed = Self.statement.replacingOccurrences(of: "production", with: "producti0n")
            #expect(refuses(.badSignature) { try signature.verify(Data(changed.utf8), namespace: "baton") })
        }
    }

    @Test("SSHSigner signs through ssh-keygen; ssh-keygen -Y verify accepts it for the right principal and namespace only")
    func signerAcceptedByOpenSSH() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let key = try await keys.make("bob", type: "ed25519")
        let signature = try await SSHSigner.sign(Data(Self.statement.utf8), namespace: "baton", keyFile: keys.path("bob"))
        #expect(signature.publicKey == key && signature.namespace == "baton")
        let signers = "bob@example.com namespaces=\"baton\" \(key.openSSH)\n"
        #expect(try await keys.opensshAccepts(signature.armored, Self.statement, principal: "bob@example.com", signers: signers))
        #expect(try await !keys.opensshAccepts(signature.armored, Self.statement, principal: "alice@example.com", signers: signers))
        #expect(try await !keys.opensshAccepts(signature.armored, Self.statement, principal: "bob@example.com", signers: signers, namespace: "git"))
        #expect(try await !keys.opensshAccepts(signature.armored, Self.statement + "x", principal: "bob@example.com", signers: signers))
        // Read back from its armour, it is the same signature.
        #expect(try SSHSignature(armored: signature.armored) == signature)
    }

    @Test("refused, each with its reason: another namespace, a key not allowed, a missing key file")
    func refusals() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let bob = try await keys.make("bob", type: "ed25519")
        let mallory = try await keys.make("mallory", type: "ed25519")
        let forGit = try SSHSignature(armored: try await keys.sign(Self.statement, with: "bob", namespace: "git"))
        let wrong = try #require(throwing { try forGit.verify(Data(Self.statement.utf8), namespace: "baton", allowed: [bob]) })
        #expect(wrong.kind == .wrongNamespace && wrong.message.contains("\"git\""), "\(wrong)")
        let byMallory = try SSHSignature(armored: try await keys.sign(Self.statement, with: "mallory"))
        let unknown = try #require(throwing { try byMallory.verify(Data(Self.statement.utf8), namespace: "baton", allowed: [bob]) })
        #expect(unknown.kind == .unknownKey && unknown.message.contains(mallory.fingerprint), "\(unknown)")
        do {
            _ = try await SSHSigner.sign(Data("x".utf8), namespace: "baton", keyFile: keys.path("nobody"))
            Issue.record("signed with a key file that does not exist")
        } catch {
            #expect(error.kind == .signingFailed && error.message.contains(keys.path("nobody")), "\(error)")
        }
    }

    @Test("malformed armour, truncation, a signature too large and unknown algorithms are refused with a clear reason")
    func malformed() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        _ = try await keys.make("bob", type: "ed25519")
        let good = try await keys.sign(Self.statement, with: "bob")
        let blob = try SSHSignature(armored: good).blob
        func refusal(_ text: String) -> SignatureError? { throwing { _ = try SSHSignature(armored: text) } }
        #expect(refusal("hello")?.kind == .malformed)
        #expect(refusal(good.replacingOccurrences(of: "-----END SSH SIGNATURE-----", with: ""))?.message.contains("cut short") == true)
        #expect(refusal("-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n")?.message.contains("base64") == true)
        // Every cut of the decoded signature is refused, none crashes or verifies.
        for length in stride(from: 0, to: blob.count, by: 7) {
            #expect(throws: SignatureError.self) { _ = try SSHSignature(blob: Array(blob.prefix(length))) }
        }
        #expect(throwing { _ = try SSHSignature(blob: blob + [0]) }?.message.contains("after the end") == true)
        #expect(refusal(String(repeating: "A", count: SSHSignature.maximumArmoredLength + 1))?.kind == .tooLarge)
        // A hash algorithm other than sha256/sha512, written over the real one ("sha512" → "md5xyz").
        let renamed = replacing(Array("sha512".utf8), with: Array("md5xyz".utf8), in: blob)
        #expect(throwing { _ = try SSHSignature(blob: renamed) }?.kind == .unsupportedAlgorithm)
    }

    @Test("keys Baton does not accept are refused by type: ECDSA P-384, RSA under 2048 bits, DSA-like names; a type that lies about its data too")
    func unsupportedKeys() async throws {
        let keys = try Keys()
        defer { keys.dir.remove() }
        let p384 = try String(contentsOfFile: try await keysFile(keys, "p384", type: "ecdsa", bits: 384), encoding: .utf8)
        #expect(throwing { _ = try SSHPublicKey(line: p384) }?.kind == .unsupportedAlgorithm)
        let short = try String(contentsOfFile: try await keysFile(keys, "short", type: "rsa", bits: 1024), encoding: .utf8)
        let refused = throwing { _ = try SSHPublicKey(line: short) }
        #expect(refused?.kind == .unsupportedAlgorithm && refused?.message.contains("1024 bits") == true, "\(String(describing: refused))")
        let ed = try String(contentsOfFile: try await keysFile(keys, "ed", type: "ed25519"), encoding: .utf8)
        #expect(throwing { _ = try SSHPublicKey(line: ed.replacingOccurrences(of: "ssh-ed25519", with: "ssh-rsa")) }?.kind == .malformed)
        #expect(throwing { _ = try SSHPublicKey(line: "ssh-ed25519") }?.kind == .malformed)
        #expect(throwing { _ = try SSHPublicKey(line: "ssh-ed25519 not-base64!") }?.kind == .malformed)
    }

    func keysFile(_ keys: Keys, _ name: String, type: String, bits: Int? = nil) async throws -> String {
        var arguments = ["-q", "-t", type, "-N", "", "-f", keys.path(name)]
        if let bits { arguments += ["-b", String(bits)] }
        try await CommandRun.run("/usr/bin/ssh-keygen", arguments).requireSuccess()
        return keys.path(name) + ".pub"
    }

    func replacing(_ old: [UInt8], with new: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        for start in 0...(bytes.count - old.count) where Array(bytes[start..<start + old.count]) == old {
            return Array(bytes[..<start]) + new + Array(bytes[(start + old.count)...])
        }
        return bytes
    }
}

/// The SignatureError `body` throws, or nil.
func throwing(_ body: () throws -> Void) -> SignatureError? {
    do {
        try body()
        return nil
    } catch let error as SignatureError {
        return error
    } catch {
        return SignatureError(.malformed, "not a SignatureError: \(error)")
    }
}

func refuses(_ kind: SignatureError.Kind, _ body: () throws -> Void) -> Bool {
    throwing(body)?.kind == kind
}
