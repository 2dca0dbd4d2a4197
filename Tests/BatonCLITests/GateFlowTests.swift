import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// HTTP and Prometheus gates in a running pipeline: a real Prometheus scrapes the staging
/// KubeSim cluster, whose simulated guestbook serves 500s when its image ends in `-errors`.
@Suite("Gates in baton run and baton gates check", .serialized)
struct GateFlowTests {
    static let errorRate = "(sum(rate(sim_http_requests_total{namespace=\\\"guestbook\\\",code=\\\"500\\\"}[10s])) or vector(0))"
        + " / sum(rate(sim_http_requests_total{namespace=\\\"guestbook\\\"}[10s]))"

    @Test("an -errors release is Healthy to Kubernetes but fails staging's error-rate gate and never reaches production; a good one passes")
    func errorRateGate() async throws {
        var options = PromotionFlow.Options()
        options.productionManual = false
        options.soaks = ["dev": "0s", "staging": "6s", "production": "0s"]
        let flow = try await PromotionFlow("flow-gates", options)
        defer { Task { await flow.close() } }
        let staging = try #require(flow.servers["staging"])
        try flow.dir.write("staging-ca.pem", staging.caPEM ?? "")
        let prometheus = try await PrometheusServer(scraping: [.init(address: "127.0.0.1:\(staging.port)", caFile: flow.dir.path + "/staging-ca.pem")])
        defer { Task { await prometheus.stop() } }
        options.stagingGates = [
            "{http: {url: \"\(staging.url)/sim/services/guestbook/guestbook/healthz\", expectStatus: 200, caFile: staging-ca.pem, attempts: 3, interval: 1s}}",
            "{prometheus: {url: \"\(prometheus.url)\", query: \"\(Self.errorRate)\", max: 0.05, interval: 1s, count: 3}}",
        ]
        try flow.writePipeline(options)

        let good = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("the good release in production", seconds: 90) { flow.phase("production", good) == "verified" }
        let passed = try flow.audit().gateResults(revision: good).filter { $0.environment == "staging" }
        #expect(passed.map(\.gate) == ["http", "prometheus", "health"] && passed.allSatisfy(\.passed), "\(passed)")

        let errors = try await flow.release("guestbook:1.1.0-errors", by: "dave@example.com")
        try await flow.wait("the -errors release failing in staging", seconds: 90) { flow.phase("staging", errors) == "failed" }
        await #expect(flow.ref("production") == good, "the -errors release reached production")
        let results = try flow.audit().gateResults(revision: errors).filter { $0.environment == "staging" }
        let prometheusResult = try #require(results.first { $0.gate == "prometheus" })
        #expect(!prometheusResult.passed && results.first { $0.gate == "http" }?.passed == true, "Kubernetes and HTTP saw it healthy")
        #expect(prometheusResult.evidence["query"]?.string?.contains("code=\"500\"") == true)
        let status = try await flow.baton(["status", "guestbook"])
        #expect(status.stdout.contains("staging: \(errors.prefix(8)) \"guestbook guestbook:1.1.0-errors\" is failed since"), "\(status.stdout)")
        #expect(status.stdout.contains("  why: gate prometheus failed: "), "\(status.stdout)")
        #expect(status.stdout.contains("(above max 0.05)"), "\(status.stdout)")
        #expect(status.stdout.contains("  gate health (soak 6s): passed\n  gate http: passed: "), "\(status.stdout)")
        try await Task.sleep(for: .seconds(2))
        await #expect(flow.ref("production") == good)

        // Trying the gates by hand: the staging cluster runs the -errors release now.
        let check = try await flow.baton(["gates", "check", "guestbook", "staging"])
        #expect(check.status == 1)
        #expect(check.stdout.contains("health: passed: Synced, Healthy at \(errors.prefix(8)) now"), "\(check.stdout)")
        #expect(check.stdout.contains("http: passed: GET \(staging.url)/sim/services/guestbook/guestbook/healthz answered 200"))
        #expect(check.stdout.contains("  measurement 1 of 3 at "), "\(check.stdout)")
        #expect(check.stdout.contains("prometheus: FAILED: "))
        let json = try await flow.baton(["gates", "check", "guestbook", "dev", "--output", "json"])
        #expect(json.status == 0, "\(json.stdout)\(json.stderr)")
        #expect(try JSONValue.parse(Data(json.stdout.utf8)).array?.map { $0["gate"] } == ["health"])
    }
}
