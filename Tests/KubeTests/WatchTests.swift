import BatonCore
import Foundation
import Kube
import KubeSim
import Testing

/// Watches against KubeSim: events, resuming after the server ends a watch, relisting after 410.
@Suite("Kube: watch")
struct WatchTests {
    /// The next event, or nil after `timeout`.
    final class Events: @unchecked Sendable {
        var iterator: AsyncThrowingStream<Kube.WatchEvent, any Error>.AsyncIterator
        init(_ stream: AsyncThrowingStream<Kube.WatchEvent, any Error>) { iterator = stream.makeAsyncIterator() }

        func next(within timeout: Duration = .seconds(10)) async throws -> Kube.WatchEvent? {
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
}
