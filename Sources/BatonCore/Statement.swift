import Foundation

/// A decision as a person signs it: what (verb, pipeline, stage, revision, the comment or
/// reason), when, a nonce that makes it usable once, and the key that signs it. The signed
/// bytes are its JSON (sorted keys); whoever checks it parses those same bytes, so nothing
/// depends on encoding it twice alike. Signing and verifying are the `Signatures` module's.
public struct Statement: Sendable, Hashable, Codable {
    public enum Verb: String, Sendable, Hashable, Codable, CaseIterable {
        case approve, reject, promote, rollback, release
    }

    /// Marks the bytes as a Baton statement of this version.
    public static let type = "baton-statement/v1"
    /// The most bytes a statement may have.
    public static let maximumLength = 8 * 1024

    public var type: String = Statement.type
    public var verb: Verb
    public var pipeline: String
    /// The stage's environment (nil for `release`, which is pipeline-wide).
    public var environment: String?
    public var revision: String
    /// The comment (approve) or reason (reject, promote --force, rollback).
    public var text: String?
    /// `promote --force` (a revision not verified in the previous stage).
    public var force: Bool?
    /// `rollback --break-glass` (a revision the environment never verified).
    public var breakGlass: Bool?
    /// When it was made, as the signer's clock said (ISO 8601, UTC).
    public var time: String
    /// Random; a statement with a nonce already used is refused.
    public var nonce: String
    /// The signer's public key (`ssh-ed25519 AAAA…`), which must also be the key that signed.
    public var key: String
    /// The operating-system user who made it, from the password database (not `$USER`).
    public var osUser: String
    public var host: String

    public init(verb: Verb, pipeline: String, environment: String?, revision: String, text: String?, force: Bool? = nil,
                breakGlass: Bool? = nil, time: Date = Date(), nonce: String = UUID().uuidString.lowercased(), key: String,
                osUser: String, host: String) {
        self.verb = verb
        self.force = force
        self.breakGlass = breakGlass
        self.pipeline = pipeline
        self.environment = environment
        self.revision = revision
        self.text = text
        self.time = time.formatted(.iso8601)
        self.nonce = nonce
        self.key = key
        self.osUser = osUser
        self.host = host
    }

    /// The bytes that are signed.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings and an enum of strings always encode.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// Reads signed bytes back; a problem is said in words.
    public static func decode(_ data: Data) throws(StatementError) -> Statement {
        guard data.count <= maximumLength else {
            throw StatementError(message: "a statement of \(data.count) bytes is larger than the \(maximumLength) Baton reads")
        }
        let statement: Statement
        do {
            statement = try JSONDecoder().decode(Statement.self, from: data)
        } catch {
            throw StatementError(message: "not a Baton statement: \(error)")
        }
        guard statement.type == type else { throw StatementError(message: "a statement of type \(statement.type), not \(type)") }
        // Exactly the bytes Baton writes for it: no duplicate or unknown keys, no other spelling,
        // so that one signed text cannot be read two ways.
        guard statement.encoded() == data else {
            throw StatementError(message: "the statement is not in Baton's form (unknown or repeated keys, or another spelling)")
        }
        guard !statement.nonce.isEmpty else { throw StatementError(message: "the statement has no nonce") }
        return statement
    }

    /// The operating-system user running this process, from the password database.
    public static var currentOSUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }
}

public struct StatementError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
