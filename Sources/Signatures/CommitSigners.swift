import BatonCore
import Foundation

/// Who may sign the commits a stage promotes (`approval.commitSigners`: git's allowed_signers
/// format, namespace `git`), read from the coordinator's own configuration. Apart from the
/// approvers: the four-eyes rule compares the keys that signed a promotion's commits with the
/// key of whoever approves it.
public struct CommitSigners: Sendable {
    public let allowed: AllowedSigners
    /// The file as the configuration names it.
    public let file: String

    /// The namespace git signs commits for (`git commit -S` with `gpg.format=ssh`).
    public static let namespace = "git"

    /// Reads `policy.commitSigners` (relative to `directory`, the configuration folder); nil
    /// when the stage does not require signed commits.
    public init?(_ policy: ApprovalPolicy, directory: String) throws(SignatureError) {
        guard policy.requireSignedCommits, let file = policy.commitSigners else { return nil }
        let path = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
        do {
            allowed = try AllowedSigners(contentsOf: path, shownAs: file)
        } catch where error.source == file {
            throw SignatureError(error.kind, "commitSigners \(file): \(error.message)", source: policy.commitSignersSource)
        }
        self.file = file
    }

    /// A commit signature that held: the key and the principal the file names for it.
    public struct Signer: Sendable, Hashable {
        public var key: SSHPublicKey
        public var principal: String
        /// Every literal principal the file names for the key (the four-eyes rule matches
        /// the approver against all of them).
        public var principals: [String]
    }

    /// Checks a commit's `gpgsig` (`armored`) over the commit's bytes without it (`signed`): an
    /// SSH signature for namespace `git` by a key the file allows for `git` at `time`.
    public func verify(signature armored: String, signed: Data, at time: Date = Date()) throws(SignatureError) -> Signer {
        guard armored.contains(SSHSignature.begin) else {
            throw SignatureError(.unsupportedAlgorithm, "not an SSH signature (an OpenPGP or X.509 one?); commits must be signed with an SSH key")
        }
        let signature = try SSHSignature(armored: armored)
        let keys = allowed.entries.filter { $0.allows(namespace: Self.namespace, at: time) }.map(\.key)
        let key = try signature.verify(signed, namespace: Self.namespace, allowed: keys)
        let principals = allowed.entries(for: key, namespace: Self.namespace, at: time)
            .flatMap { $0.principals.filter { !$0.contains("*") && !$0.contains("?") && !$0.hasPrefix("!") } }
        return Signer(key: key, principal: principals.first ?? "\(key)", principals: principals)
    }
}
