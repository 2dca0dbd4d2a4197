import BatonCore
import Crypto
import Foundation

/// What is about to be recorded: everything but the position in the chain.
public struct EventDraft: Sendable {
    public var kind: String
    public var actor: String
    public var pipeline: String?
    public var environment: String?
    public var revision: String?
    public var details: JSONValue
    /// Facts for the promotion, decision, gate and sync tables, written with the event.
    public var records: [AuditRecord]

    public init(kind: String, actor: String, pipeline: String? = nil, environment: String? = nil, revision: String? = nil,
                details: JSONValue = .object([:]), records: [AuditRecord] = []) {
        self.kind = kind
        self.records = records
        self.actor = actor
        self.pipeline = pipeline
        self.environment = environment
        self.revision = revision
        self.details = details
    }
}

/// One row of the audit log. `hash` is SHA-256 over every other field and `previousHash`, so
/// changing, removing or inserting a row breaks the chain from there on.
public struct AuditEvent: Sendable, Hashable, Codable {
    public var sequence: Int64
    /// RFC 3339 with milliseconds, UTC.
    public var time: String
    public var actor: String
    /// The operating-system user of the process that wrote the row.
    public var osUser: String
    public var host: String
    public var kind: String
    public var pipeline: String?
    public var environment: String?
    public var revision: String?
    /// Canonical JSON (keys sorted).
    public var details: String
    public var previousHash: String
    public var hash: String

    /// The hash of the empty chain: what the first row's `previousHash` is.
    public static let genesis = String(repeating: "0", count: 64)

    /// SHA-256 (hex) of the fields, each length-prefixed so that no two rows hash alike by
    /// moving text from one field into the next.
    public var computedHash: String {
        // Each field as `LENGTH:FIELD|` (length in UTF-8 bytes), written straight into bytes.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(320 + details.utf8.count)
        for field in [String(sequence), time, actor, osUser, host, kind, pipeline ?? "\u{0}", environment ?? "\u{0}", revision ?? "\u{0}",
                      details, previousHash] {
            bytes.append(contentsOf: String(field.utf8.count).utf8)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: field.utf8)
            bytes.append(UInt8(ascii: "|"))
        }
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: bytes) {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}
