import BatonCore
import BatonTestSupport
import Foundation
import Gates
import HTTP
import KubeSim
import Testing

/// The HTTP gate through libcurl against KubeSim's simulated service endpoints (HTTPS with
/// KubeSim's own CA).
@Suite("Gates: HTTP checks against KubeSim")
struct HTTPCheckTests {
    struct Setup {
        let server: KubeSimServer
        let dir: TemporaryDirectory
        let client = HTTPClient()
        var caFile: String { dir.path + "/ca.pem" }

        func url(_ path: String) -> String { server.url + path }

        func close() async {
            client.shutdown()
            await server.stop()
            dir.remove()
        }
    }

    func setup() async throws -> Setup {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(100)
        let server = try await KubeSimServer.start(configuration)
        let dir = try TemporaryDirectory("http-gate")
        try dir.write("ca.pem", server.caPEM ?? "")
        try await SimApp.deploy(server, "web", image: "web:1")
        try await SimApp.service(server, "down")
        try await SimApp.waitAvailable(server, "web", caFile: dir.path + "/ca.pem")
        return Setup(server: server, dir: dir)
    }

    /// Sleeps that only count: the test need not wait out intervals.
    final class Sleeps: @unchecked Sendable {
        var taken: [Duration] = []
        var sleep: GateSleep { { self.taken.append($0) } }
    }

    @Test("200 passes at the first attempt, with status, latency and body as evidence")
    func passes() async throws {
        let setup = try await setup()
        defer { Task { await setup.close() } }
        let gate = HTTPGate(url: setup.url("/sim/services/default/web/healthz"), expectStatus: [200], bodyContains: "ok", attempts: 3,
                            caFile: setup.caFile)
        let outcome = await HTTPCheck(gate, client: setup.client).evaluate()
        #expect(outcome.passed, "\(outcome.summary)")
        #expect(outcome.summary.hasPrefix("GET \(setup.url("/sim/services/default/web/healthz")) answered 200 in "))
        #expect(outcome.evidence["body"] == "ok\n")
        #expect(outcome.evidence["attempts"]?.array?.count == 1 && outcome.evidence["attempts"]?.array?.first?["latencyMs"] != nil)
    }

    @Test("503 fails after all its attempts, each one seen by the server, interval apart")
    func failsAfterAttempts() async throws {
        let setup = try await setup()
        defer { Task { await setup.close() } }
        let path = "/sim/services/default/down/healthz"
        let sleeps = Sleeps()
        let gate = HTTPGate(url: setup.url(path), expectStatus: [200], attempts: 3, interval: .seconds(2), caFile: setup.caFile)
        let outcome = await HTTPCheck(gate, client: setup.client).evaluate(sleep: sleeps.sleep)
        #expect(!outcome.passed)
        #expect(outcome.summary == "GET \(setup.url(path)) answered 503 in \(outcome.summary.split(separator: " ")[5]) ms: expected 200 (after 3 attempts)")
        #expect(setup.server.requests.count("GET", path) == 3)
        #expect(sleeps.taken == [.seconds(2), .seconds(2)])
        #expect(outcome.evidence["body"] == "service unavailable: no available backend\n")
    }

    @Test("no answer at all (a certificate the CA file does not vouch for, a timeout, a closed port) never passes and is no verdict: unknown")
    func failsClosed() async throws {
        let setup = try await setup()
        defer { Task { await setup.close() } }
        let other = try await KubeSimServer.start()
        try setup.dir.write("other-ca.pem", other.caPEM ?? "")
        await other.stop()
        let wrongCA = HTTPGate(url: setup.url("/sim/services/default/web/healthz"), caFile: setup.dir.path + "/other-ca.pem")
        let tls = await HTTPCheck(wrongCA, client: setup.client).evaluate()
        #expect(tls.verdict == .unknown && tls.summary.contains("TLS failure"), "\(tls.summary)")
        // Without the CA file the system's store does not know KubeSim's CA either.
        let noCA = HTTPGate(url: setup.url("/sim/services/default/web/healthz"))
        #expect(await HTTPCheck(noCA, client: setup.client).evaluate().verdict == .unknown)

        let port = try FreePort.next()
        let closed = await HTTPCheck(HTTPGate(url: "http://127.0.0.1:\(port)/healthz", attempts: 2, interval: .milliseconds(10)),
                                     client: setup.client).evaluate()
        #expect(closed.verdict == .unknown && closed.summary.hasPrefix("could not be checked: ") && closed.summary.contains("cannot connect")
                && closed.summary.hasSuffix("(no answer after 2 attempts)"), "\(closed.summary)")
        #expect(closed.evidence["attempts"]?.array?.count == 2)

        // Every answer delayed by 3 s; the gate allows 500 ms.
        let faults = try await CommandRun.run("/usr/bin/curl", ["-s", "--cacert", setup.caFile, "-H", "Authorization: Bearer \(setup.server.token ?? "")",
                                                                    "-X", "POST", "--data", #"{"latencyMs": 3000}"#, setup.url("/sim/faults")])
        #expect(faults.status == 0)
        let slow = HTTPGate(url: setup.url("/sim/services/default/web/healthz"), timeout: .milliseconds(500), caFile: setup.caFile)
        let started = ContinuousClock.now
        let timedOut = await HTTPCheck(slow, client: setup.client).evaluate()
        #expect(timedOut.verdict == .unknown && timedOut.summary.contains("timed out"), "\(timedOut.summary)")
        #expect(ContinuousClock.now - started < .seconds(3), "the gate waited for the answer, not its timeout")
    }

    @Test("a JSON condition on the body; header values never reach the evidence")
    func jsonCondition() async throws {
        let setup = try await setup()
        defer { Task { await setup.close() } }
        let token = setup.server.token ?? ""
        var gate = HTTPGate(url: setup.url("/version"), headers: [HTTPHeader(name: "Authorization", value: "Bearer \(token)")],
                            json: JSONCondition(pointer: "/gitVersion", equals: "v1.32.0-kubesim"), caFile: setup.caFile)
        let passed = await HTTPCheck(gate, client: setup.client).evaluate()
        #expect(passed.passed, "\(passed.summary)")
        gate.json = JSONCondition(pointer: "/gitVersion", equals: "v1.33.0")
        let failed = await HTTPCheck(gate, client: setup.client).evaluate()
        #expect(!failed.passed && failed.summary.hasSuffix(#": /gitVersion is "v1.32.0-kubesim", expected v1.33.0 (after 1 attempt)"#), "\(failed.summary)")
        gate.json = JSONCondition(pointer: "/missing/0", equals: "x")
        #expect(await HTTPCheck(gate, client: setup.client).evaluate().summary.contains("the body has nothing at /missing/0"))
        let everything = String(decoding: failed.evidence.encoded(), as: UTF8.self) + failed.summary
        #expect(!everything.contains(token))
        // Not JSON at all.
        let text = HTTPGate(url: setup.url("/sim/services/default/web/healthz"), json: JSONCondition(pointer: "", equals: "ok"), caFile: setup.caFile)
        #expect(await HTTPCheck(text, client: setup.client).evaluate().summary.contains("the body is not JSON"))
    }

    @Test("a header read from a file when the gate runs is sent; one that cannot be read fails the gate closed, naming where it looked")
    func headerFromFile() async throws {
        let setup = try await setup()
        defer { Task { await setup.close() } }
        let token = setup.server.token ?? ""
        try setup.dir.write("token", "Bearer \(token)\n")
        let gate = HTTPGate(url: setup.url("/version"), headers: [HTTPHeader(name: "Authorization", valueFrom: .file(setup.dir.path + "/token"))],
                            caFile: setup.caFile)
        let passed = await HTTPCheck(gate, client: setup.client).evaluate()
        #expect(passed.passed, "\(passed.summary)")
        #expect(!(String(decoding: passed.evidence.encoded(), as: UTF8.self) + passed.summary).contains(token))
        let missing = HTTPGate(url: setup.url("/version"), headers: [HTTPHeader(name: "Authorization", valueFrom: .env("BATON_TEST_NO_SUCH_VARIABLE"))],
                               caFile: setup.caFile)
        let failed = await HTTPCheck(missing, client: setup.client).evaluate()
        #expect(!failed.passed)
        #expect(failed.summary.hasSuffix("header Authorization: environment variable BATON_TEST_NO_SUCH_VARIABLE is not set"), "\(failed.summary)")
    }
}
