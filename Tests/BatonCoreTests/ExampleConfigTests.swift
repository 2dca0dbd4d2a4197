import BatonCore
import Foundation
import Testing

/// The project's own top-level `Environments/` and `Pipelines/`: a working configuration, which `make demo` runs.
@Suite("The repository's example configuration")
struct ExampleConfigTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test("validates, with the demo's three environments in one pipeline")
    func validates() throws {
        let config = try ConfigLoader(variables: ["HOME": "/home/tester"]).load(directory: Self.root)
        #expect(config.environments.map(\.name) == ["dev", "production", "staging"])
        let pipeline = try #require(config.pipeline(named: "guestbook"))
        #expect(pipeline.chain == ["dev", "staging", "production"])
        #expect(config.environments.map { $0.cluster.context } == ["baton-dev", "baton-production", "baton-staging"])
        #expect(pipeline.stages.last?.promote == .manual)
        #expect(pipeline.stages[1].gates.map(\.kind) == ["health", "http", "prometheus"])
    }
}
