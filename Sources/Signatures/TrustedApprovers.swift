import BatonCore
import Crypto
import Foundation

/// A stage's approvers and their keys, read from the coordinator's own configuration (never
/// from whoever made a statement): inline keys and an allowed_signers file. Answers whose key
/// signed, and checks signed statements against them.
public struct TrustedApprovers: Sendable {
    /// Inline keys, each with the approver's e-mail.
    public let inline: [(email: String, key: SSHPublicKey)]
    public let allowedSigners: AllowedSigners?

    /// The namespace every Baton statement is signed for.
    public static let namespace = "baton"

    /// Reads `policy`'s keys; `directory` is the configuration folder that `allowedSigners`
    /// is relative to. Each problem names where the key or file was written.
    public init(_ policy: ApprovalPolicy, directory: String) throws(SignatureError) {
        var inline: [(email: String, key: SSHPublicKey)] = []
        for entry in policy.keys {
            do {
                inline.append((entry.email, try SSHPublicKey(line: entry.key)))
            } catch {
                throw SignatureError(error.kind, "\(entry.email)'s key: \(error.message)", source: entry.source)
            }
        }
        self.inline = inline
        if let file = policy.allowedSigners {
            let path = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
            do {
                allowedSigners = try AllowedSigners(contentsOf: path, shownAs: file)
            } catch where error.source == file {
                throw SignatureError(error.kind, "allowedSigners \(file): \(error.message)", source: policy.allowedSignersSource)
            }
        } else {
            allowedSigners = nil
        }
    }

    /// Every key that may sign a statement now.
    public func keys(at time: Date = Date()) -> [SSHPublicKey] {
        inline.map(\.key) + (allowedSigners?.entries.filter { $0.allows(namespace: Self.namespace, at: time) }.map(\.key) ?? [])
    }

    /// The approver `key` belongs to: its inline e-mail, else the first plain principal
    /// (no pattern) of an allowed_signers entry for it; nil for a key not declared.
    public func approver(for key: SSHPublicKey, at time: Date = Date()) -> String? {
        if let email = inline.first(where: { $0.key == key })?.email { return email }
        for entry in allowedSigners?.entries(for: key, namespace: Self.namespace, at: time) ?? [] {
            if let plain = entry.principals.first(where: { !$0.contains("*") && !$0.contains("?") && !$0.hasPrefix("!") }) { return plain }
        }
        return nil
    }

    /// A statement verified: what it says, and the approver whose key signed it.
    public struct Verified: Sendable {
        public var statement: Statement
        public var approver: String
        public var key: SSHPublicKey
    }

    /// Checks `signature` over the statement bytes `data`: the bytes are a statement, the
    /// signature is for namespace `baton`, made by a key declared here, which is the key the
    /// statement names. Freshness (nonce) and whether it says what was asked are the caller's.
    public func verify(statement data: Data, signature armored: String, at time: Date = Date()) throws(SignatureError) -> Verified {
        let statement: Statement
        do {
            statement = try Statement.decode(data)
        } catch {
            throw SignatureError(.malformed, error.message)
        }
        let signature = try SSHSignature(armored: armored)
        let key = try signature.verify(data, namespace: Self.namespace, allowed: keys(at: time))
        guard let approver = approver(for: key, at: time) else {
            throw SignatureError(.unknownKey, "signed by \(key), which names no approver")
        }
        guard let named = try? SSHPublicKey(line: statement.key), named == key else {
            throw SignatureError(.badSignature, "the statement names a key other than the one that signed it")
        }
        return Verified(statement: statement, approver: approver, key: key)
    }
}

extension TrustedApprovers {
    /// A digest of everything that decides who may sign `pipeline`'s decisions: its identity
    /// mode, each stage's approval rule and keys, and the bytes of each allowed_signers file
    /// (relative to `directory`). `baton run` keeps it in the database when it starts, and a
    /// command that would decide in its place with a configuration of its own is told apart.
    public static func pin(for pipeline: PipelineConfig, directory: String) -> String {
        var text = "identity \(pipeline.identity.rawValue)\n"
        for stage in pipeline.stages {
            text += "stage \(stage.environment) \(stage.promote.rawValue)\n"
            guard let policy = stage.effectiveApproval else { continue }
            text += "required \(policy.required) authors \(policy.allowCommitAuthors) approvers \(policy.approvers.joined(separator: ","))\n"
            for key in policy.keys {
                let parts = key.key.split(separator: " ").prefix(2).joined(separator: " ")
                text += "key \(key.email) \(parts)\n"
            }
            if let file = policy.allowedSigners {
                let path = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
                let bytes = FileManager.default.contents(atPath: path).map { Data(SHA256.hash(data: $0)).base64EncodedString() } ?? "missing"
                text += "allowedSigners \(file) \(bytes)\n"
            }
        }
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
