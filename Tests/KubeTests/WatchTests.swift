import BatonCore
import Foundation
import HTTP
import Kube
import KubeSim
import BatonTestSupport
import Testing

/// Watches against KubeSim: events, resuming after the server ends a watch, relisting after 410.
@Suite("Kube: watch")
struct WatchTests {
    /// The next event, or nil after `timeout`.
    final class Events: @unchecked Sendable {
        var iterator: AsyncThrowingStream<Kube.WatchEvent, any Error>.AsyncIterator
        init(_ stream: AsyncThrowingStream<Kube.WatchEvent, any Error>) { iterator = stream.makeAsyncIterator() }

        func next(within timeout: Duration = .seconds(30)) async throws -> Kube.WatchEvent? {
            try await withThrowingTaskGroup(of: Kube.WatchEvent?.self) { group in
                group.addTask { try await self.iterator.next() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
        }
    }

    func describe(_ event: Kube.WatchEvent?) -> String {
        switch event {
        case .added(let object)?: "added \(object[path: ["metadata", "name"]]?.string ?? "?")"
        case .modified(let object)?: "modified \(object[path: ["metadata", "name"]]?.string ?? "?") a=\(object[path: ["data", "a"]]?.string ?? "-")"
        case .deleted(let object)?: "deleted \(object[path: ["metadata", "name"]]?.string ?? "?")"
        case .relisted(let objects)?: "relisted \(names(objects).joined(separator: ","))"
        case .interrupted?: "interrupted"
        case .resumed?: "resumed"
        case nil: "nothing"
        }
    }

    @Test("starts from a list, reports changes, and resumes where it was when the server ends the watch")
    func eventsAndResume() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        try await client.apply(configMap("before", data: ["a": "0"]))
        let events = Events(client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default", serverTimeout: .seconds(1)))
        #expect(describe(try await events.next()) == "relisted before")
        try await client.apply(configMap("one", data: ["a": "1"]))
        #expect(describe(try await events.next()) == "added one")
        try await client.apply(configMap("one", data: ["a": "2"]))
        #expect(describe(try await events.next()) == "modified one a=2")
        try await client.delete(apiVersion: "v1", kind: "ConfigMap", name: "one")
        #expect(describe(try await events.next()) == "deleted one")
        // The server closes each watch after a second; what happens after it is still seen,
        // once, and nothing from before comes again.
        try await Task.sleep(for: .milliseconds(2500))
        try await client.apply(configMap("two", data: ["a": "3"]))
        #expect(describe(try await events.next()) == "added two")
        #expect(describe(try await events.next(within: .milliseconds(1500))) == "nothing")
    }

    @Test("a resourceVersion the server no longer keeps (410 Gone) makes the watch list again")
    func relistAfterGone() async throws {
        let cluster = try await SimCluster.start(state: ClusterState(historyLimit: 5))
        defer { Task { await cluster.stop() } }
        let client = cluster.client
        let first = try await client.apply(configMap("first"))
        let version = try #require(first[path: ["metadata", "resourceVersion"]]?.string)
        for index in 0..<20 { try await client.apply(configMap("later-\(index)")) }
        let events = Events(client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default", resourceVersion: version))
        let event = try await events.next()
        guard case .relisted(let objects)? = event else { Issue.record("expected a relist, got \(describe(event))"); return }
        #expect(objects.count == 21)
        try await client.apply(configMap("after"))
        #expect(describe(try await events.next()) == "added after")
    }

    @Test("a black hole leaves the watch's connection half-open: after a request failed to get through it is replaced within seconds and resumes without a list")
    func silentConnectionReplaced() async throws {
        let cluster = try await SimCluster.start { $0.bookmarkInterval = .milliseconds(300) }
        defer { Task { await cluster.stop() } }
        let resolved = try Kubeconfig.load(paths: [cluster.folder.path + "/kubeconfig"]).resolve()
        // A short connect timeout so that the request made in the hole fails quickly; the
        // silence limit is long, so only that failure can make the watch be replaced this soon.
        let client = try KubeClient(resolved, retry: RetryPolicy(maxAttempts: 30, maxDelay: .milliseconds(500), maxElapsed: .seconds(30)),
                                    http: HTTPClient.Configuration(connectTimeout: .seconds(1), requestTimeout: .seconds(2), stallTimeout: .seconds(1)))
        let events = Events(client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default", silence: .seconds(60)))
        #expect(describe(try await events.next()) == "relisted ")
        let path = "/api/v1/namespaces/default/configmaps"
        // Open, and heard from (bookmarks every 0.3 s), before the hole.
        try await waitUntil("the watch to be open") { await cluster.server.state.watcherCount > 0 }
        try await Task.sleep(for: .milliseconds(700))
        let lists = cluster.server.requests.count("GET", path), watches = cluster.server.requests.count("WATCH", path)
        // The hole stays open until the watch is seen interrupted, however late a loaded machine
        // runs the probe below (a hole of fixed length once closed before a CI run's probe was
        // sent: nothing failed, and the dead watch waited for its 60 s silence limit). 45 s only
        // bounds a failing run.
        cluster.server.simulation.faults.blackHole.open(for: .seconds(45))
        let started = ContinuousClock.now
        // Made in the hole: the event written to the watch's connection is lost with it.
        _ = try await cluster.server.state.create(ResourceType.builtIn.first { $0.kind == "ConfigMap" }!, namespace: "default",
                                                  body: configMap("during"), manager: "test")
        // Its first attempt fails in the hole (the client notes the trouble); a retry gets through
        // once the hole is closed.
        async let probe = client.version()
        #expect(describe(try await events.next(within: .seconds(40))) == "interrupted")
        let noticed = ContinuousClock.now - started
        cluster.server.simulation.faults.blackHole.close()
        #expect(describe(try await events.next(within: .seconds(15))) == "resumed")
        #expect(describe(try await events.next(within: .seconds(5))) == "added during")
        // The silence limit is 60 s: well before it, only the failed request can have ended the
        // dead watch (5 s after the failure when nothing is slow; the bound is loose for a
        // loaded machine).
        #expect(noticed < .seconds(30), "the dead watch was noticed only after \(noticed)")
        #expect(cluster.server.requests.count("GET", path) == lists, "the watch listed again")
        #expect(cluster.server.requests.count("WATCH", path) > watches)
        _ = try await probe
    }

    @Test("a quiet watch kept alive by bookmarks is not replaced; one that hears nothing for its silence limit is")
    func silenceLimit() async throws {
        let cluster = try await SimCluster.start { $0.bookmarkInterval = .milliseconds(300) }
        defer { Task { await cluster.stop() } }
        let events = Events(cluster.client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default", silence: .seconds(2)))
        #expect(describe(try await events.next()) == "relisted ")
        let path = "/api/v1/namespaces/default/configmaps"
        try await waitUntil("the watch to be open") { await cluster.server.state.watcherCount > 0 }
        try await Task.sleep(for: .seconds(3))
        #expect(cluster.server.requests.count("WATCH", path) == 1, "a live watch was replaced")
        // Half-open from here (bookmarks are lost in the hole), and no other request fails: the
        // silence limit alone finds it.
        // Open until the watch is seen interrupted: a hole of 1 s once caught no bookmark on a
        // loaded machine, so the connection stayed alive and nothing was interrupted.
        cluster.server.simulation.faults.blackHole.open(for: .seconds(30))
        #expect(describe(try await events.next(within: .seconds(25))) == "interrupted")
        cluster.server.simulation.faults.blackHole.close()
        #expect(describe(try await events.next(within: .seconds(20))) == "resumed")
        try await cluster.client.apply(configMap("after"))
        // (On a loaded machine the watch may be interrupted and resumed again meanwhile.)
        var seen: [String] = []
        while !seen.contains("added after"), seen.count < 10 { seen.append(describe(try await events.next())) }
        #expect(seen.last == "added after", "\(seen)")
    }

    @Test("an outage longer than the retry policy does not end the watch: it resumes from where it was, without a list")
    func outageLongerThanRetries() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let resolved = try Kubeconfig.load(paths: [cluster.folder.path + "/kubeconfig"]).resolve()
        // A retry policy spent within half a second: the outage below outlasts it several times.
        let client = try KubeClient(resolved, retry: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(50), maxDelay: .milliseconds(100),
                                                                 maxElapsed: .milliseconds(500)))
        let events = Events(client.watch(apiVersion: "v1", kind: "ConfigMap", namespace: "default"))
        #expect(describe(try await events.next()) == "relisted ")
        let path = "/api/v1/namespaces/default/configmaps"
        try await waitUntil("the watch to be open") { await cluster.server.state.watcherCount > 0 }
        let lists = cluster.server.requests.count("GET", path)
        // Every answer a 500, and the open watch ended, as when an API server restarts badly.
        await cluster.server.simulation.faults.set(Faults.Settings(errorRate: 1))
        await cluster.server.state.dropWatches()
        #expect(describe(try await events.next()) == "interrupted")
        _ = try await cluster.server.state.create(ResourceType.builtIn.first { $0.kind == "ConfigMap" }!, namespace: "default",
                                                  body: configMap("during"), manager: "test")
        try await Task.sleep(for: .seconds(3))
        let refused = cluster.server.requests.count("WATCH", path)
        await cluster.server.simulation.faults.set(Faults.Settings())
        #expect(describe(try await events.next(within: .seconds(40))) == "resumed")
        #expect(describe(try await events.next(within: .seconds(5))) == "added during")
        #expect(cluster.server.requests.count("GET", path) == lists, "the watch listed again")
        #expect(refused >= 3, "the watch was reopened only \(refused) times during the outage")
    }
}
