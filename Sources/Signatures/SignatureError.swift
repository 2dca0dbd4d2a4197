/// Why a key, a signature or an allowed-signers file was refused. `kind` is for code;
/// `message` for people, naming the thing first and the cause last. Never carries a private
/// key or a secret (signatures and public keys are not secret).
public struct SignatureError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// Not in the expected format: bad armour, base64, truncated or trailing bytes.
        case malformed
        /// A key or signature algorithm Baton does not accept (DSA, SHA-1 RSA, P-384, security keys…).
        case unsupportedAlgorithm
        /// The signature was made for another namespace (`git` instead of `baton`…).
        case wrongNamespace
        /// Well formed, but it does not verify: the message or the signature was changed.
        case badSignature
        /// Made by a key that is not among the keys allowed.
        case unknownKey
        /// Larger than Baton reads.
        case tooLarge
        /// `ssh-keygen` could not sign (no key, wrong passphrase, agent empty…).
        case signingFailed
    }

    public var kind: Kind
    public var message: String
    /// Where the input came from (a file and line), when it came from a file.
    public var source: String?

    public init(_ kind: Kind, _ message: String, source: String? = nil) {
        self.kind = kind
        self.message = message
        self.source = source
    }

    public var description: String { source.map { "\($0): \(message)" } ?? message }
}
