import BatonCore
import BatonTestSupport
import Testing

/// Random damage to valid files: the loader never crashes, and whatever it rejects it
/// rejects with a file and a position.
@Suite("Randomly mutated configuration")
struct ConfigMutationTests {
    static let iterations = 3_000

    enum Mutation: CaseIterable {
        case deleteLine, duplicateLine, changeValueType, truncate, insertBytes
    }

    static let replacementValues = ["[1, 2]", "{a: 1}", "true", "-7", "\"\"", "~", "0s", "ünïcødé", "&a x", "*b", "!!binary x"]

    static func mutate(_ bytes: [UInt8], _ mutation: Mutation, _ rng: inout SeededRandom) -> [UInt8] {
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        switch mutation {
        case .deleteLine:
            lines.remove(at: Int.random(in: 0..<lines.count, using: &rng))
        case .duplicateLine:
            let i = Int.random(in: 0..<lines.count, using: &rng)
            lines.insert(lines[i], at: Int.random(in: 0...lines.count, using: &rng))
        case .changeValueType:
            let i = Int.random(in: 0..<lines.count, using: &rng)
            if let colon = lines[i].firstIndex(of: ":") {
                lines[i] = lines[i][...colon] + " " + replacementValues.randomElement(using: &rng)!
            }
        case .truncate:
            return Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
        case .insertBytes:
            var out = bytes
            let at = Int.random(in: 0...out.count, using: &rng)
            let noise = (0..<Int.random(in: 1...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            out.insert(contentsOf: noise, at: at)
            return out
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    @Test("never crashes, and every problem carries a file and a position")
    func mutations() throws {
        var rng = SeededRandom(seed: 0xBA70_2026)
        let originals = ConfigFixture.environments.merging(ConfigFixture.pipelines, uniquingKeysWith: { a, _ in a })
        let paths = originals.keys.sorted()
        var rejected = 0
        var kinds: [Mutation: Int] = [:]
        for iteration in 0..<Self.iterations {
            var files = originals.mapValues { Array($0.utf8) }
            let path = paths.randomElement(using: &rng)!
            let mutation = Mutation.allCases.randomElement(using: &rng)!
            kinds[mutation, default: 0] += 1
            files[path] = Self.mutate(files[path]!, mutation, &rng)
            if Bool.random(using: &rng) {
                let second = Mutation.allCases.randomElement(using: &rng)!
                files[path] = Self.mutate(files[path]!, second, &rng)
            }
            let envs = paths.filter { $0.hasPrefix("Environments/") }.map { ConfigFile(path: $0, bytes: files[$0]!) }
            let pipes = paths.filter { $0.hasPrefix("Pipelines/") }.map { ConfigFile(path: $0, bytes: files[$0]!) }
            do {
                _ = try ConfigLoader(variables: ["HOME": "/h"]).load(environments: envs, pipelines: pipes, baseDirectory: "/c")
            } catch {
                rejected += 1
                #expect(!error.issues.isEmpty, "iteration \(iteration): rejected with no issue")
                for issue in error.issues {
                    #expect(paths.contains(issue.file), "iteration \(iteration): \(issue)")
                    let position = try #require(issue.position, "iteration \(iteration): no position in \(issue)")
                    #expect(position.line >= 1 && position.column >= 1, "iteration \(iteration): \(issue)")
                    #expect(!issue.message.isEmpty)
                }
            }
        }
        // Most mutations break something; a run that rejected almost nothing mutated nothing.
        #expect(rejected > Self.iterations / 2)
        #expect(kinds.count == Mutation.allCases.count)
    }
}
