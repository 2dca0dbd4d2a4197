import Yams

/// Turns a file's bytes into the one YAML document it must hold, or into issues that say
/// where it went wrong: bytes that are not UTF-8, syntax errors, an empty file, several
/// documents, a key given twice.
enum YAMLSource {
    static func document(bytes: [UInt8], file: String) -> Result<Node, ConfigIssue> {
        func issue(_ position: SourcePosition?, _ message: String) -> Result<Node, ConfigIssue> {
            .failure(ConfigIssue(file: file, position: position, keyPath: "", message: message))
        }
        if let bad = firstInvalidUTF8(bytes) {
            let hex = String(bytes[bad.offset], radix: 16, uppercase: false)
            let byte = hex.count == 1 ? "0" + hex : hex
            return issue(bad.position, "the file is not valid UTF-8 (byte 0x\(byte) at offset \(bad.offset))")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let parser = try Parser(yaml: text, encoding: .utf8)
            guard let root = try parser.nextRoot(), !isNull(root) else {
                return issue(SourcePosition(line: 1, column: 1), "the file is empty; it must hold one object")
            }
            while let next = try parser.nextRoot() {
                if isNull(next) { continue }
                return issue(position(of: next),
                             "the file holds more than one YAML document; put one object in each file")
            }
            return .success(root)
        } catch let error as YamlError {
            let (position, message) = describe(error, bytes: bytes)
            return issue(position, message)
        } catch {
            return issue(SourcePosition(line: 1, column: 1), "cannot read YAML: \(error)")
        }
    }

    static func position(of node: Node) -> SourcePosition {
        guard let mark = node.mark else { return SourcePosition(line: 1, column: 1) }
        return SourcePosition(line: max(mark.line, 1), column: max(mark.column, 1))
    }

    /// A plain scalar that YAML reads as null: nothing, `~` or `null`.
    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A YAML error's position and message; errors that name no place point at the start.
    private static func describe(_ error: YamlError, bytes: [UInt8]) -> (position: SourcePosition, message: String) {
        func position(_ mark: Mark) -> SourcePosition {
            SourcePosition(line: max(mark.line, 1), column: max(mark.column, 1))
        }
        func detail(_ problem: String, _ context: YamlError.Context?) -> String {
            guard let context else { return "invalid YAML: \(problem)" }
            return "invalid YAML: \(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return (position(mark), detail(problem, context))
        case .reader(let problem, let offset, _, _):
            let at = offset.map { positionOf(byteOffset: $0, in: bytes) } ?? SourcePosition(line: 1, column: 1)
            return (at, "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            return (position(context.mark), "key \(names) appears more than once in this mapping")
        default:
            return (SourcePosition(line: 1, column: 1), "invalid YAML: \(error)")
        }
    }

    /// The line and column (counted in Unicode scalars) of a byte offset in valid UTF-8.
    static func positionOf(byteOffset: Int, in bytes: [UInt8]) -> SourcePosition {
        var line = 1, column = 1
        for byte in bytes.prefix(min(byteOffset, bytes.count)) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return SourcePosition(line: line, column: column)
    }

    /// The first byte that breaks UTF-8 (a bad lead byte, a missing continuation, an
    /// overlong form or a surrogate), with its position; nil when every byte is fine.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (offset: Int, position: SourcePosition)? {
        var i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let length: Int
            var lowest: UInt8 = 0x80, highest: UInt8 = 0xBF
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lowest = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; highest = 0x9F
            case 0xF0: length = 4; lowest = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; highest = 0x8F
            default: return (i, positionOf(byteOffset: i, in: bytes))
            }
            for k in 1..<length {
                let index = i + k
                let range = k == 1 ? lowest...highest : 0x80...0xBF
                guard index < bytes.count, range.contains(bytes[index]) else {
                    return (i, positionOf(byteOffset: i, in: bytes))
                }
            }
            i += length
        }
        return nil
    }
}
