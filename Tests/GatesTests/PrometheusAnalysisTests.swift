import BatonCore
import BatonTestSupport
import Foundation
import Gates
import HTTP
import KubeSim
import Testing

/// The Prometheus gate against a real Prometheus scraping KubeSim's `/metrics`, where a
/// service whose image ends in `-errors` answers one request in five with 500.
@Suite("Gates: Prometheus analysis with a real Prometheus", .serialized)
struct PrometheusAnalysisTests {
    /// The share of 5xx answers of one service over the last 10 s (0 when it had none).
    static func errorRate(_ service: String) -> String {
        "(sum(rate(sim_http_requests_total{service=\"\(service)\",code=~\"5..\"}[10s])) or vector(0))"
            + " / sum(rate(sim_http_requests_total{service=\"\(service)\"}[10s]))"
    }

    @Test("a healthy release passes an error-rate gate, an -errors one fails it; no data, several series and a bad query fail; a stopped Prometheus never passes and is no verdict (unknown)")
    func errorRateGate() async throws {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(100)
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("prometheus-gate")
        try dir.write("ca.pem", server.caPEM ?? "")
        let prometheus = try await PrometheusServer(scraping: [.init(address: "127.0.0.1:\(server.port)", caFile: dir.path + "/ca.pem")])
        let client = HTTPClient()
        defer {
            client.shutdown()
            Task { await prometheus.stop(); await server.stop(); dir.remove() }
        }
        try await SimApp.deploy(server, "good", image: "guestbook:1.0.0")
        try await SimApp.deploy(server, "bad", image: "guestbook:1.1.0-errors")
        try await SimApp.waitAvailable(server, "bad", caFile: dir.path + "/ca.pem")
        // KubeSim adds steady traffic to every service; wait until both rates exist.
        #expect(await prometheus.waitForData(Self.errorRate("bad") + " > 0"), "no 5xx rate for the -errors service")
        #expect(await prometheus.waitForData(Self.errorRate("good")))

        func gate(_ query: String, count: Int = 3) -> PrometheusGate {
            PrometheusGate(url: prometheus.url, query: query, max: 0.05, interval: .milliseconds(500), count: count)
        }
        var good = await PrometheusAnalysis(gate(Self.errorRate("good")), client: client).evaluate()
        // A Prometheus still busy (a loaded machine) may give up on a query: no verdict, asked again.
        for _ in 0..<20 where good.verdict == .unknown {
            try await Task.sleep(for: .milliseconds(500))
            good = await PrometheusAnalysis(gate(Self.errorRate("good")), client: client).evaluate()
        }
        #expect(good.passed, "\(good.summary)")
        #expect(good.evidence["measurements"]?.array?.count == 3)
        #expect(good.evidence["measurements"]?.array?.allSatisfy { $0["value"] == .double(0) && $0["passed"] == true } == true,
                "\(String(decoding: good.evidence.encoded(), as: UTF8.self))")

        let bad = await PrometheusAnalysis(gate(Self.errorRate("bad")), client: client).evaluate()
        #expect(!bad.passed)
        // It stops at the first failure beyond the limit (0): one measurement, above max.
        let measured = bad.evidence["measurements"]?.array ?? []
        #expect(measured.count == 1 && measured.first?["problem"]?.string?.hasPrefix("above max 0.05") == true,
                "\(String(decoding: bad.evidence.encoded(), as: UTF8.self))")
        if case .double(let value)? = measured.first?["value"] {
            #expect(value > 0.05 && value <= 1)
        } else {
            Issue.record("the failed measurement has no value")
        }
        #expect(bad.evidence["query"] == .string(Self.errorRate("bad")))

        var tolerant = gate(Self.errorRate("bad"))
        tolerant.failureLimit = 2
        let tolerated = await PrometheusAnalysis(tolerant, client: client).evaluate()
        #expect(!tolerated.passed && tolerated.evidence["failures"] == 3, "three failures exceed a limit of two")

        let none = await PrometheusAnalysis(gate("sim_http_requests_total{service=\"nothing\"}", count: 1), client: client).evaluate()
        #expect(!none.passed && none.summary.hasSuffix("last: the query returned no data"), "\(none.summary)")
        #expect(bad.summary.contains("last: ") && bad.summary.contains(" (above max 0.05)"), "\(bad.summary)")
        // Two series whatever the scrapes did (a scrape that times out on a busy machine marks
        // the scraped series stale for a moment).
        let two = "label_replace(vector(1), \"side\", \"a\", \"\", \"\") or label_replace(vector(2), \"side\", \"b\", \"\", \"\")"
        let several = await PrometheusAnalysis(gate(two, count: 1), client: client).evaluate()
        #expect(!several.passed && several.summary.contains("series; it must return one"), "\(several.summary)")
        let broken = await PrometheusAnalysis(gate("sum(rate(", count: 1), client: client).evaluate()
        #expect(!broken.passed && broken.summary.contains("the query failed: "), "\(broken.summary)")

        await prometheus.stop()
        let stopped = await PrometheusAnalysis(gate(Self.errorRate("good"), count: 1), client: client).evaluate()
        #expect(stopped.verdict == .unknown && stopped.summary.hasPrefix("could not be measured: 0 of 0 measurements")
                && stopped.summary.contains("Prometheus unreachable: cannot connect to"), "\(stopped.summary)")
        // Measured values already past the limit stay a failure; below it, a measurement that
        // cannot be taken ends the evaluation with no verdict (the first of three is not taken).
        #expect(bad.verdict == .failed && none.verdict == .failed && several.verdict == .failed && broken.verdict == .failed)
        let unmeasured = await PrometheusAnalysis(gate(Self.errorRate("good"), count: 3), client: client).evaluate()
        #expect(unmeasured.verdict == .unknown && unmeasured.evidence["measurements"]?.array?.count == 1
                && unmeasured.evidence["measurements"]?.array?.first?["unknown"] == true, "\(unmeasured.summary)")
    }

    @Test("a Prometheus that wants credentials: the gate sends headers read from a file when it runs; without them, or unreadable, it never passes")
    func credentials() async throws {
        // bcrypt of "secret-token" (made with libxcrypt's crypt(3)); the password is this test's own.
        let prometheus = try await PrometheusServer(scraping: [], basicAuth: ("baton", "$2b$04$abcdefghijklmnopqrstuuy7NkmvIztMtfWtMvF7BzeQV0WL6B66e"))
        let dir = try TemporaryDirectory("prometheus-auth")
        let client = HTTPClient()
        defer {
            client.shutdown()
            Task { await prometheus.stop(); dir.remove() }
        }
        try dir.write("authorization", "Basic " + Data("baton:secret-token".utf8).base64EncodedString() + "\n")
        func gate(_ headers: [HTTPHeader]) -> PrometheusGate {
            PrometheusGate(url: prometheus.url, query: "vector(1)", headers: headers, max: 2, interval: .milliseconds(100), count: 1)
        }
        let credential = HTTPHeader(name: "Authorization", valueFrom: .file(dir.path + "/authorization"))
        var authorized = await PrometheusAnalysis(gate([credential]), client: client).evaluate()
        // Prometheus answers 503 until its storage is ready.
        for _ in 0..<100 where authorized.summary.contains("503") {
            try await Task.sleep(for: .milliseconds(200))
            authorized = await PrometheusAnalysis(gate([credential]), client: client).evaluate()
        }
        #expect(authorized.passed, "\(authorized.summary)")
        let anonymous = await PrometheusAnalysis(gate([]), client: client).evaluate()
        #expect(anonymous.verdict == .failed && anonymous.summary.contains("401"), "\(anonymous.summary)")
        let unreadable = await PrometheusAnalysis(gate([HTTPHeader(name: "Authorization", valueFrom: .file(dir.path + "/missing"))]),
                                                  client: client).evaluate()
        #expect(!unreadable.passed && unreadable.summary.contains("header Authorization"), "\(unreadable.summary)")
        // The credential never reaches the evidence kept in the audit log.
        for outcome in [authorized, anonymous, unreadable] {
            #expect(!String(decoding: outcome.evidence.encoded(), as: UTF8.self).contains("secret-token"))
            #expect(!String(decoding: outcome.evidence.encoded(), as: UTF8.self).contains(Data("baton:secret-token".utf8).base64EncodedString()))
        }
    }
}
