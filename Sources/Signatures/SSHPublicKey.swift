import Crypto
import Foundation

/// An SSH public key of a kind Baton verifies: Ed25519, ECDSA on P-256, or RSA (2048 bits or
/// more, signatures with SHA-2 only). Read from the one-line form of `authorized_keys` and
/// `.pub` files (`ssh-ed25519 AAAA… comment`); two keys are the same key when their wire
/// blobs are equal, whatever their comments.
public struct SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    public enum Algorithm: String, Sendable, Hashable, CaseIterable {
        case ed25519 = "ssh-ed25519"
        case ecdsaP256 = "ecdsa-sha2-nistp256"
        case rsa = "ssh-rsa"
    }

    public let algorithm: Algorithm
    /// The key in SSH wire format (what the base64 of a `.pub` line decodes to).
    public let blob: [UInt8]
    /// The text after the key on its line, if any (often an e-mail address). Not verified.
    public let comment: String

    /// The key's numbers, checked when read (swift-crypto's key types are not Sendable, so
    /// they are made again for each verification).
    let verifier: Verifier

    enum Verifier: Sendable {
        case ed25519(raw: [UInt8])
        case p256(x963: [UInt8])
        case rsa(n: [UInt8], e: [UInt8])
    }

    /// Reads `ssh-ed25519 AAAA… [comment]`.
    public init(line: String) throws(SignatureError) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count >= 2 else {
            throw SignatureError(.malformed, "an SSH public key is a key type and its base64 (\"ssh-ed25519 AAAA…\"), not \(Self.shown(line))")
        }
        try self.init(type: fields[0], base64: fields[1], comment: fields.dropFirst(2).joined(separator: " "))
    }

    init(type: String, base64: String, comment: String) throws(SignatureError) {
        guard let data = Data(base64Encoded: base64), !data.isEmpty else {
            throw SignatureError(.malformed, "the \(Self.shown(type)) key's base64 does not decode")
        }
        try self.init(blob: Array(data), comment: comment)
        guard algorithm.rawValue == type else {
            throw SignatureError(.malformed, "the key says it is \(Self.shown(type)) but its data is \(algorithm.rawValue)")
        }
    }

    /// Reads a key in wire format.
    public init(blob: [UInt8], comment: String = "") throws(SignatureError) {
        var reader = SSHReader(blob, what: "SSH public key")
        let type = try reader.text()
        guard let algorithm = Algorithm(rawValue: type) else {
            throw SignatureError(.unsupportedAlgorithm, "SSH keys of type \(Self.shown(type)) are not accepted (use ssh-ed25519, ecdsa-sha2-nistp256 or ssh-rsa of 2048 bits or more)")
        }
        switch algorithm {
        case .ed25519:
            let raw = try reader.string()
            guard raw.count == 32, (try? Curve25519.Signing.PublicKey(rawRepresentation: raw)) != nil else {
                throw SignatureError(.malformed, "an ssh-ed25519 key is 32 bytes, this one \(raw.count)")
            }
            verifier = .ed25519(raw: raw)
        case .ecdsaP256:
            let curve = try reader.text()
            guard curve == "nistp256" else { throw SignatureError(.malformed, "an ecdsa-sha2-nistp256 key names curve \(Self.shown(curve))") }
            let point = try reader.string()
            guard (try? P256.Signing.PublicKey(x963Representation: point)) != nil else {
                throw SignatureError(.malformed, "the ecdsa-sha2-nistp256 key's point is not on the curve")
            }
            verifier = .p256(x963: point)
        case .rsa:
            let e = try reader.mpint(), n = try reader.mpint()
            let bits = n.count * 8 - (n.first.map { $0.leadingZeroBitCount } ?? 8)
            guard bits >= 2048 else { throw SignatureError(.unsupportedAlgorithm, "ssh-rsa keys of \(bits) bits are too short (2048 or more)") }
            guard bits <= 16384, !e.isEmpty, e.count <= 8 else { throw SignatureError(.malformed, "the ssh-rsa key's numbers are out of range") }
            verifier = .rsa(n: n, e: e)
        }
        try reader.requireEnd()
        self.algorithm = algorithm
        self.blob = blob
        self.comment = comment
    }

    /// OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256, as
    /// `ssh-keygen -l` prints it.
    public var fingerprint: String {
        "SHA256:" + Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    /// The one-line form, without the comment.
    public var openSSH: String { algorithm.rawValue + " " + Data(blob).base64EncodedString() }

    public var description: String { "\(algorithm.rawValue) \(fingerprint)" }

    public static func == (a: SSHPublicKey, b: SSHPublicKey) -> Bool { a.blob == b.blob }
    public func hash(into hasher: inout Hasher) { hasher.combine(blob) }

    /// At most 60 characters of what was given, for messages.
    static func shown(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        return "\"" + (flat.count > 60 ? flat.prefix(57) + "…" : flat) + "\""
    }
}
