import BatonCore
import BatonTestSupport
import Foundation
import GitStore
import Manifests
import Reconciler
import Testing

@Suite("Manifests: rendering a revision")
struct RenderTests {
    @Test("multi-document files, Lists, JSON files and empty documents; other files ignored; order by path")
    func plain() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit([
            "app/a.yaml": "---\n# only a comment\n---\n" + configMapYAML("one", "1") + "\n---\n\n---\n" + configMapYAML("two", "2"),
            "app/b/list.yml": """
                apiVersion: v1
                kind: List
                items:
                - {apiVersion: v1, kind: ConfigMap, metadata: {name: three}}
                - {apiVersion: v1, kind: ConfigMap, metadata: {name: four}}
                """,
            "app/c.json": #"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "five"}}"#,
            "app/README.md": "not a manifest: [",
            "elsewhere/x.yaml": configMapYAML("outside", "0"),
        ])
        let manifests = try await Renderer(store: fixture.store, cacheRoot: fixture.dir.path + "/cache")
            .render(revision: revision, path: "app", mode: .auto)
        #expect(manifests.map(\.name) == ["one", "two", "three", "four", "five"])
        #expect(manifests.map(\.source) == ["app/a.yaml:4", "app/a.yaml:14", "app/b/list.yml:1", "app/b/list.yml:1", "app/c.json:1"])
    }

    /// A ConfigMap whose data is a tree of aliases: `levels` levels of ten, 10^levels leaves
    /// from a few hundred bytes.
    static func aliasBomb(_ name: String, levels: Int) -> String {
        var lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: \(name)}", "bomb:", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
        for level in 1..<levels {
            lines.append("  l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    @Test("an alias bomb fails the revision with file and line in bounded time; so do many files that together expand too far; aliases within bounds work")
    func aliasBombs() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let renderer = Renderer(store: fixture.store, cacheRoot: fixture.dir.path + "/cache")
        // A billion leaves from under a kilobyte.
        let bomb = try await fixture.commit(["app/bomb.yaml": Self.aliasBomb("bomb", levels: 9)])
        let started = ContinuousClock.now
        do {
            _ = try await renderer.render(revision: bomb, path: "app", mode: .plain)
            Issue.record("the bomb rendered")
        } catch {
            #expect("\(error)".contains("app/bomb.yaml:1") && "\(error)".contains("expands to more than 250000 YAML nodes"), "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        // Ten files of 111,111 nodes each: each is allowed, together they are not.
        var files: [String: String] = ["app/bomb.yaml": configMapYAML("defused", "1")]
        for index in 0..<10 { files["app/part-\(index).yaml"] = Self.aliasBomb("part-\(index)", levels: 5) }
        let parts = try await fixture.commit(files)
        do {
            _ = try await renderer.render(revision: parts, path: "app", mode: .plain)
            Issue.record("a revision expanding to 1.1 million nodes rendered")
        } catch {
            #expect("\(error)".contains("the revision expands to more than 1000000 YAML nodes"), "\(error)")
        }
        // Aliases that stay small are expanded, as kubectl expands them.
        let small = try await fixture.commit(["app/part-0.yaml": Self.aliasBomb("small", levels: 2)], remove: (1..<10).map { "app/part-\($0).yaml" })
        let manifests = try await renderer.render(revision: small, path: "app", mode: .plain)
        #expect(manifests.map(\.name).sorted() == ["defused", "small"])
        #expect(manifests.first { $0.name == "small" }?.object[path: ["bomb", "l1"]]?.array?.count == 10)
    }

    @Test("source.limits: a file, a revision or an object count beyond its limit fails naming the file and the limit; within them it renders")
    func sizeLimits() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let renderer = Renderer(store: fixture.store, cacheRoot: fixture.dir.path + "/cache")
        var files: [String: String] = [:]
        for index in 0..<5 { files["app/cm-\(index).yaml"] = configMapYAML("cm-\(index)", String(repeating: "x", count: 1000)) }
        let revision = try await fixture.commit(files)
        func failure(_ limits: SourceLimits) async -> String {
            do {
                _ = try await renderer.render(revision: revision, path: "app", mode: .plain, limits: limits)
                return "rendered"
            } catch {
                return "\(error)"
            }
        }
        let file = await failure(SourceLimits(fileBytes: 1000))
        #expect(file.contains("app/cm-0.yaml") && file.contains("more than source.limits.fileBytes (1000)"), "\(file)")
        let total = await failure(SourceLimits(revisionBytes: 3000))
        #expect(total.contains("more than source.limits.revisionBytes (3000)"), "\(total)")
        let objects = await failure(SourceLimits(objects: 4))
        #expect(objects.contains("renders 5 objects, more than source.limits.objects (4)"), "\(objects)")
        let nodes = await failure(SourceLimits(fileNodes: 5))
        #expect(nodes.contains("source.limits.fileNodes"), "\(nodes)")
        #expect(try await renderer.render(revision: revision, path: "app", mode: .plain, limits: SourceLimits(objects: 5)).count == 5)
        #expect(SourceLimits.bytes("8Mi") == 8 << 20 && SourceLimits.bytes("512Ki") == 512 << 10 && SourceLimits.bytes("4096") == 4096)
        #expect(SourceLimits.bytes("8MB") == nil && SourceLimits.bytes("0") == nil && SourceLimits.bytes("-1Ki") == nil)
    }

    @Test("a number JSON cannot hold (1e999) fails the revision naming file and line, never null or a crash")
    func numberOutOfRange() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/web.yaml": deploymentYAML("web", image: "shop:1").replacingOccurrences(of: "replicas: 2", with: "replicas: 1e999")])
        let text = try String(contentsOfFile: fixture.git.directory + "/app/web.yaml", encoding: .utf8)
        let line = (text.components(separatedBy: "\n").firstIndex { $0.contains("1e999") } ?? 0) + 1
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(report.errors == ["render failed: app/web.yaml:\(line) at \(revision.prefix(8)): the number 1e999 is out of range"], "\(report.errors)")
        #expect(!report.applied)
    }

    @Test("bytes that are not UTF-8 fail the revision naming file and line")
    func invalidUTF8() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        var bytes = Array("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"".utf8)
        bytes += [0xC3, 0x28] + Array("\"}\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: fixture.git.directory + "/app.yaml.tmp"))
        try FileManager.default.createDirectory(atPath: fixture.git.directory + "/app", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: fixture.git.directory + "/app.yaml.tmp", toPath: fixture.git.directory + "/app/x.yaml")
        let revision = try await fixture.commit([:])
        do {
            _ = try await Renderer(store: fixture.store, cacheRoot: fixture.dir.path + "/cache").render(revision: revision, path: "app", mode: .plain)
            Issue.record("invalid UTF-8 rendered")
        } catch {
            #expect("\(error)" == "app/x.yaml:4 at \(revision.prefix(8)): not valid UTF-8 (byte 63 of the file)", "\(error)")
        }
    }

    @Test("a kind not served in a built-in group fails the revision, naming file and line; in a CRD's group it is a blip (Unknown) until its CRD arrives")
    func unknownKind() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        _ = try await fixture.client.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "shop"]])
        // apps/v2 will never be served: a mistake in the revision, a definite failure.
        let typo = try await fixture.commit(["app/x.yaml": deploymentYAML("web", image: "shop:1").replacingOccurrences(of: "apps/v1", with: "apps/v2")])
        let refused = await fixture.reconciler().sync(revision: typo)
        #expect(refused.errors == ["render failed: app/x.yaml:1 at \(typo.prefix(8)): Deployment web: the cluster does not serve kind Deployment in apps/v2"])
        #expect(!refused.unavailable)

        // A Gadget of example.com: its CRD may be installed by someone else in a moment.
        let revision = try await fixture.commit(["app/x.yaml": "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"])
        let reconciler = fixture.reconciler()
        let waiting = await reconciler.sync(revision: revision)
        #expect(waiting.errors == ["app/x.yaml:1 at \(revision.prefix(8)): Gadget g: the cluster does not serve kind Gadget in example.com/v1 "
                                   + "(not yet, perhaps: a kind a CRD or an aggregated API serves; tried again until the environment's sync.timeout)"])
        #expect(waiting.unavailable && waiting.health == .unknown && !waiting.applied)
        _ = try await fixture.client.apply([
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": ["name": "gadgets.example.com"],
            "spec": ["group": "example.com", "scope": "Namespaced", "names": ["plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"],
                     "versions": [["name": "v1", "served": true, "storage": true,
                                   "schema": ["openAPIV3Schema": ["type": "object", "x-kubernetes-preserve-unknown-fields": true]]]]],
        ], fieldManager: "platform-team")
        var synced = await reconciler.sync(revision: revision)
        for _ in 0..<50 where !synced.synced {
            try await Task.sleep(for: .milliseconds(100))  // until the CRD is Established
            synced = await reconciler.sync(revision: revision)
        }
        #expect(synced.errors == [] && synced.synced && synced.applied, "\(synced.errors)")
        #expect(try await fixture.client.get(apiVersion: "example.com/v1", kind: "Gadget", name: "g", namespace: "shop")[path: ["metadata", "name"]] == "g")
    }

    @Test("an object the API server refuses fails the sync with its reason, and later waves do not start")
    func refusedObjectStopsLaterWaves() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let revision = try await fixture.commit(["app/ns.yaml": namespaceYAML, "app/bad.yaml": configMapYAML("Not_Valid", "1"),
                                           "app/late.yaml": configMapYAML("late", "1", wave: 1)])
        let report = await fixture.reconciler().sync(revision: revision)
        #expect(!report.synced && report.health == .unknown)
        #expect(report.errors.count == 1)
        #expect(report.errors.first?.hasPrefix("ConfigMap shop/Not_Valid (app/bad.yaml:1): PATCH /api/v1/namespaces/shop/configmaps/Not_Valid: 422 Invalid") == true,
                "\(report.errors)")
        #expect(report.objects.first { $0.key.name == "Not_Valid" }?.error != nil)
        // Its namespace came with the revision: it was dry-run after that step and refused before anything else was applied.
        #expect(fixture.server.requests.paths("PATCH") == ["/api/v1/namespaces/shop"])
    }
}
