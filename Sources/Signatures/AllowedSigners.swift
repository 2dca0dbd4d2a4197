import Foundation

/// Who may sign, in git's and ssh-keygen's allowed_signers format (ssh-keygen(1), "ALLOWED
/// SIGNERS"): one signer per line, `principals [options] keytype base64 [comment]`, where
/// principals is a comma-separated list of e-mail addresses or patterns (`*`, `?`, `!` to
/// exclude) and options are `namespaces="a,b"`, `valid-after=`, `valid-before=` (YYYYMMDD,
/// optionally HHMM[SS], `Z` for UTC). Certificate authorities (`cert-authority`) are refused:
/// Baton trusts keys, not certificates.
public struct AllowedSigners: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var principals: [String]
        public var key: SSHPublicKey
        /// nil: any namespace.
        public var namespaces: [String]?
        public var validAfter: Date?
        public var validBefore: Date?
        /// `file:line` it was read from.
        public var source: String

        /// Whether this entry lets `key` sign for `namespace` at `time`.
        /// (`namespaces` is a pattern list, as ssh-keygen reads it; `valid-before` is the last
        /// moment it is good.)
        public func allows(namespace: String, at time: Date) -> Bool {
            if let namespaces, !Self.matches(namespace, namespaces) { return false }
            if let validAfter, time < validAfter { return false }
            if let validBefore, time > validBefore { return false }
            return true
        }

        /// Whether `principal` matches the principals' patterns (an excluded one wins).
        public func names(_ principal: String) -> Bool { Self.matches(principal, principals) }

        /// OpenSSH's pattern lists: `*` and `?` wildcards, `!` excludes, and an excluded match wins.
        static func matches(_ text: String, _ patterns: [String]) -> Bool {
            var matched = false
            for pattern in patterns {
                if pattern.hasPrefix("!") {
                    if glob(String(pattern.dropFirst()), text) { return false }
                } else if glob(pattern, text) {
                    matched = true
                }
            }
            return matched
        }

        static func glob(_ pattern: String, _ text: String) -> Bool {
            // Case matters, as in ssh-keygen's match_pattern_list for principals and namespaces.
            let p = Array(pattern), t = Array(text)
            var pi = 0, ti = 0, star = -1, mark = 0
            while ti < t.count {
                if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                    pi += 1; ti += 1
                } else if pi < p.count, p[pi] == "*" {
                    star = pi; mark = ti; pi += 1
                } else if star >= 0 {
                    pi = star + 1; mark += 1; ti = mark
                } else {
                    return false
                }
            }
            while pi < p.count, p[pi] == "*" { pi += 1 }
            return pi == p.count
        }
    }

    public var entries: [Entry]

    /// The most text read from one file.
    public static let maximumLength = 1024 * 1024

    /// Reads allowed_signers text; `file` names it in errors (`file:line: …`).
    public init(text: String, file: String) throws(SignatureError) {
        guard text.utf8.count <= Self.maximumLength else {
            throw SignatureError(.tooLarge, "an allowed signers file of \(text.utf8.count) bytes is larger than the \(Self.maximumLength) Baton reads", source: file)
        }
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let source = "\(file):\(index + 1)"
            do {
                entries.append(try Self.entry(line, source: source))
            } catch {
                throw SignatureError(error.kind, error.message, source: source)
            }
        }
        self.entries = entries
    }

    /// Reads the file at `path`.
    public init(contentsOf path: String, shownAs name: String? = nil) throws(SignatureError) {
        let text: String
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > Self.maximumLength {
                throw SignatureError(.tooLarge, "an allowed signers file of \(size) bytes is larger than the \(Self.maximumLength) Baton reads", source: name ?? path)
            }
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch let error as SignatureError {
            throw error
        } catch {
            throw SignatureError(.malformed, "cannot read the allowed signers file: \(error.localizedDescription)", source: name ?? path)
        }
        try self.init(text: text, file: name ?? path)
    }

    /// The keys that may sign as `principal` for `namespace` at `time`.
    public func keys(for principal: String, namespace: String, at time: Date = Date()) -> [SSHPublicKey] {
        entries.filter { $0.names(principal) && $0.allows(namespace: namespace, at: time) }.map(\.key)
    }

    /// The entries that let `key` sign for `namespace` at `time`.
    public func entries(for key: SSHPublicKey, namespace: String, at time: Date = Date()) -> [Entry] {
        entries.filter { $0.key == key && $0.allows(namespace: namespace, at: time) }
    }

    // MARK: Reading one line

    static func entry(_ line: String, source: String) throws(SignatureError) -> Entry {
        var fields = try tokens(line)
        guard fields.count >= 3 else {
            throw SignatureError(.malformed, "a signer is \"principals [options] keytype base64\"; this line has \(fields.count) field\(fields.count == 1 ? "" : "s")")
        }
        let principals = fields.removeFirst().split(separator: ",").map { String($0) }.filter { !$0.isEmpty }
        guard !principals.isEmpty else { throw SignatureError(.malformed, "no principal before the key") }
        var namespaces: [String]?, validAfter: Date?, validBefore: Date?
        if !looksLikeKeyType(fields[0]) {
            for option in try options(fields.removeFirst()) {
                switch option.name.lowercased() {
                case "namespaces":
                    namespaces = (option.value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                case "valid-after":
                    validAfter = try time(option.value, option.name)
                case "valid-before":
                    validBefore = try time(option.value, option.name)
                case "cert-authority":
                    throw SignatureError(.unsupportedAlgorithm, "cert-authority: Baton trusts keys, not certificates; list each signer's key")
                default:
                    throw SignatureError(.malformed, "unknown option \(SSHPublicKey.shown(option.name)) (namespaces, valid-after, valid-before)")
                }
            }
        }
        guard fields.count >= 2 else { throw SignatureError(.malformed, "a key type and its base64 must follow the principals") }
        let key = try SSHPublicKey(type: fields[0], base64: fields[1], comment: fields.dropFirst(2).joined(separator: " "))
        return Entry(principals: principals, key: key, namespaces: namespaces, validAfter: validAfter, validBefore: validBefore, source: source)
    }

    static func looksLikeKeyType(_ field: String) -> Bool {
        field.hasPrefix("ssh-") || field.hasPrefix("ecdsa-") || field.hasPrefix("sk-") || field.hasPrefix("rsa-")
    }

    /// Splits on blanks outside double quotes; quotes are kept inside a field.
    static func tokens(_ line: String) throws(SignatureError) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        for character in line {
            if character == "\"" { quoted.toggle(); current.append(character); continue }
            if !quoted, character == " " || character == "\t" {
                if !current.isEmpty { fields.append(current); current = "" }
                continue
            }
            current.append(character)
        }
        guard !quoted else { throw SignatureError(.malformed, "a quote is not closed") }
        if !current.isEmpty { fields.append(current) }
        // Principals may be quoted as a whole.
        if let first = fields.first, first.hasPrefix("\""), first.hasSuffix("\""), first.count >= 2 {
            fields[0] = String(first.dropFirst().dropLast())
        }
        return fields
    }

    /// `name[="value"]` options separated by commas outside quotes.
    static func options(_ field: String) throws(SignatureError) -> [(name: String, value: String?)] {
        var parts: [String] = [], current = "", quoted = false
        for character in field {
            if character == "\"" { quoted.toggle(); continue }
            if character == ",", !quoted { parts.append(current); current = ""; continue }
            current.append(character)
        }
        parts.append(current)
        return parts.filter { !$0.isEmpty }.map { part in
            guard let equals = part.firstIndex(of: "=") else { return (part, nil) }
            return (String(part[..<equals]), String(part[part.index(after: equals)...]))
        }
    }

    /// YYYYMMDD[HHMM[SS]][Z]: UTC with Z, else this machine's time zone (as ssh-keygen reads it).
    static func time(_ value: String?, _ option: String) throws(SignatureError) -> Date {
        var text = value ?? ""
        let utc = text.hasSuffix("Z") || text.hasSuffix("z")
        if utc { text.removeLast() }
        let formats = [8: "yyyyMMdd", 12: "yyyyMMddHHmm", 14: "yyyyMMddHHmmss"]
        guard text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let format = formats[text.count] else {
            throw SignatureError(.malformed, "\(option)=\(SSHPublicKey.shown(value ?? "")) is not a time (YYYYMMDD[HHMM[SS]][Z])")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = utc ? TimeZone(identifier: "UTC") : TimeZone.current
        formatter.dateFormat = format
        guard let date = formatter.date(from: text) else {
            throw SignatureError(.malformed, "\(option)=\(SSHPublicKey.shown(value ?? "")) is not a valid date")
        }
        return date
    }
}
