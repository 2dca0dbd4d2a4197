import Foundation
import Synchronization

/// One reusable HTTP client over libcurl: keep-alive connections per host, HTTP/2 when the
/// server offers it, many requests in flight under a limit, TLS verified by default.
/// Make one per remote (per cluster) and keep it; `shutdown()` or the last reference going
/// away cancels what is still running.
public final class HTTPClient: Sendable {
    public struct Configuration: Sendable {
        /// Transfers running at once; more wait their turn.
        public var maxConcurrentRequests: Int
        /// Connections to one host at once; 0 leaves it to libcurl (HTTP/2 multiplexes anyway).
        public var maxConnectionsPerHost: Int
        public var connectTimeout: Duration
        /// The whole exchange; nil for none. Streams ignore it unless a request sets its own.
        public var requestTimeout: Duration?
        /// Fails a transfer that moves no byte for this long; nil for never. Not for streams.
        public var stallTimeout: Duration?
        public var tls: TLSConfiguration
        public var userAgent: String

        public init(maxConcurrentRequests: Int = 32, maxConnectionsPerHost: Int = 0, connectTimeout: Duration = .seconds(10),
                    requestTimeout: Duration? = .seconds(60), stallTimeout: Duration? = .seconds(30),
                    tls: TLSConfiguration = TLSConfiguration(), userAgent: String = "baton") {
            self.maxConcurrentRequests = max(1, maxConcurrentRequests)
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.stallTimeout = stallTimeout
            self.tls = tls
            self.userAgent = userAgent
        }
    }

    public let configuration: Configuration
    private let engine: CurlEngine

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        engine = CurlEngine(configuration: configuration)
    }

    deinit { engine.shutdown() }

    /// Cancels every transfer still running; later requests fail with `.cancelled`.
    public func shutdown() { engine.shutdown() }

    /// Sends `request` and returns the whole response, whatever its status. Cancelling the
    /// calling task cancels the transfer.
    public func send(_ request: HTTPRequest) async throws(HTTPError) -> HTTPResponse {
        let handle = TransferHandle(engine: engine)
        let result: Result<HTTPResponse, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                handle.start(Transfer(request: request, delivery: .buffered { continuation.resume(returning: $0) }))
            }
        } onCancel: {
            handle.cancel()
        }
        return try result.get()
    }

    /// Sends `request` and returns once the response's headers are in; the body follows as
    /// it arrives. Ending the body's iteration (or cancelling the calling task before the
    /// head) cancels the transfer. The head must come within the stall limit (else the request
    /// limit): a stream has no time limit once open, but one whose connection is dead (a black
    /// hole) would otherwise wait for its head for ever.
    public func stream(_ request: HTTPRequest) async throws(HTTPError) -> HTTPStreamResponse {
        let handle = TransferHandle(engine: engine)
        let timedOut = Flag()
        let limit = request.timeout ?? configuration.stallTimeout ?? configuration.requestTimeout
        let timer = limit.map { limit in
            Task {
                try? await Task.sleep(for: limit)
                guard !Task.isCancelled else { return }
                timedOut.set()
                handle.cancel()
            }
        }
        defer { timer?.cancel() }
        let (body, bodyContinuation) = AsyncThrowingStream<Data, any Error>.makeStream()
        let head: Result<HTTPResponseHead, HTTPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let transfer = Transfer(request: request, delivery: .streamed(
                    head: { continuation.resume(returning: $0) },
                    chunk: { bodyContinuation.yield($0) },
                    end: { error in
                        if let error { bodyContinuation.finish(throwing: error) } else { bodyContinuation.finish() }
                    }))
                bodyContinuation.onTermination = { _ in handle.cancel() }
                handle.start(transfer)
            }
        } onCancel: {
            handle.cancel()
        }
        timer?.cancel()
        if case .failure(.cancelled) = head, timedOut.isSet, let limit {
            throw .timeout(url: HTTPError.redacted(request.url), reason: "no response head within \(limit)")
        }
        return HTTPStreamResponse(head: try head.get(), body: body)
    }
}

/// A flag set once, read from anywhere.
private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Ties a caller's cancellation to a transfer that may not have been handed over yet.
private final class TransferHandle: @unchecked Sendable {
    private let engine: CurlEngine
    private let lock = NSLock()
    private var transfer: Transfer?
    private var cancelled = false

    init(engine: CurlEngine) { self.engine = engine }

    func start(_ transfer: Transfer) {
        lock.lock()
        self.transfer = transfer
        let cancelledAlready = cancelled
        lock.unlock()
        if cancelledAlready {
            transfer.finish(.cancelled(url: transfer.url))
        } else {
            engine.submit(transfer)
        }
    }

    func cancel() {
        lock.lock()
        cancelled = true
        let transfer = self.transfer
        lock.unlock()
        if let transfer { engine.cancel(transfer) }
    }
}

extension Duration {
    /// Whole milliseconds, for libcurl's `_MS` options.
    var httpMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
