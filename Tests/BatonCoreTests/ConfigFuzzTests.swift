import BatonCore
import BatonTestSupport
import Testing

/// Thousands of damaged configurations (fixed seed): each one loads, or is refused with problems
/// that each name a file (and, for a problem inside one, its line and column) and say what is
/// wrong. A crash fails the whole test run.
@Suite("Fuzz: damaged configuration files")
struct ConfigFuzzTests {
    @Test("3,000 mutations of the example configuration: a valid result or clear errors, never a crash")
    func mutations() async throws {
        let base = try #require(ConfigFixture.files([]))
        // Seconds of work: off the cooperative pool, which the other tests' timers need.
        let (refused, loaded, problems) = try await offThePool { Self.run(base) }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
        // The mutations reach both outcomes (a check that the fuzzing fuzzes).
        #expect(refused > 1_000 && loaded > 50, "\(refused) refused, \(loaded) loaded")
    }

    /// The 3,000 cases: how many were refused and loaded, and what was wrong with any of them.
    static func run(_ base: (environments: [ConfigFile], pipelines: [ConfigFile])) -> (Int, Int, [String]) {
        var mutator = Mutator(seed: 0xBA70_0001)
        var problems: [String] = []
        let loader = ConfigLoader(variables: ["HOME": "/home/tester"])
        var refused = 0, loaded = 0
        for _ in 0..<3_000 {
            var environments = base.environments, pipelines = base.pipelines
            // Damage one file of the set.
            let index = Int.random(in: 0..<(environments.count + pipelines.count), using: &mutator.random)
            if index < environments.count {
                environments[index] = ConfigFile(path: environments[index].path, text: mutator.mutate(String(decoding: environments[index].bytes, as: UTF8.self)))
            } else {
                let at = index - environments.count
                pipelines[at] = ConfigFile(path: pipelines[at].path, text: mutator.mutate(String(decoding: pipelines[at].bytes, as: UTF8.self)))
            }
            do {
                let config = try loader.load(environments: environments, pipelines: pipelines, baseDirectory: "/config")
                if config.environments.isEmpty { problems.append("loaded without environments") }
                loaded += 1
            } catch {
                refused += 1
                if error.issues.isEmpty { problems.append("refused without a problem") }
                for issue in error.issues where !(issue.file.hasPrefix("Environments/") || issue.file.hasPrefix("Pipelines/"))
                    || issue.message.isEmpty || !(issue.position.map { $0.line >= 1 && $0.column >= 1 } ?? true) {
                    problems.append("\(issue)")
                }
            }
        }
        return (refused, loaded, problems)
    }
}
