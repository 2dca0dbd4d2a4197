/// Random damage to a text file, for fuzz tests: flipped characters, YAML punctuation put where
/// it does not belong, lines deleted, doubled, swapped, re-indented or cut short, and snippets
/// that parsers find hard (aliases, tags, huge numbers, odd scalars). Deterministic per seed.
public struct Mutator: Sendable {
    public var random: SeededRandom

    public init(seed: UInt64) {
        random = SeededRandom(seed: seed)
    }

    static let characters: [Character] = [":", "-", " ", "\t", "&", "*", "[", "]", "{", "}", "\"", "'", "\n", "#", "!", "|", ">", "%", "@",
                                          "`", ",", "?", "\\", "é", "\u{0}", "\u{FEFF}", "0", "x"]
    static let snippets = [": ", "- ", "&a ", "*a", "*missing", "!!binary ", "!!int ", "1e999", "-1e999", "0x7FFFFFFFFFFFFFFFF", "~", "null", "<<: *a",
                           "{", "[", "? complex\n", "--- \n", "...\n", "\"unterminated", "'\\u0000'", "yes", "NaN", ".inf", "2026-12-03",
                           "9223372036854775808", "- - - -", "key: &a [*a]", "a: b: c", "\t- x", "apiVersion: v1", "kind: ", "metadata: {name: }"]

    /// One to three mutations of `text`.
    public mutating func mutate(_ text: String) -> String {
        var out = text
        for _ in 0..<Int.random(in: 1...3, using: &random) { out = once(out) }
        return out
    }

    private mutating func once(_ text: String) -> String {
        var chars = Array(text)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch Int.random(in: 0..<8, using: &random) {
        case 0 where !chars.isEmpty:
            chars[Int.random(in: 0..<chars.count, using: &random)] = Self.characters.randomElement(using: &random)!
            return String(chars)
        case 1:
            chars.insert(contentsOf: Self.snippets.randomElement(using: &random)!, at: Int.random(in: 0...chars.count, using: &random))
            return String(chars)
        case 2 where lines.count > 1:
            lines.remove(at: Int.random(in: 0..<lines.count, using: &random))
        case 3 where !lines.isEmpty:
            let index = Int.random(in: 0..<lines.count, using: &random)
            lines.insert(lines[index], at: index)
        case 4 where lines.count > 1:
            lines.swapAt(Int.random(in: 0..<lines.count, using: &random), Int.random(in: 0..<lines.count, using: &random))
        case 5 where !lines.isEmpty:
            let index = Int.random(in: 0..<lines.count, using: &random)
            lines[index] = String(repeating: " ", count: Int.random(in: 0...6, using: &random)) + lines[index].drop { $0 == " " }
        case 6 where !chars.isEmpty:
            return String(chars.prefix(Int.random(in: 0..<chars.count, using: &random)))
        default:
            let index = Int.random(in: 0...lines.count, using: &random)
            lines.insert(Self.snippets.randomElement(using: &random)!, at: index)
        }
        return lines.joined(separator: "\n")
    }
}
