import Foundation

/// One HTTP header.
public struct HTTPField: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Response headers in the order received; lookup ignores case.
public struct HTTPHeaders: Sendable, Hashable {
    public var entries: [HTTPField]

    public init(_ entries: [HTTPField] = []) { self.entries = entries }

    /// The first value of `name`, ignoring case.
    public subscript(name: String) -> String? {
        let lowered = name.lowercased()
        return entries.first { $0.name.lowercased() == lowered }?.value
    }
}

/// PEM material: inline bytes or a file libcurl reads itself.
public enum PEM: Sendable, Hashable {
    case data(Data)
    case file(String)
}

/// How a connection is secured. Verification is on unless `insecureSkipVerify` says otherwise.
public struct TLSConfiguration: Sendable, Hashable {
    /// The only authority trusted for the server; the system's store when nil.
    public var certificateAuthority: PEM?
    public var clientCertificate: PEM?
    public var clientKey: PEM?
    /// Skips verifying the server's certificate and name (kubeconfig's `insecure-skip-tls-verify`).
    public var insecureSkipVerify: Bool
    /// The name to send in SNI and to verify the certificate against instead of the URL's host
    /// (kubeconfig's `tls-server-name`).
    public var serverName: String?

    public init(certificateAuthority: PEM? = nil, clientCertificate: PEM? = nil, clientKey: PEM? = nil,
                insecureSkipVerify: Bool = false, serverName: String? = nil) {
        self.certificateAuthority = certificateAuthority
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
    }
}

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [HTTPField]
    public var body: Data?
    /// The whole exchange's limit; the client's default when nil. Streams have none unless set.
    public var timeout: Duration?
    /// Overrides the client's TLS settings for this request (for example a client certificate
    /// an exec credential plugin handed out).
    public var tls: TLSConfiguration?

    public init(method: String = "GET", url: String, headers: [HTTPField] = [], body: Data? = nil,
                timeout: Duration? = nil, tls: TLSConfiguration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.tls = tls
    }
}

/// The status line and headers of a response.
public struct HTTPResponseHead: Sendable, Hashable {
    public var status: Int
    public var headers: HTTPHeaders
    /// "1.1" or "2".
    public var version: String
}

public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: Data

    public var status: Int { head.status }
    public var headers: HTTPHeaders { head.headers }

    /// The response when its status is 2xx; otherwise `HTTPError.status`.
    public func successful(url: String) throws(HTTPError) -> HTTPResponse {
        guard (200..<300).contains(status) else {
            throw .status(url: HTTPError.redacted(url), code: status, body: String(decoding: body.prefix(512), as: UTF8.self))
        }
        return self
    }
}

/// A streamed response: the head, then the body as it arrives (for watches).
public struct HTTPStreamResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: AsyncThrowingStream<Data, any Error>
}

/// Why an exchange failed. Never carries a header value, a body sent, or a URL's password.
public enum HTTPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Nothing accepted the connection (refused, unreachable).
    case cannotConnect(url: String, reason: String)
    /// The host name did not resolve.
    case nameResolution(url: String, reason: String)
    /// The TLS handshake or verification failed; `reason` is libcurl's (OpenSSL's) explanation.
    case tls(url: String, reason: String)
    /// Connecting, the whole exchange or a stalled transfer ran out of time.
    case timeout(url: String, reason: String)
    /// The server answered with a status the caller did not accept.
    case status(url: String, code: Int, body: String)
    /// The connection broke mid-way or another transfer failure.
    case transfer(url: String, reason: String)
    /// The request was cancelled or the client shut down.
    case cancelled(url: String)
    /// The request could not be built (a bad URL, an unreadable certificate).
    case invalidRequest(url: String, reason: String)

    public var description: String {
        switch self {
        case .cannotConnect(let url, let reason): "cannot connect to \(url): \(reason)"
        case .nameResolution(let url, let reason): "cannot resolve the host of \(url): \(reason)"
        case .tls(let url, let reason): "TLS failure talking to \(url): \(reason)"
        case .timeout(let url, let reason): "timed out talking to \(url): \(reason)"
        case .status(let url, let code, let body): "\(url) answered \(code)" + (body.isEmpty ? "" : ": \(body)")
        case .transfer(let url, let reason): "transfer with \(url) failed: \(reason)"
        case .cancelled(let url): "request to \(url) was cancelled"
        case .invalidRequest(let url, let reason): "cannot send a request to \(url): \(reason)"
        }
    }

    /// Whether trying again may help: connection failures, timeouts and broken transfers.
    public var isTransient: Bool {
        switch self {
        case .cannotConnect, .timeout, .transfer, .nameResolution: true
        case .tls, .status, .cancelled, .invalidRequest: false
        }
    }

    /// `url` without user information and query (query strings may carry tokens).
    public static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else { return "<unparseable URL>" }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        return parts.string ?? "<unparseable URL>"
    }
}
