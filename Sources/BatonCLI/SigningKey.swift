import BatonCore
import Foundation
import Signatures

/// The key a person signs statements with (DESIGN.md §10): `--key FILE`, else git's
/// `user.signingKey` (a file, or `key::ssh-ed25519 …` for a key in ssh-agent), else the
/// ssh-agent's first key. The private key is used only by `ssh-keygen`.
struct SigningKey {
    /// What `ssh-keygen -Y sign -f` is given: a private key file, or a public key file whose
    /// private half ssh-agent holds.
    let file: String
    /// The public key, as the statement names it.
    let publicKey: SSHPublicKey
    /// A file made for an agent's key, removed by `discard`.
    private let temporary: String?

    static func find(_ explicit: String?) async throws -> SigningKey {
        if let explicit {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw EnvironmentSession.fail("--key \(explicit): no such file")
            }
            return try await fromFile(explicit)
        }
        if let result = try? await Subprocess.run("git", ["config", "user.signingKey"]), result.status == 0 {
            let value = String(decoding: result.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if value.hasPrefix("key::") { return try fromAgent(String(value.dropFirst(5)), from: "git's user.signingKey") }
            if !value.isEmpty {
                let path = value.hasPrefix("~/") ? NSHomeDirectory() + value.dropFirst(1) : value
                return try await fromFile(path)
            }
        }
        if let result = try? await Subprocess.run("ssh-add", ["-L"]), result.status == 0,
           let first = String(decoding: result.output, as: UTF8.self).split(separator: "\n").first {
            return try fromAgent(String(first), from: "ssh-agent's first key")
        }
        throw EnvironmentSession.fail("no key to sign with: pass --key FILE, set git's user.signingKey, or add a key to ssh-agent")
    }

    private static func fromFile(_ path: String) async throws -> SigningKey {
        var line = try? String(contentsOfFile: path.hasSuffix(".pub") ? path : path + ".pub", encoding: .utf8)
        if line == nil, let derived = try? await Subprocess.run("ssh-keygen", ["-y", "-f", path]), derived.status == 0 {
            line = String(decoding: derived.output, as: UTF8.self)
        }
        guard let line else { throw EnvironmentSession.fail("\(path): cannot read its public key (no \(path).pub, and ssh-keygen -y failed)") }
        do {
            return SigningKey(file: path, publicKey: try SSHPublicKey(line: line.trimmingCharacters(in: .whitespacesAndNewlines)), temporary: nil)
        } catch {
            throw EnvironmentSession.fail("\(path): \(error)")
        }
    }

    private static func fromAgent(_ line: String, from what: String) throws -> SigningKey {
        let key: SSHPublicKey
        do {
            key = try SSHPublicKey(line: line)
        } catch {
            throw EnvironmentSession.fail("\(what): \(error)")
        }
        let file = (NSTemporaryDirectory() as NSString).appendingPathComponent("baton-agent-key-\(UUID().uuidString).pub")
        do {
            try Data((key.openSSH + "\n").utf8).write(to: URL(fileURLWithPath: file))
        } catch {
            throw EnvironmentSession.fail("cannot write \(file) for ssh-keygen: \(error.localizedDescription)")
        }
        return SigningKey(file: file, publicKey: key, temporary: file)
    }

    /// Signs `statement`'s bytes; returns them with the armoured signature.
    func sign(_ statement: Statement) async throws -> (statement: Data, signature: String) {
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        let data = statement.encoded()
        do {
            let signature = try await SSHSigner.sign(data, namespace: TrustedApprovers.namespace, keyFile: file)
            return (data, signature.armored)
        } catch {
            throw EnvironmentSession.fail("signing: \(error)")
        }
    }
}

/// A decision signed by its maker.
struct SignedDecision {
    let statement: Data
    let signature: String
    let key: SSHPublicKey
    /// Whom the configuration here takes the key for (the coordinator decides with its own).
    let approver: String?

    /// Whether the coordinator will check it (some stage's approvers have keys, or the
    /// pipeline is verified); otherwise the identity stays the one claimed.
    let checked: Bool

    var request: (statement: Data, signature: String) { (statement, signature) }
    var shown: String { checked ? ", signed with \(key)" : ", unverified (signed with \(key), but no approver has keys to check it)" }
}

extension PipelineSession {
    /// Signs a decision when the coordinator will want a signature (the stage it concerns has
    /// approvers with keys, or the pipeline is `identity: verified`, or for a release some stage
    /// has keys), or when `key` is given; nil otherwise (the identity is then unverified).
    func sign(_ verb: Statement.Verb, environment: String?, revision: String, text: String?, force: Bool? = nil,
              breakGlass: Bool? = nil, key: String?) async throws -> SignedDecision? {
        let (required, environments) = pipeline.signers(for: environment)
        guard required || key != nil else { return nil }
        // Whose keys may sign it, as the coordinator will look them up.
        let policies = pipeline.stages.filter { environments.contains($0.environment) }.compactMap(\.effectiveApproval)
        let signingKey = try await SigningKey.find(key)
        let statement = Statement(verb: verb, pipeline: pipeline.name, environment: environment, revision: revision, text: text,
                                  force: force, breakGlass: breakGlass, key: signingKey.publicKey.openSSH,
                                  osUser: Statement.currentOSUser, host: ProcessInfo.processInfo.hostName)
        let (data, signature) = try await signingKey.sign(statement)
        let approver = policies.lazy.compactMap { try? TrustedApprovers($0, directory: self.config.directory).approver(for: signingKey.publicKey) }.first
        return SignedDecision(statement: data, signature: signature, key: signingKey.publicKey, approver: approver,
                              checked: required)
    }
}
