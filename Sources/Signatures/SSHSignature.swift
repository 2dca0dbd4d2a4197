import Crypto
import _CryptoExtras
import Foundation

/// A detached signature in OpenSSH's SSHSIG format (PROTOCOL.sshsig): what
/// `ssh-keygen -Y sign -n NAMESPACE` writes and `ssh-keygen -Y verify` checks, and what git
/// writes for SSH-signed commits (namespace `git`). The signer's public key travels inside;
/// it proves something only once matched against a key that is trusted for other reasons.
public struct SSHSignature: Sendable, Equatable {
    public enum HashAlgorithm: String, Sendable {
        case sha256, sha512
    }

    public let publicKey: SSHPublicKey
    public let namespace: String
    public let hashAlgorithm: HashAlgorithm
    /// The signature's own algorithm name (`ssh-ed25519`, `rsa-sha2-512`, …) and bytes.
    let signatureType: String
    let signatureBytes: [UInt8]
    /// The whole decoded signature, as read.
    public let blob: [UInt8]

    /// The most armoured text read: a signature by a 16384-bit RSA key is about 6 KiB.
    public static let maximumArmoredLength = 16 * 1024
    static let magic = Array("SSHSIG".utf8)
    static let begin = "-----BEGIN SSH SIGNATURE-----"
    static let end = "-----END SSH SIGNATURE-----"

    /// Reads the armoured form (`-----BEGIN SSH SIGNATURE-----` … `-----END SSH SIGNATURE-----`).
    public init(armored text: String) throws(SignatureError) {
        guard text.utf8.count <= Self.maximumArmoredLength else {
            throw SignatureError(.tooLarge, "an SSH signature of \(text.utf8.count) bytes is larger than the \(Self.maximumArmoredLength) Baton reads")
        }
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard let first = lines.firstIndex(of: Self.begin) else {
            throw SignatureError(.malformed, "an SSH signature starts with \(Self.begin)")
        }
        guard let last = lines.lastIndex(of: Self.end), last > first else {
            throw SignatureError(.malformed, "the SSH signature does not end with \(Self.end) (cut short?)")
        }
        guard let data = Data(base64Encoded: lines[(first + 1)..<last].joined()) else {
            throw SignatureError(.malformed, "the SSH signature's base64 does not decode")
        }
        try self.init(blob: Array(data))
    }

    /// Reads the decoded form.
    public init(blob: [UInt8]) throws(SignatureError) {
        var reader = SSHReader(blob, what: "SSH signature")
        guard try reader.raw(6) == Self.magic else { throw SignatureError(.malformed, "not an SSH signature (no SSHSIG preamble)") }
        let version = try reader.uint32()
        guard version == 1 else { throw SignatureError(.unsupportedAlgorithm, "SSH signature version \(version) is not known (1 is)") }
        publicKey = try SSHPublicKey(blob: try reader.string())
        namespace = try reader.text()
        _ = try reader.string()  // reserved
        let hash = try reader.text()
        guard let hashAlgorithm = HashAlgorithm(rawValue: hash) else {
            throw SignatureError(.unsupportedAlgorithm, "SSH signatures hashed with \(SSHPublicKey.shown(hash)) are not accepted (sha256, sha512)")
        }
        self.hashAlgorithm = hashAlgorithm
        var inner = SSHReader(try reader.string(), what: "SSH signature")
        signatureType = try inner.text()
        signatureBytes = try inner.string()
        try inner.requireEnd()
        try reader.requireEnd()
        guard Self.allowed(signatureType, for: publicKey.algorithm) else {
            throw SignatureError(.unsupportedAlgorithm, "a \(SSHPublicKey.shown(signatureType)) signature by an \(publicKey.algorithm.rawValue) key is not accepted"
                                 + (signatureType == "ssh-rsa" ? " (RSA with SHA-1; sign with rsa-sha2-256 or rsa-sha2-512)" : ""))
        }
        self.blob = blob
    }

    static func allowed(_ type: String, for algorithm: SSHPublicKey.Algorithm) -> Bool {
        switch algorithm {
        case .ed25519: type == "ssh-ed25519"
        case .ecdsaP256: type == "ecdsa-sha2-nistp256"
        case .rsa: type == "rsa-sha2-256" || type == "rsa-sha2-512"
        }
    }

    /// The armoured form, lines of 70 characters as ssh-keygen writes them.
    public var armored: String {
        let text = Data(blob).base64EncodedString()
        var lines = [Self.begin]
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 70, limitedBy: text.endIndex) ?? text.endIndex
            lines.append(String(text[index..<next]))
            index = next
        }
        lines.append(Self.end)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Checks that this signature was made over `message` for `namespace` by the key inside
    /// it. Who that key belongs to is the caller's question (see `verify(_:namespace:allowed:)`).
    public func verify(_ message: some DataProtocol, namespace expected: String) throws(SignatureError) {
        guard namespace == expected else {
            throw SignatureError(.wrongNamespace, "the signature is for namespace \(SSHPublicKey.shown(namespace)), not \(SSHPublicKey.shown(expected))")
        }
        let digest: [UInt8] = switch hashAlgorithm {
        case .sha256: Array(SHA256.hash(data: message))
        case .sha512: Array(SHA512.hash(data: message))
        }
        var signed = SSHWriter()
        signed.raw(Self.magic)
        signed.string(namespace)
        signed.string([UInt8]())
        signed.string(hashAlgorithm.rawValue)
        signed.string(digest)
        guard Self.check(signatureBytes, type: signatureType, over: signed.bytes, with: publicKey.verifier) else {
            throw SignatureError(.badSignature, "the signature by \(publicKey) does not match the message (changed since it was signed?)")
        }
    }

    /// `verify`, and the signer must be one of `allowed`; returns that key.
    @discardableResult
    public func verify(_ message: some DataProtocol, namespace: String, allowed: some Collection<SSHPublicKey>) throws(SignatureError) -> SSHPublicKey {
        try verify(message, namespace: namespace)
        guard let key = allowed.first(where: { $0 == publicKey }) else {
            throw SignatureError(.unknownKey, "signed by \(publicKey), which is not an allowed key")
        }
        return key
    }

    private static func check(_ signature: [UInt8], type: String, over data: [UInt8], with verifier: SSHPublicKey.Verifier) -> Bool {
        switch verifier {
        case .ed25519(let raw):
            guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { return false }
            return signature.count == 64 && key.isValidSignature(signature, for: data)
        case .p256(let point):
            guard let key = try? P256.Signing.PublicKey(x963Representation: point) else { return false }
            // The signature is two mpints, r and s, each at most 32 bytes.
            var reader = SSHReader(signature, what: "ECDSA signature")
            guard let r = try? reader.mpint(), let s = try? reader.mpint(), reader.isAtEnd, r.count <= 32, s.count <= 32,
                  let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: pad(r) + pad(s)) else { return false }
            return key.isValidSignature(parsed, for: data)
        case .rsa(let n, let e):
            // PKCS #1 v1.5 padding is what rsa-sha2-256/512 specify (RFC 8332); swift-crypto
            // names it "insecure" for new designs, not for verifying this format.
            guard let key = try? _RSA.Signing.PublicKey(n: n, e: e) else { return false }
            let parsed = _RSA.Signing.RSASignature(rawRepresentation: signature)
            return type == "rsa-sha2-512"
                ? key.isValidSignature(parsed, for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5)
                : key.isValidSignature(parsed, for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
        }
    }

    private static func pad(_ value: [UInt8]) -> [UInt8] { [UInt8](repeating: 0, count: 32 - value.count) + value }
}
