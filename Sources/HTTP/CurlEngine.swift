internal import CCurl
import Foundation

/// libcurl's multi interface on one dedicated thread: every transfer of an `HTTPClient` runs
/// here, sharing the connection cache (keep-alive per host, HTTP/2 multiplexing), the DNS
/// cache and at most `limit` transfers at once. Callers hand transfers over under a lock and
/// wake the loop with `curl_multi_wakeup`.
final class CurlEngine: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let configuration: HTTPClient.Configuration
    private let lock = NSLock()
    // Guarded by `lock`:
    private var pending: [Transfer] = []
    private var cancelRequests: [Transfer] = []
    private var stopping = false
    /// Set by the loop, under the lock, before it frees the multi handle: no wake-up after that.
    private var exited = false
    // Engine thread only:
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private let noProxy: String

    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

    init(configuration: HTTPClient.Configuration) {
        _ = Self.globalInit
        self.configuration = configuration
        multi = curl_multi_init()
        _ = ccurl_multi_setopt_long(multi, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        if configuration.maxConnectionsPerHost > 0 {
            _ = ccurl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, configuration.maxConnectionsPerHost)
        }
        // Loopback never goes through a proxy (as in Go's net/http); other hosts follow the
        // usual *_proxy variables.
        let environment = ProcessInfo.processInfo.environment
        let fromEnvironment = environment["NO_PROXY"] ?? environment["no_proxy"] ?? ""
        noProxy = ([fromEnvironment] + ["localhost", "127.0.0.1", "::1"]).filter { !$0.isEmpty }.joined(separator: ",")
        let thread = Thread { [self] in run() }
        thread.name = "baton-http"
        thread.start()
    }

    func submit(_ transfer: Transfer) {
        lock.lock()
        let refused = stopping
        if !refused { pending.append(transfer) }
        lock.unlock()
        if refused {
            transfer.finish(.cancelled(url: transfer.url))
        } else {
            wake()
        }
    }

    /// Interrupts the loop's wait. Under the lock, so that it never touches a multi handle the
    /// loop has freed (a client may be shut down twice, or a stream cancelled after shutdown).
    private func wake() {
        lock.lock()
        if !exited { curl_multi_wakeup(multi) }
        lock.unlock()
    }

    func cancel(_ transfer: Transfer) {
        lock.lock()
        cancelRequests.append(transfer)
        lock.unlock()
        wake()
    }

    /// Ends every transfer with `.cancelled` and stops the thread.
    func shutdown() {
        lock.lock()
        stopping = true
        lock.unlock()
        wake()
    }

    // MARK: The loop (engine thread)

    private func run() {
        while true {
            lock.lock()
            let stop = stopping
            let cancels = cancelRequests
            cancelRequests = []
            var starting: [Transfer] = []
            if stop {
                starting = []
            } else {
                let room = max(0, configuration.maxConcurrentRequests - active.count)
                starting = Array(pending.prefix(room))
                pending.removeFirst(starting.count)
            }
            let abandoned = stop ? pending : []
            if stop { pending = [] }
            lock.unlock()

            if stop {
                for transfer in abandoned { transfer.finish(.cancelled(url: transfer.url)) }
                for (easy, transfer) in active { end(transfer, easy: easy, error: .cancelled(url: transfer.url)) }
                break
            }
            for transfer in cancels {
                if let easy = transfer.easy, active[easy] === transfer {
                    end(transfer, easy: easy, error: .cancelled(url: transfer.url))
                } else {
                    lock.lock()
                    pending.removeAll { $0 === transfer }
                    lock.unlock()
                    transfer.finish(.cancelled(url: transfer.url))
                }
            }
            for transfer in starting { start(transfer) }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active[easy] else { continue }
                let result = message.pointee.data.result
                end(transfer, easy: easy, error: result == CURLE_OK ? nil : transfer.error(for: result))
            }
            // Transfers that ended made room: start waiting ones now, not after the next socket
            // event (with none left running that wait would last the whole poll timeout).
            lock.lock()
            let waiting = !pending.isEmpty || !cancelRequests.isEmpty || stopping
            lock.unlock()
            if waiting && active.count < configuration.maxConcurrentRequests { continue }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
        lock.lock()
        exited = true
        lock.unlock()
        for easy in idleHandles { curl_easy_cleanup(easy) }
        idleHandles = []
        curl_multi_cleanup(multi)
    }

    private func start(_ transfer: Transfer) {
        // Cancelled between being taken from the queue and starting: it has been answered.
        guard !transfer.finished else { return }
        guard let easy = idleHandles.popLast() ?? curl_easy_init() else {
            transfer.finish(.invalidRequest(url: transfer.url, reason: "libcurl could not make a handle"))
            return
        }
        transfer.easy = easy
        if let problem = configure(easy, for: transfer) {
            transfer.finish(problem)
            recycle(easy)
            return
        }
        active[easy] = transfer
        curl_multi_add_handle(multi, easy)
    }

    private func end(_ transfer: Transfer, easy: UnsafeMutableRawPointer, error: HTTPError?) {
        curl_multi_remove_handle(multi, easy)
        active[easy] = nil
        transfer.finish(error)
        recycle(easy)
    }

    private func recycle(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        if idleHandles.count < 16 { idleHandles.append(easy) } else { curl_easy_cleanup(easy) }
    }

    // MARK: Setting up one exchange

    /// Sets every option of `transfer` on `easy`; a problem comes back as the error to report.
    private func configure(_ easy: UnsafeMutableRawPointer, for transfer: Transfer) -> HTTPError? {
        let request = transfer.request
        let tls = request.tls ?? configuration.tls
        var failure: HTTPError?
        func set(_ option: CURLoption, _ code: CURLcode, _ what: String) {
            if code != CURLE_OK, failure == nil {
                failure = .invalidRequest(url: transfer.url, reason: "\(what): \(String(cString: curl_easy_strerror(code)))")
            }
        }
        func setLong(_ option: CURLoption, _ value: Int, _ what: String = "option") {
            set(option, ccurl_easy_setopt_long(easy, option, value), what)
        }
        func setString(_ option: CURLoption, _ value: String, _ what: String = "option") {
            set(option, ccurl_easy_setopt_string(easy, option, value), what)
        }
        func setBlob(_ option: CURLoption, _ data: Data, _ what: String) {
            // CURL_BLOB_COPY: libcurl keeps its own copy.
            data.withUnsafeBytes { bytes in
                var blob = curl_blob(data: UnsafeMutableRawPointer(mutating: bytes.baseAddress), len: bytes.count, flags: UInt32(CURL_BLOB_COPY))
                set(option, ccurl_easy_setopt_blob(easy, option, &blob), what)
            }
        }

        // Where to go. With a TLS server name the URL names that host (for SNI and
        // verification) and CONNECT_TO sends the connection to the real one.
        var url = request.url
        if let serverName = tls.serverName, !serverName.isEmpty, var parts = URLComponents(string: request.url), let host = parts.host {
            let port = parts.port ?? (parts.scheme == "http" ? 80 : 443)
            parts.host = serverName
            url = parts.string ?? url
            transfer.connectToList = curl_slist_append(nil, "\(serverName):\(port):\(host):\(port)")
            set(CURLOPT_CONNECT_TO, ccurl_easy_setopt_slist(easy, CURLOPT_CONNECT_TO, transfer.connectToList), "connect-to")
        }
        setString(CURLOPT_URL, url, "URL")
        setLong(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_ERRORBUFFER, ccurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer), "error buffer")
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        set(CURLOPT_WRITEFUNCTION, ccurl_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, { pointer, size, count, userdata in
            guard let pointer, let userdata else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
            transfer.receivedBody(UnsafeRawBufferPointer(start: pointer, count: size * count))
            return size * count
        }), "write function")
        set(CURLOPT_WRITEDATA, ccurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context), "write data")
        set(CURLOPT_HEADERFUNCTION, ccurl_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, { pointer, size, count, userdata in
            guard let pointer, let userdata else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
            transfer.receivedHeader(UnsafeRawBufferPointer(start: pointer, count: size * count))
            return size * count
        }), "header function")
        set(CURLOPT_HEADERDATA, ccurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context), "header data")
        setLong(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        setString(CURLOPT_NOPROXY, noProxy)
        setString(CURLOPT_ACCEPT_ENCODING, "")
        setLong(CURLOPT_TCP_KEEPALIVE, 1)
        setString(CURLOPT_USERAGENT, configuration.userAgent)

        // Time limits. A stream (a watch) may be idle for long: no whole-exchange or stall
        // limit unless the request sets one.
        setLong(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.httpMilliseconds))
        if let whole = request.timeout ?? (transfer.streaming ? nil : configuration.requestTimeout) {
            setLong(CURLOPT_TIMEOUT_MS, Int(whole.httpMilliseconds))
        }
        if !transfer.streaming, let stall = configuration.stallTimeout {
            setLong(CURLOPT_LOW_SPEED_LIMIT, 1)
            setLong(CURLOPT_LOW_SPEED_TIME, max(1, Int(stall.httpMilliseconds / 1000)))
        }

        // Method and body.
        switch request.method {
        case "GET": setLong(CURLOPT_HTTPGET, 1)
        case "HEAD": setLong(CURLOPT_NOBODY, 1)
        default: setString(CURLOPT_CUSTOMREQUEST, request.method, "method")
        }
        if let body = request.body {
            set(CURLOPT_POSTFIELDSIZE_LARGE, ccurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            body.withUnsafeBytes { bytes in
                let base = bytes.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)
                set(CURLOPT_COPYPOSTFIELDS, ccurl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base)), "body")
            }
        }
        var list: UnsafeMutablePointer<curl_slist>?
        for header in request.headers { list = curl_slist_append(list, "\(header.name): \(header.value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip for large bodies
        if tls.serverName != nil, let parts = URLComponents(string: request.url), let host = parts.host,
           !request.headers.contains(where: { $0.name.lowercased() == "host" }) {
            list = curl_slist_append(list, "Host: \(host)" + (parts.port.map { ":\($0)" } ?? ""))
        }
        transfer.headerList = list
        set(CURLOPT_HTTPHEADER, ccurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list), "headers")

        // TLS.
        if tls.insecureSkipVerify {
            setLong(CURLOPT_SSL_VERIFYPEER, 0)
            setLong(CURLOPT_SSL_VERIFYHOST, 0)
        } else {
            setLong(CURLOPT_SSL_VERIFYPEER, 1)
            setLong(CURLOPT_SSL_VERIFYHOST, 2)
            switch tls.certificateAuthority {
            case .data(let pem)?:
                setBlob(CURLOPT_CAINFO_BLOB, pem, "certificate authority")
                // Only the given authority is trusted, not the system's store as well.
                set(CURLOPT_CAPATH, ccurl_easy_setopt_string(easy, CURLOPT_CAPATH, nil), "CA path")
            case .file(let path)?:
                setString(CURLOPT_CAINFO, path, "certificate authority file")
                set(CURLOPT_CAPATH, ccurl_easy_setopt_string(easy, CURLOPT_CAPATH, nil), "CA path")
            case nil:
                break
            }
        }
        switch tls.clientCertificate {
        case .data(let pem)?:
            setBlob(CURLOPT_SSLCERT_BLOB, pem, "client certificate")
            setString(CURLOPT_SSLCERTTYPE, "PEM")
        case .file(let path)?:
            setString(CURLOPT_SSLCERT, path, "client certificate file")
        case nil: break
        }
        switch tls.clientKey {
        case .data(let pem)?:
            setBlob(CURLOPT_SSLKEY_BLOB, pem, "client key")
            setString(CURLOPT_SSLKEYTYPE, "PEM")
        case .file(let path)?:
            setString(CURLOPT_SSLKEY, path, "client key file")
        case nil: break
        }
        return failure
    }
}
