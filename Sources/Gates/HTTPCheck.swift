import BatonCore
import Foundation
import HTTP

/// The HTTP gate (DESIGN.md §4): a request whose answer must have an expected status, and
/// optionally contain a text or hold a JSON value; tried up to `attempts` times, `interval`
/// apart, each limited to `timeout`; passes at the first attempt that matches. TLS is verified
/// (against `caFile` when given). Fails closed: a body that is not the JSON asked about is a
/// failed attempt, and nothing but a matching answer passes. When no attempt got an answer at
/// all (refused, a timeout, a TLS failure), the gate measured nothing: its verdict is
/// `unknown`, neither passed nor failed (the revision waits and the gate is asked again).
///
/// Evidence: each attempt's status (or error) and latency, and the first 512 bytes of the last
/// body. Header values and the URL's query and password never appear in it.
public struct HTTPCheck: Sendable {
    public let gate: HTTPGate
    public let client: HTTPClient

    public init(_ gate: HTTPGate, client: HTTPClient) {
        self.gate = gate
        self.client = client
    }

    public func evaluate(sleep: GateSleep = realSleep) async -> GateOutcome {
        let url = HTTPError.redacted(gate.url)
        var attempts: [JSONValue] = []
        var last = (summary: "", body: "")
        var answered = false
        for attempt in 1...max(1, gate.attempts) {
            if attempt > 1 {
                do { try await sleep(gate.interval.duration) } catch { break }
            }
            let started = ContinuousClock.now
            let headers: [HTTPField]
            do {
                headers = try gate.headers.fields()
            } catch {
                let summary = "\(gate.method) \(url): \(error)"
                return GateOutcome(gate: "http", passed: false, summary: summary, evidence: ["url": .string(url), "problem": .string(summary)])
            }
            let request = HTTPRequest(method: gate.method, url: gate.url, headers: headers,
                                      timeout: gate.timeout.duration,
                                      tls: gate.caFile.map { TLSConfiguration(certificateAuthority: .file($0)) })
            do {
                let response = try await client.send(request)
                let latency = (ContinuousClock.now - started).milliseconds
                let body = String(decoding: response.body.prefix(512), as: UTF8.self)
                let problem = check(response)
                answered = true
                attempts.append(["attempt": .int(Int64(attempt)), "status": .int(Int64(response.status)),
                                 "latencyMs": .double(latency.rounded()), "problem": problem.map(JSONValue.string) ?? .null])
                last = ("\(gate.method) \(url) answered \(response.status) in \(Int(latency)) ms" + (problem.map { ": \($0)" } ?? ""), body)
                if problem == nil {
                    return GateOutcome(gate: "http", passed: true, summary: last.summary,
                                       evidence: evidence(url, attempts, body: body))
                }
            } catch {
                let latency = (ContinuousClock.now - started).milliseconds
                attempts.append(["attempt": .int(Int64(attempt)), "error": .string("\(error)"), "latencyMs": .double(latency.rounded())])
                last = ("\(gate.method) \(url): \(error)", "")
            }
        }
        let tries = "after \(attempts.count) attempt\(attempts.count == 1 ? "" : "s")"
        if !answered, !attempts.isEmpty {
            return GateOutcome(gate: "http", verdict: .unknown, summary: "could not be checked: \(last.summary) (no answer \(tries))",
                               evidence: evidence(url, attempts, body: ""))
        }
        return GateOutcome(gate: "http", passed: false, summary: "\(last.summary) (\(tries))",
                           evidence: evidence(url, attempts, body: last.body))
    }

    private func evidence(_ url: String, _ attempts: [JSONValue], body: String) -> JSONValue {
        ["url": .string(url), "method": .string(gate.method), "attempts": .array(attempts), "body": .string(body),
         "expectStatus": .array(gate.expectStatus.map { .int(Int64($0)) })]
    }

    /// What is wrong with `response`, or nil when it is what the gate expects.
    func check(_ response: HTTPResponse) -> String? {
        if !gate.accepts(status: response.status) {
            return gate.expectStatus.isEmpty ? "expected a 2xx status"
                : "expected \(gate.expectStatus.map(String.init).joined(separator: " or "))"
        }
        if let text = gate.bodyContains, !String(decoding: response.body, as: UTF8.self).contains(text) {
            return "the body does not contain \"\(text)\""
        }
        if let condition = gate.json {
            guard let document = try? JSONValue.parseJSON(response.body) else { return "the body is not JSON" }
            guard let found = Self.resolve(condition.pointer, in: document) else { return "the body has nothing at \(condition.pointer)" }
            if !Self.matches(found, condition.equals) {
                return "\(condition.pointer) is \(String(decoding: found.encoded(), as: UTF8.self)), expected \(condition.equals)"
            }
        }
        return nil
    }

    /// The value at an RFC 6901 JSON pointer (`~1` is `/`, `~0` is `~`).
    static func resolve(_ pointer: String, in document: JSONValue) -> JSONValue? {
        guard !pointer.isEmpty else { return document }
        var current = document
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if case .array(let items) = current {
                guard let index = Int(key), items.indices.contains(index) else { return nil }
                current = items[index]
            } else if case .object(let fields) = current, let next = fields[key] {
                current = next
            } else {
                return nil
            }
        }
        return current
    }

    /// Whether `value` equals `expected` as written in the file, compared as `value`'s type.
    static func matches(_ value: JSONValue, _ expected: String) -> Bool {
        switch value {
        case .string(let text): return text == expected
        case .bool(let flag): return expected == (flag ? "true" : "false")
        case .null: return expected == "null" || expected == "~"
        case .int(let number): return Double(expected) == Double(number)
        case .double(let number): return Double(expected) == number
        default: return String(decoding: value.encoded(), as: UTF8.self) == expected
        }
    }
}
