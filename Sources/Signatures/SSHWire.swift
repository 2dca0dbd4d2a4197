import Foundation

/// Reads the SSH wire encoding (RFC 4251 §5): big-endian uint32, length-prefixed strings and
/// mpints. Every read is bounds-checked; running out is `malformed`, naming `what`.
struct SSHReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func uint32() throws(SignatureError) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw truncated() }
        let value = bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        offset += 4
        return value
    }

    mutating func string() throws(SignatureError) -> [UInt8] {
        let length = Int(try uint32())
        guard bytes.count - offset >= length else { throw truncated() }
        defer { offset += length }
        return Array(bytes[offset..<offset + length])
    }

    mutating func text() throws(SignatureError) -> String {
        let raw = try string()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw SignatureError(.malformed, "\(what): a name that is not UTF-8")
        }
        return text
    }

    /// An mpint as its magnitude (a positive one's leading zero byte dropped); negative ones
    /// are refused (no key or signature has one).
    mutating func mpint() throws(SignatureError) -> [UInt8] {
        var value = try string()
        if let first = value.first, first & 0x80 != 0 { throw SignatureError(.malformed, "\(what): a negative number") }
        while value.first == 0 { value.removeFirst() }
        return value
    }

    /// Raw bytes, no length prefix.
    mutating func raw(_ count: Int) throws(SignatureError) -> [UInt8] {
        guard bytes.count - offset >= count else { throw truncated() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    func requireEnd() throws(SignatureError) {
        guard isAtEnd else { throw SignatureError(.malformed, "\(what): \(bytes.count - offset) bytes after the end") }
    }

    private func truncated() -> SignatureError {
        SignatureError(.malformed, "\(what): truncated at byte \(offset) of \(bytes.count)")
    }
}

/// Writes the SSH wire encoding.
struct SSHWriter {
    private(set) var bytes: [UInt8] = []

    mutating func uint32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    mutating func string(_ value: some Collection<UInt8>) {
        uint32(UInt32(value.count))
        bytes += value
    }

    mutating func string(_ text: String) { string(Array(text.utf8)) }

    mutating func raw(_ value: some Collection<UInt8>) { bytes += value }
}
