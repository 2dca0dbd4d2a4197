import BatonTestSupport
import Foundation
import HTTP
import Testing

/// The client against a real HTTP server (Python's http.server) on 127.0.0.1.
@Suite("HTTP: requests, keep-alive, concurrency, timeouts, errors")
struct HTTPClientTests {
    func answer(_ response: HTTPResponse) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: response.body) as? [String: Any])
    }

    @Test("sequential requests reuse one connection; a body goes out whole")
    func keepAliveAndBody() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        let client = HTTPClient()
        let first = try answer(await client.send(HTTPRequest(url: server.url + "/a")))
        let second = try answer(await client.send(HTTPRequest(url: server.url + "/b")))
        #expect(first["path"] as? String == "/a")
        #expect(first["clientPort"] as? Int == second["clientPort"] as? Int, "a new connection was opened for the second request")
        let body = Data(repeating: 0x61, count: 200_000)
        let posted = try answer(await client.send(HTTPRequest(method: "PATCH", url: server.url + "/c", body: body)))
        #expect(posted["method"] as? String == "PATCH")
        #expect(posted["bodyLength"] as? Int == 200_000)
        let head = try await client.send(HTTPRequest(method: "HEAD", url: server.url + "/d"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["content-type"] == "application/json")
    }

    @Test("requests run concurrently, up to the limit")
    func concurrency() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        /// The most requests the server had in hand at once.
        func peak(limit: Int, requests: Int) async throws -> Int {
            let client = HTTPClient(configuration: .init(maxConcurrentRequests: limit))
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<requests { group.addTask { try await client.send(HTTPRequest(url: server.url + "/slow?0.5")).status } }
                for try await status in group { #expect(status == 200) }
            }
            return try answer(await client.send(HTTPRequest(url: server.url + "/peak")))["peak"] as? Int ?? -1
        }
        let wide = try await peak(limit: 8, requests: 8)
        #expect(wide > 2, "with room for 8, at most \(wide) requests were in flight at once")
        let narrow = try await peak(limit: 2, requests: 6)
        #expect(narrow == 2, "with room for 2, \(narrow) requests were in flight at once")
    }

    @Test("a request waiting for room starts as soon as one ends, not at the engine's next wake-up")
    func queuedRequestsStartPromptly() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        // One at a time. The first request holds the only slot for a second and a half, long
        // enough for the five others to be queued. Measured at the server, so a busy machine
        // delaying this test's tasks does not count: when the engine waited for a socket event
        // before starting the next request, each waited out its one-second poll.
        let client = HTTPClient(configuration: .init(maxConcurrentRequests: 1))
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await client.send(HTTPRequest(url: server.url + "/slow?1.5")).status }
            try await Task.sleep(for: .milliseconds(200))
            for index in 0..<5 { group.addTask { try await client.send(HTTPRequest(url: server.url + "/q\(index)")).status } }
            for try await status in group { #expect(status == 200) }
        }
        let log = try #require(JSONSerialization.jsonObject(with: await client.send(HTTPRequest(url: server.url + "/log")).body) as? [[String: Any]])
        let first = try #require(log.first { $0["path"] as? String == "/slow?1.5" }?["answered"] as? Double)
        let queued = log.filter { ($0["path"] as? String)?.hasPrefix("/q") == true }.compactMap { $0["arrived"] as? Double }
        #expect(queued.count == 5)
        let last = queued.max() ?? .infinity
        #expect(last - first < 2.5, "the five queued requests reached the server over \(last - first) s after the first was answered")
    }

    @Test("timeouts, refused connections and statuses are told apart; no header value leaks")
    func errors() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        // The server answers after 3 s: a timeout error (not an answer) shows the limit cut it short.
        let client = HTTPClient(configuration: .init(requestTimeout: .milliseconds(300)))
        await #expect {
            _ = try await client.send(HTTPRequest(url: server.url + "/slow?3"))
        } throws: { error in
            guard case .timeout = error as? HTTPError else { return false }
            return true
        }

        // A stream's head must come within the stall limit too (a watch on a dead connection
        // would otherwise wait for it for ever).
        let streams = HTTPClient(configuration: .init(stallTimeout: .milliseconds(300)))
        let started = ContinuousClock.now
        await #expect {
            _ = try await streams.stream(HTTPRequest(url: server.url + "/slow?10"))
        } throws: { error in
            guard case .timeout(_, let reason) = error as? HTTPError else { return false }
            return reason.contains("no response head")
        }
        // The answer comes after 10 s: well before that (a loaded machine is slow), the stall limit ended it.
        #expect(ContinuousClock.now - started < .seconds(8), "it waited for the answer")

        let closed = try FreePort.next()
        do {
            _ = try await client.send(HTTPRequest(url: "http://127.0.0.1:\(closed)/x?token=hidden",
                                                  headers: [HTTPField("Authorization", "Bearer s3cr3t-value")]))
            Issue.record("a closed port answered")
        } catch {
            guard case .cannotConnect(let url, _) = error else { Issue.record("expected cannotConnect, got \(error)"); return }
            #expect(url == "http://127.0.0.1:\(closed)/x")
            #expect(!"\(error)".contains("s3cr3t") && !"\(error)".contains("hidden"))
        }

        let missing = try await client.send(HTTPRequest(url: server.url + "/status/404"))
        #expect(missing.status == 404)
        #expect(throws: HTTPError.self) { try missing.successful(url: server.url + "/status/404") }
    }

    @Test("a stream hands over the head, then the body; cancelling a request ends it at once")
    func streamAndCancel() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        let client = HTTPClient()
        let stream = try await client.stream(HTTPRequest(url: server.url + "/streamed"))
        #expect(stream.head.status == 200)
        var body = Data()
        for try await chunk in stream.body { body.append(chunk) }
        let seen = try #require(JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(seen["path"] as? String == "/streamed")

        // The server answers after 5 s: a cancelled error (not the answer) shows it was cut short.
        let task = Task { try await client.send(HTTPRequest(url: server.url + "/slow?5")) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("a cancelled request completed")
        } catch {
            guard case .cancelled = error as? HTTPError else { Issue.record("expected cancelled, got \(error)"); return }
        }
    }

    @Test("after shutdown requests fail as cancelled; shutting down again is harmless")
    func shutdown() async throws {
        let server = try await TestServer()
        defer { server.stop() }
        let client = HTTPClient()
        #expect(try await client.send(HTTPRequest(url: server.url + "/before")).status == 200)
        client.shutdown()
        client.shutdown()
        try await Task.sleep(for: .milliseconds(200))  // the engine's thread has ended and freed libcurl's handles
        client.shutdown()
        await #expect(throws: HTTPError.cancelled(url: server.url + "/after")) {
            try await client.send(HTTPRequest(url: server.url + "/after"))
        }
    }
}
