internal import CCurl
import Foundation

/// One exchange in flight: the easy handle, what it sends, what came back, and how the
/// result reaches the caller. Touched only on the engine's thread once submitted, except
/// `cancelRequested`, which the engine reads under its lock.
final class Transfer: @unchecked Sendable {
    enum Delivery {
        /// Buffer the body and hand over the whole response at the end.
        case buffered((Result<HTTPResponse, HTTPError>) -> Void)
        /// Hand over the head when headers end, then each body chunk, then the end.
        case streamed(head: (Result<HTTPResponseHead, HTTPError>) -> Void,
                      chunk: (Data) -> Void, end: (HTTPError?) -> Void)
    }

    let request: HTTPRequest
    let url: String
    let delivery: Delivery
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var connectToList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    var headers: [HTTPField] = []
    var body = Data()
    var headDelivered = false
    var finished = false

    init(request: HTTPRequest, delivery: Delivery) {
        self.request = request
        self.url = HTTPError.redacted(request.url)
        self.delivery = delivery
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
        if let connectToList { curl_slist_free_all(connectToList) }
        errorBuffer.deallocate()
    }

    var streaming: Bool {
        if case .streamed = delivery { return true }
        return false
    }

    // MARK: Called from libcurl's callbacks (engine thread)

    /// One header line as libcurl hands it over (with its CR LF). Read as bytes: this runs for
    /// every header of every response, and Foundation's trimming showed at 4 % of a cold sync.
    func receivedHeader(_ line: UnsafeRawBufferPointer) {
        let bytes = Self.trimmed(line[...])
        if bytes.starts(with: "HTTP/".utf8) {
            headers = []  // a new response (after 100 Continue): start over
            return
        }
        if bytes.isEmpty {
            // The end of one response's headers; 1xx answers are followed by the real one.
            if !headDelivered, let head = currentHead(), head.status >= 200, case .streamed(let deliverHead, _, _) = delivery {
                headDelivered = true
                deliverHead(.success(head))
            }
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = Self.trimmed(bytes[..<colon]), value = Self.trimmed(bytes[(colon + 1)...])
        headers.append(HTTPField(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// `bytes` without leading and trailing spaces, tabs, CR and LF.
    static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        func blank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, blank(bytes[start]) { start += 1 }
        while end > start, blank(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end]
    }

    func receivedBody(_ bytes: UnsafeRawBufferPointer) {
        switch delivery {
        case .buffered:
            body.append(contentsOf: bytes)
        case .streamed(let deliverHead, let chunk, _):
            if !headDelivered, let head = currentHead() {
                headDelivered = true
                deliverHead(.success(head))
            }
            chunk(Data(bytes))
        }
    }

    func currentHead() -> HTTPResponseHead? {
        guard let easy else { return nil }
        var code = 0
        guard ccurl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK, code > 0 else { return nil }
        var version = 0
        _ = ccurl_easy_getinfo_long(easy, CURLINFO_HTTP_VERSION, &version)
        let versionText = switch version {
        case Int(CURL_HTTP_VERSION_2_0): "2"
        case Int(CURL_HTTP_VERSION_3): "3"
        case Int(CURL_HTTP_VERSION_1_0): "1.0"
        default: "1.1"
        }
        return HTTPResponseHead(status: code, headers: HTTPHeaders(headers), version: versionText)
    }

    /// Hands the outcome to the caller, once.
    func finish(_ error: HTTPError?) {
        guard !finished else { return }
        finished = true
        let head: Result<HTTPResponseHead, HTTPError>
        if let error {
            head = .failure(error)
        } else if let current = currentHead() {
            head = .success(current)
        } else {
            head = .failure(.transfer(url: url, reason: "no response received"))
        }
        switch delivery {
        case .buffered(let complete):
            complete(head.map { HTTPResponse(head: $0, body: body) })
        case .streamed(let deliverHead, _, let end):
            if !headDelivered {
                headDelivered = true
                deliverHead(head)
            }
            end(error)
        }
    }

    /// Whether this transfer opened a new connection (rather than reusing one).
    private var openedConnection: Bool {
        guard let easy else { return false }
        var count = 0
        return ccurl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &count) == CURLE_OK && count > 0
    }

    /// The error libcurl's result stands for, with its explanation.
    func error(for code: CURLcode) -> HTTPError {
        let detail = String(cString: errorBuffer)
        let reason = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .nameResolution(url: url, reason: reason)
        case CURLE_COULDNT_CONNECT:
            return .cannotConnect(url: url, reason: reason)
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout(url: url, reason: reason)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CRL_BADFILE,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_INVALIDCERTSTATUS,
             CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            return .tls(url: url, reason: reason)
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING:
            // With TLS 1.3 the client's handshake is over before the server has checked the
            // client's certificate: a server that rejects it sends an alert and hangs up,
            // which the client sees on its first write or read.
            if reason.contains("SSL") || reason.contains("alert") { return .tls(url: url, reason: reason) }
            if request.url.lowercased().hasPrefix("https:"), headers.isEmpty, body.isEmpty, openedConnection {
                return .tls(url: url, reason: "the server closed the connection right after the TLS handshake, before answering "
                    + "(a server does this when it requires a client certificate and got none or one it does not trust): \(reason)")
            }
            return .transfer(url: url, reason: reason)
        case CURLE_ABORTED_BY_CALLBACK:
            return .cancelled(url: url)
        default:
            return .transfer(url: url, reason: reason)
        }
    }
}
