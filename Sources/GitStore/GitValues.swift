import Foundation

/// A git object id (SHA-1), printed as 40 hex digits.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Reads 40 hex digits; nil for anything else.
    public init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count == 40 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        for i in stride(from: 0, to: 40, by: 2) {
            guard let high = Self.nibble(chars[i]), let low = Self.nibble(chars[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    public var hex: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public var description: String { hex }

    /// The first `length` hex digits, as people abbreviate ids.
    public func short(_ length: Int = 8) -> String { String(hex.prefix(length)) }

    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an object id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Who made a commit, and when.
public struct GitSignature: Hashable, Sendable, Codable {
    public var name: String
    public var email: String
    public var time: Date

    public init(name: String, email: String, time: Date) {
        self.name = name
        self.email = email
        self.time = time
    }
}

/// One commit, as history lists it.
public struct CommitInfo: Hashable, Sendable, Codable {
    public var id: ObjectID
    public var parents: [ObjectID]
    public var author: GitSignature
    public var committer: GitSignature
    /// The first paragraph of the message, on one line.
    public var summary: String
    public var message: String
}

/// What a tree entry is.
public enum EntryKind: String, Hashable, Sendable, Codable {
    case file
    case executable
    /// A symbolic link; its target is in `TreeEntry.symlinkTarget`, never followed.
    case symlink
    /// A submodule (a commit of another repository); not followed.
    case submodule
}

/// A file in a tree at some commit.
public struct TreeEntry: Hashable, Sendable, Codable {
    /// Relative to the repository's root, with `/` between folders.
    public var path: String
    public var kind: EntryKind
    /// The git file mode: 100644, 100755, 120000 or 160000.
    public var mode: UInt32
    /// The blob's id (for a submodule, the commit it points at).
    public var id: ObjectID
    /// For a symlink, where it points (as stored; never resolved).
    public var symlinkTarget: String?
}

/// How a path differs between two commits.
public struct PathChange: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case added, modified, deleted, renamed, typeChanged
    }

    public var kind: Kind
    public var path: String
    /// For a rename, where the file was.
    public var oldPath: String?

    public init(kind: Kind, path: String, oldPath: String? = nil) {
        self.kind = kind
        self.path = path
        self.oldPath = oldPath
    }
}

/// One line of a ref's reflog.
public struct ReflogEntry: Hashable, Sendable {
    public var old: ObjectID
    public var new: ObjectID
    public var committer: GitSignature
    public var message: String
}

/// Credentials for a remote, handed in by the caller; GitStore never logs them nor puts
/// them in an error message.
public enum GitCredentials: Sendable {
    /// An access token for HTTPS, sent as the password (with `username`, default `x-access-token`).
    case token(String, username: String = "x-access-token")
    case usernamePassword(username: String, password: String)
    /// An SSH private key file, with its public key file when it is not `KEY.pub`.
    case sshKey(username: String = "git", privateKey: String, publicKey: String? = nil, passphrase: String? = nil)
    /// Whatever git's own credential helpers give for the remote's URL (`git credential fill`,
    /// run with `environment` when given, never prompting), as `git fetch` would use them.
    case helpers(environment: [String: String]? = nil)

    /// The strings to scrub from any message.
    var secrets: [String] {
        switch self {
        case .token(let token, _): [token]
        case .usernamePassword(_, let password): [password]
        case .sshKey(_, _, _, let passphrase): passphrase.map { [$0] } ?? []
        case .helpers: []
        }
    }
}
