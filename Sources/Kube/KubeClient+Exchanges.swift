import BatonCore
import Foundation
import HTTP

/// One exchange with the API server: credentials, the request budget, retries, and the
/// encoding of paths and queries.
extension KubeClient {
    // MARK: Exchanges

    func json(_ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil,
              contentType: String? = nil, retryServerErrors: Bool = true) async throws(KubeError) -> JSONValue {
        let response = try await perform(method, path, query: query, body: body, contentType: contentType, retryServerErrors: retryServerErrors)
        return try decode(response.body, path: path)
    }

    func decode(_ data: Data, path: String) throws(KubeError) -> JSONValue {
        do {
            return try JSONValue.parse(data)
        } catch {
            throw .unexpectedResponse(path: path, detail: "not JSON")
        }
    }

    /// One call with credentials and retries; a 2xx response, or the error that ended it.
    /// `retryServerErrors: false` gives up on a 429 or 5xx answer at once (connection
    /// failures are still retried): for a request whose refusal is an answer in itself.
    func perform(_ method: String, _ path: String, query: [(String, String)] = [], body: Data? = nil,
                 contentType: String? = nil, accept: String = "application/json", retryServerErrors: Bool = true) async throws(KubeError) -> HTTPResponse {
        try await retrying(method, path, query: query, body: body, contentType: contentType, accept: accept,
                           retryServerErrors: retryServerErrors) { [http] request throws(HTTPError) in
            let response = try await http.send(request)
            return (200..<300).contains(response.status) ? .success(response) : .refused(response.head, response.body)
        }
    }

    /// Opens a stream (a watch) with the same credentials and retries as `perform`.
    func openStream(_ path: String, query: [(String, String)]) async throws(KubeError) -> HTTPStreamResponse {
        try await retrying("GET", path, query: query, body: nil, contentType: nil, accept: "application/json") { [streams] request throws(HTTPError) in
            let response = try await streams.stream(request)
            if (200..<300).contains(response.head.status) { return .success(response) }
            var body = Data()
            do {
                for try await chunk in response.body where body.count < 65_536 { body.append(chunk) }
            } catch {}
            return .refused(response.head, body)
        }
    }

    /// What one attempt came to: the result, or the server's refusal (head and body).
    enum Attempt<Value: Sendable>: Sendable {
        case success(Value)
        case refused(HTTPResponseHead, Data)
    }

    /// Runs `attempt` with fresh credentials until it succeeds, the server refuses for good,
    /// or the retry policy is spent: 401 once more after refreshing a refreshable credential;
    /// 429 and 5xx (no sooner than `Retry-After`) and transient transport failures with backoff.
    func retrying<Value: Sendable>(_ method: String, _ path: String, query: [(String, String)], body: Data?, contentType: String?,
                                           accept: String, retryServerErrors: Bool = true,
                                           _ attempt: (HTTPRequest) async throws(HTTPError) -> Attempt<Value>) async throws(KubeError) -> Value {
        let started = ContinuousClock.now
        var attempts = 0
        var refreshedCredentials = false
        while true {
            attempts += 1
            let (request, material) = try await request(method, path, query: query, body: body, contentType: contentType, accept: accept)
            let outcome: Attempt<Value>
            do {
                outcome = try await attempt(request)
            } catch {
                if error.isTransient { troubleSince.withLock { $0 = .now } }
                if error.isTransient, let wait = retry.delay(afterAttempt: attempts, elapsed: ContinuousClock.now - started) {
                    try await pause(wait, url: request.url)
                    continue
                }
                throw .transport(error)
            }
            switch outcome {
            case .success(let value):
                return value
            case .refused(let head, let body):
                if head.status == 401, !refreshedCredentials, await credentials.invalidate(after: material) {
                    refreshedCredentials = true
                    continue
                }
                if retryServerErrors, RetryPolicy.retriedStatuses.contains(head.status), !KubeStatus(code: head.status, body: body).isDefiniteServerError,
                   let wait = retry.delay(afterAttempt: attempts, elapsed: ContinuousClock.now - started,
                                          retryAfter: RetryPolicy.retryAfter(head.headers["Retry-After"])) {
                    try await pause(wait, url: request.url)
                    continue
                }
                throw .api(KubeStatus(code: head.status, body: body), method: method, path: path)
            }
        }
    }

    func request(_ method: String, _ path: String, query: [(String, String)], body: Data?, contentType: String?,
                         accept: String) async throws(KubeError) -> (HTTPRequest, Credentials.Material) {
        do {
            try await budget.acquire()
        } catch {
            throw .transport(.cancelled(url: HTTPError.redacted(server + path)))
        }
        let material = try await credentials.material()
        var headers = material.headers + [HTTPField("Accept", accept)]
        if let contentType { headers.append(HTTPField("Content-Type", contentType)) }
        var url = server + path
        if !query.isEmpty { url += "?" + query.map { "\(Self.queryComponent($0.0))=\(Self.queryComponent($0.1))" }.joined(separator: "&") }
        var request = HTTPRequest(method: method, url: url, headers: headers, body: body)
        if let certificate = material.certificate {
            var tls = self.tls
            tls.clientCertificate = .data(certificate.certificate)
            tls.clientKey = .data(certificate.key)
            request.tls = tls
        }
        return (request, material)
    }

    func pause(_ wait: Duration, url: String) async throws(KubeError) {
        do {
            try await Task.sleep(for: wait)
        } catch {
            throw .transport(.cancelled(url: HTTPError.redacted(url)))
        }
    }

    // MARK: Encoding

    /// `text` percent-encoded for a query value: every byte but RFC 3986's unreserved ones.
    static func queryComponent(_ text: String) -> String {
        percentEncoded(text, keeping: [])
    }

    /// `text` percent-encoded for a path segment (`:` and `@` may stay, as RFC 3986 allows).
    static func pathSegment(_ text: String) -> String {
        percentEncoded(text, keeping: [UInt8(ascii: ":"), UInt8(ascii: "@")])
    }

    /// Byte by byte, without Foundation's CharacterSet (which showed in a cold sync's profile):
    /// names and values are almost always unreserved already and come back unchanged.
    private static func percentEncoded(_ text: String, keeping extra: [UInt8]) -> String {
        func kept(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
            default: extra.contains(byte)
            }
        }
        if text.utf8.allSatisfy(kept) { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3)
        for byte in text.utf8 {
            if kept(byte) {
                out.append(byte)
            } else {
                out.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
