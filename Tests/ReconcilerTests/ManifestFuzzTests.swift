import BatonCore
import BatonTestSupport
import Foundation
@testable import Manifests
import Reconciler
import Testing

/// Damaged manifests (fixed seed): parsing and normalising thousands of them ends in objects or
/// a clear error naming the file, never a crash; and a damaged revision that fails a sync
/// against KubeSim has written nothing.
@Suite("Fuzz: damaged manifests")
struct ManifestFuzzTests {
    static let app = [configMapYAML("settings", "1"), deploymentYAML("web", image: "shop:1"),
                      "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]\n"]
        .joined(separator: "\n---\n")

    @Test("2,000 mutations parsed and normalised: objects or an error naming the file, never a crash")
    func parsing() async throws {
        // Parsing is the CPU work: off the cooperative pool, which the other tests' timers need.
        let parsed: [Result<[Manifest], RenderError>] = try await offThePool {
            var mutator = Mutator(seed: 0xBA70_0002)
            return (0..<2_000).map { _ in
                let text = mutator.mutate(Self.app)
                return Result { () throws(RenderError) in try Renderer.documents(text, file: "app/app.yaml", revision: "fuzz") }
            }
        }
        var failed = 0, normalised = 0
        for result in parsed {
            do {
                _ = try await Normalizer(environment: "dev", namespace: "shop", revision: "fuzz").normalize(try result.get()) { _, kind in kind != "Namespace" }
                normalised += 1
            } catch {
                failed += 1
                #expect("\(error)".contains("app/app.yaml"), "\(error)")
            }
        }
        #expect(failed > 500 && normalised > 100, "\(failed) failed, \(normalised) normalised")
    }

    @Test("30 damaged revisions synced: each syncs, or fails having written nothing")
    func syncing() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]])
        let reconciler = fixture.reconciler()
        #expect(await reconciler.sync(revision: try await fixture.commit(["app/app.yaml": Self.app])).errors == [])
        var mutator = Mutator(seed: 0xBA70_0003)
        var failures = 0
        for _ in 0..<30 {
            let text = mutator.mutate(Self.app)
            let revision = try await fixture.commit(["app/app.yaml": text])
            let writes = CorpusTests.writes(fixture.server)
            let report = await reconciler.sync(revision: revision)
            if !report.errors.isEmpty {
                failures += 1
                #expect(CorpusTests.writes(fixture.server) == writes, "a failed revision wrote: \(report.errors)")
                #expect(report.errors.allSatisfy { !$0.isEmpty })
            }
        }
        #expect(failures > 5, "\(failures) of 30 damaged revisions failed")
    }
}
