import BatonCore
import Foundation
import HTTP

/// The Prometheus gate (DESIGN.md §4): an instant query (`/api/v1/query`) measured `count`
/// times, `interval` apart. A measurement passes when its value lies within `min`…`max`; the
/// gate fails as soon as failures exceed `failureLimit`. Fails closed: an error answer to the
/// query, no data, several series, or NaN is a failed measurement that says so. A measurement
/// that could not be taken at all (Prometheus unreachable, or answering 429/5xx, or a query it
/// gave up on: `timeout`, `canceled`, `unavailable`, `internal`) is no value: the evaluation
/// stops there with the verdict `unknown` (neither passed nor failed; the revision waits and
/// the gate is asked again), unless failures already exceed the limit.
///
/// Evidence: the query, and each measurement's time and value (or why there was none).
public struct PrometheusAnalysis: Sendable {
    public let gate: PrometheusGate
    public let client: HTTPClient

    public init(_ gate: PrometheusGate, client: HTTPClient) {
        self.gate = gate
        self.client = client
    }

    /// One measurement: a value, or why there is none.
    public struct Measurement: Sendable, Hashable {
        public var time: Date
        public var value: Double?
        public var problem: String?
        public var passed: Bool
        /// It could not be taken: Prometheus did not answer the query (no verdict either way).
        public var unknown: Bool = false
    }

    public func evaluate(sleep: GateSleep = realSleep, progress: @Sendable (Measurement, Int) -> Void = { _, _ in }) async -> GateOutcome {
        var measurements: [Measurement] = []
        var failures = 0
        for index in 0..<max(1, gate.count) {
            if index > 0 {
                do { try await sleep(gate.interval.duration) } catch { break }
            }
            let measurement = await measure()
            measurements.append(measurement)
            progress(measurement, index + 1)
            if measurement.unknown { break }
            if !measurement.passed { failures += 1 }
            if failures > gate.failureLimit { break }
        }
        let unmeasured = measurements.last?.unknown == true && failures <= gate.failureLimit
        let passed = !unmeasured && failures <= gate.failureLimit && measurements.count == max(1, gate.count)
        let last = measurements.last
        let lastText = last.map { m in
            m.value.map { Self.format($0) + (m.problem.map { " (\($0))" } ?? "") } ?? (m.problem ?? "no value")
        } ?? "no measurement"
        let taken = measurements.count - (unmeasured ? 1 : 0)
        let summary = (unmeasured ? "could not be measured: " : "")
            + "\(taken - failures) of \(taken) measurements \(rangeText), "
            + "\(failures) failed (limit \(gate.failureLimit)); last: \(lastText)"
        let evidence: JSONValue = [
            "url": .string(HTTPError.redacted(gate.url)), "query": .string(gate.query),
            "min": gate.min.map(JSONValue.double) ?? .null, "max": gate.max.map(JSONValue.double) ?? .null,
            "failureLimit": .int(Int64(gate.failureLimit)), "failures": .int(Int64(failures)),
            "measurements": .array(measurements.map { m in
                ["time": .string(m.time.formatted(.iso8601)), "value": m.value.map(JSONValue.double) ?? .null,
                 "problem": m.problem.map(JSONValue.string) ?? .null, "passed": .bool(m.passed), "unknown": .bool(m.unknown)]
            }),
        ]
        return GateOutcome(gate: "prometheus", verdict: unmeasured ? .unknown : passed ? .passed : .failed, summary: summary, evidence: evidence)
    }

    var rangeText: String {
        switch (gate.min, gate.max) {
        case let (low?, high?): "within \(Self.format(low))…\(Self.format(high))"
        case let (low?, nil): "≥ \(Self.format(low))"
        case let (nil, high?): "≤ \(Self.format(high))"
        case (nil, nil): "(no range)"
        }
    }

    /// Prometheus' error types for a query it could not run now (as opposed to `bad_data` or
    /// `execution`: the query itself is wrong, a definite answer).
    static let unavailableErrorTypes: Set<String> = ["timeout", "canceled", "unavailable", "internal"]

    public static func format(_ value: Double) -> String {
        value.isNaN ? "NaN" : String(format: "%.4g", value)
    }

    /// Runs the query once.
    public func measure() async -> Measurement {
        let now = Date()
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = gate.query.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        let base = gate.url.hasSuffix("/") ? String(gate.url.dropLast()) : gate.url
        // Headers read from the environment or a file are read now; one that cannot be read
        // makes the measurement fail to be taken (it never passes).
        let headers: [HTTPField]
        do {
            headers = try gate.headers.fields()
        } catch {
            return Measurement(time: now, value: nil, problem: "\(error)", passed: false)
        }
        let request = HTTPRequest(url: base + "/api/v1/query?query=" + encoded, headers: headers, timeout: .seconds(10))
        let response: HTTPResponse
        do {
            response = try await client.send(request)
        } catch {
            return Measurement(time: now, value: nil, problem: "Prometheus unreachable: \(error)", passed: false, unknown: true)
        }
        // 429 and 5xx: Prometheus (or a proxy before it) could not answer the query now.
        let unavailable = response.status == 429 || response.status >= 500
        guard let document = try? JSONValue.parseJSON(response.body) else {
            return Measurement(time: now, value: nil, problem: "Prometheus answered \(response.status) with a body that is not JSON", passed: false,
                               unknown: unavailable)
        }
        if document["status"]?.string != "success" {
            let error = document["error"]?.string ?? "status \(response.status)"
            let type = document["errorType"]?.string ?? ""
            return Measurement(time: now, value: nil, problem: "the query failed: \(error)", passed: false,
                               unknown: unavailable || Self.unavailableErrorTypes.contains(type))
        }
        let data = document["data"] ?? .null
        let sample: JSONValue?
        switch data["resultType"]?.string {
        case "vector":
            let series = data["result"]?.array ?? []
            if series.isEmpty { return Measurement(time: now, value: nil, problem: "the query returned no data", passed: false) }
            if series.count > 1 {
                return Measurement(time: now, value: nil, problem: "the query returned \(series.count) series; it must return one (aggregate it, e.g. with sum)",
                                   passed: false)
            }
            sample = series[0]["value"]
        case "scalar":
            sample = data["result"]
        default:
            return Measurement(time: now, value: nil, problem: "the query returned a \(data["resultType"]?.string ?? "missing") result; expected a vector or scalar",
                               passed: false)
        }
        guard let text = sample?.array?.last?.string, let value = Double(text) else {
            return Measurement(time: now, value: nil, problem: "the answer holds no sample value", passed: false)
        }
        if value.isNaN { return Measurement(time: now, value: value, problem: "the value is NaN (no traffic to measure?)", passed: false) }
        if let low = gate.min, value < low { return Measurement(time: now, value: value, problem: "below min \(Self.format(low))", passed: false) }
        if let high = gate.max, value > high { return Measurement(time: now, value: value, problem: "above max \(Self.format(high))", passed: false) }
        return Measurement(time: now, value: value, problem: nil, passed: true)
    }
}

/// Evaluates a stage's HTTP and Prometheus gates, one after the other. (Health is fed by the
/// reconciler; windows by the clock.)
public struct GateRunner: Sendable {
    public let client: HTTPClient
    public let sleep: GateSleep

    public init(client: HTTPClient, sleep: @escaping GateSleep = realSleep) {
        self.client = client
        self.sleep = sleep
    }

    /// Whether `stage` has gates this runner evaluates.
    public static func hasChecks(_ stage: Stage) -> Bool {
        stage.gates.contains { if case .health = $0 { false } else { true } }
    }

    public func evaluate(_ stage: Stage) async -> [GateOutcome] {
        var outcomes: [GateOutcome] = []
        for gate in stage.gates {
            switch gate {
            case .health: continue
            case .http(let http): outcomes.append(await HTTPCheck(http, client: client).evaluate(sleep: sleep))
            case .prometheus(let query): outcomes.append(await PrometheusAnalysis(query, client: client).evaluate(sleep: sleep))
            }
        }
        return outcomes
    }
}
