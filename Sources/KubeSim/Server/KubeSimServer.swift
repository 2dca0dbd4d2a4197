import Foundation
import Synchronization
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// A running KubeSim cluster: an HTTPS (or plain HTTP) server on 127.0.0.1 in this process.
public final class KubeSimServer: Sendable {
    public struct Configuration: Sendable {
        public var port: Int = 0
        public var tls = true
        /// The bearer token clients must send; nil accepts any request (debugging only).
        public var token: String? = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        public var rolloutDelay: Duration = .seconds(1)
        /// How often a watch that asked for bookmarks gets one; kube-apiserver sends one about
        /// every minute. Tests of silence detection shorten it.
        public var bookmarkInterval: Duration = .seconds(60)
        public var faults = Faults.Settings()
        /// A file to keep the cluster's objects in: loaded at start when it exists, written
        /// whenever they change, so they survive a restart.
        public var stateFile: String?
        /// Whether `/api` and `/apis` answer with aggregated discovery to clients that ask
        /// for it (as Kubernetes 1.30+ does); off serves only the classic documents.
        public var aggregatedDiscovery = true
        /// Offers HTTP/2 (ALPN `h2`, with HTTP/1.1 for clients that do not speak it), as real
        /// API servers do. Off by default: the kubectl conformance tests run over HTTP/1.1.
        public var http2 = false
        /// More users, by bearer token (the admin `token` stays all-powerful: `system:masters`).
        /// What they may do is what the cluster's Roles and bindings grant them.
        public var users: [String: UserInfo] = [:]
        /// Authorize requests by RBAC, as kube-apiserver with `--authorization-mode=RBAC`; off,
        /// every authenticated user may do everything (benchmarks compare the two).
        public var rbac = true

        public init() {}
    }

    public let state: ClusterState
    public let simulation: Simulation
    /// Every request received, counted by method and path.
    public let requests: RequestLog
    public let port: Int
    public let token: String?
    /// The other users (`Configuration.users`), by token.
    public let users: [String: UserInfo]
    /// The CA that signed the serving certificate (nil for plain HTTP).
    public let caPEM: String?
    private let listener: Listener
    private let controllers: Task<Void, Never>

    /// `https://127.0.0.1:PORT` (or `http://`).
    public var url: String { "\(caPEM == nil ? "http" : "https")://127.0.0.1:\(port)" }

    private init(state: ClusterState, simulation: Simulation, requests: RequestLog, port: Int, token: String?, users: [String: UserInfo],
                 caPEM: String?, listener: Listener, controllers: Task<Void, Never>) {
        self.users = users
        self.state = state
        self.simulation = simulation
        self.requests = requests
        self.port = port
        self.token = token
        self.caPEM = caPEM
        self.listener = listener
        self.controllers = controllers
    }

    /// Starts a server and returns once it listens.
    public static func start(_ configuration: Configuration = Configuration(), state: ClusterState = ClusterState()) async throws -> KubeSimServer {
        if let file = configuration.stateFile, let data = FileManager.default.contents(atPath: file) {
            do {
                try await state.restore(data)
            } catch {
                throw KubeSimError(message: "\(file): not a KubeSim state file: \(error)")
            }
        }
        let simulation = Simulation(state: state, rolloutDelay: configuration.rolloutDelay, faults: configuration.faults,
                                    bookmarkInterval: configuration.bookmarkInterval)
        let requests = RequestLog()
        let authenticator = Authenticator(admin: configuration.token, users: configuration.users)
        let responder = HTTPAdapter(responder: Responder(state: state, authenticator: authenticator, simulation: simulation, requests: requests,
                                                               aggregatedDiscovery: configuration.aggregatedDiscovery, rbac: configuration.rbac))
        // Every connection passes the black-hole fault's handler first, below TLS.
        let hole = simulation.faults.blackHole
        let connections = Connections()
        var builder = HTTPServerBuilder { responder in
            BlackHoleChannel(base: HTTP1Channel(responder: responder), hole: hole, connections: connections)
        }
        var caPEM: String?
        if configuration.tls {
            let certificates = try SimCertificates.generate()
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificates.certificatePEM.utf8), format: .pem))],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificates.privateKeyPEM.utf8), format: .pem)))
            builder = configuration.http2
                ? HTTPServerBuilder { responder in
                    BlackHoleChannel(base: try HTTP2UpgradeChannel(tlsConfiguration: tls, responder: responder), hole: hole, connections: connections)
                }
                : HTTPServerBuilder { responder in
                    BlackHoleChannel(base: try TLSChannel(HTTP1Channel(responder: responder), tlsConfiguration: tls), hole: hole,
                                     connections: connections)
                }
            caPEM = certificates.caPEM
        }
        let listener = Listener(responder: responder, builder: builder, blackHole: hole, connections: connections,
                                endStreams: { await state.dropWatches() })
        let port = try await listener.start(port: configuration.port)
        await simulation.faults.onRefuse { [listener] duration in
            await listener.refuse(for: duration, port: port)
        }
        let stateFile = configuration.stateFile
        let controllers = Task { await simulation.run(stateFile: stateFile) }
        return KubeSimServer(state: state, simulation: simulation, requests: requests, port: port, token: configuration.token,
                             users: configuration.users, caPEM: caPEM,
                             listener: listener, controllers: controllers)
    }

    /// Stops listening and the controllers.
    public func stop() async {
        controllers.cancel()
        await listener.stop()
        await controllers.value
    }

    /// Stops listening for `duration` (connections are refused), then listens again on the
    /// same port: the "refusing connections" fault.
    /// Stops listening for `duration` and starts again on the same port; returns as soon as
    /// connections are refused. (Connecting while it stops can crash NIO: wait for this to
    /// return before trying.)
    public func refuseConnections(for duration: Duration) async {
        await listener.refuse(for: duration, port: port)
    }

    /// Ends the "refusing connections" fault before its time: returns once the port listens
    /// again (or after 5 s of trying).
    public func acceptConnections() async {
        await listener.acceptAgain(port: port)
    }
}

/// The HTTP listener, which can be stopped and started again on the same port.
actor Listener {
    let responder: HTTPAdapter
    let builder: HTTPServerBuilder
    let blackHole: BlackHole
    let connections: Connections
    /// Ends the responses that would stay open for ever (watches), so a graceful shutdown ends.
    let endStreams: @Sendable () async -> Void
    private var task: Task<Void, any Error>?
    private var group: ServiceGroup?
    private var stopped = false

    init(responder: HTTPAdapter, builder: HTTPServerBuilder, blackHole: BlackHole, connections: Connections,
         endStreams: @escaping @Sendable () async -> Void) {
        self.responder = responder
        self.builder = builder
        self.blackHole = blackHole
        self.connections = connections
        self.endStreams = endStreams
    }

    /// Starts listening on `port` (0: a free one) and returns the port once it listens.
    func start(port: Int) async throws -> Int {
        var logger = Logger(label: "kubesim")
        logger.logLevel = .critical
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(responder: responder, server: builder,
                              configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil),
                              onServerRunning: { channel in
                                  portContinuation.yield(channel.localAddress?.port ?? 0)
                                  portContinuation.finish()
                              }, logger: logger)
        // Run in a service group of our own so stopping can be graceful: the listening socket
        // closes first and connections it already accepted are still served. Cancelling the
        // application outright races with connections arriving meanwhile and trips a
        // precondition in NIO ("Deinited NIOAsyncWriter without calling finish()").
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: logger))
        let task = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        responder.stopping.set(false)
        var bound = 0
        for await value in ports { bound = value }
        guard bound > 0 else {
            task.cancel()
            if case .failure(let error) = await task.result { throw error }
            throw KubeSimError(message: "the server did not start on port \(port)")
        }
        self.task = task
        self.group = group
        return bound
    }

    /// Stops for good: a refusal still running does not start it again.
    func stop() async {
        stopped = true
        await halt()
        reservation?.release()
        reservation = nil
    }

    /// While connections are refused, the port is held by a bound socket that never listens,
    /// so that no other server started meanwhile (tests run in parallel) is handed it.
    private var reservation: PortReservation?

    /// Graceful shutdown: the listening socket closes at once, idle connections close, requests
    /// under way are answered, and watches are ended (again every 100 ms while it lasts, for one
    /// that began meanwhile), so the server stops by itself. Cancelling it instead races with
    /// connections accepted and not yet served, which trips NIO's "Deinited NIOAsyncWriter
    /// without calling finish()" (apple/swift-nio#3481); it is done only after 5 s, for a
    /// request held longer (a freeze fault).
    private func halt() async {
        guard let task else { return }
        responder.stopping.set(true)
        blackHole.release()
        await group?.triggerGracefulShutdown()
        let endStreams = self.endStreams, connections = self.connections
        let deadline = Task {
            for round in 0..<50 {
                await endStreams()
                // A connection the graceful shutdown leaves open after a few rounds (a client
                // still setting up: mid-handshake, between its requests) is closed from here.
                if round == 3 { connections.closeAll() }
                try await Task.sleep(for: .milliseconds(100))
            }
            task.cancel()
        }
        _ = await task.result
        deadline.cancel()
        self.task = nil
        group = nil
    }

    /// Stops listening now and for `duration`, then listens on the same port again (unless
    /// the server was stopped meanwhile). Returns once connections are refused; the restart
    /// runs in the background.
    func refuse(for duration: Duration, port: Int) async {
        let started = ContinuousClock.now
        // Taken the moment the listening socket closes (which comes first in `halt`).
        let held = reservation != nil  // refusing already
        let reserving = Task.detached { () -> PortReservation? in
            for _ in 0..<(held ? 0 : 2500) {
                if let taken = PortReservation.take(port) { return taken }
                try? await Task.sleep(for: .milliseconds(2))
            }
            return nil
        }
        await halt()
        if !held { reservation = await reserving.value }
        restarting?.cancel()
        restarting = Task {
            try? await Task.sleep(until: started + duration)
            if Task.isCancelled { return }
            await restart(port: port)
        }
    }

    /// The restart a refusal scheduled.
    private var restarting: Task<Void, Never>?

    /// Ends a refusal now: listens on `port` again.
    func acceptAgain(port: Int) async {
        restarting?.cancel()
        restarting = nil
        await restart(port: port)
    }

    private func restart(port: Int) async {
        reservation?.release()
        reservation = nil
        for _ in 0..<50 {
            if stopped || task != nil { return }
            if (try? await start(port: port)) != nil { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// A socket bound to 127.0.0.1:PORT that never listens: connections to the port are refused,
/// and the kernel hands the port to no other socket binding port 0 meanwhile.
final class PortReservation: Sendable {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// The port held, or nil while something else (the listener closing) still holds it.
    static func take(_ port: Int) -> PortReservation? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        // Connections the old listener accepted may linger in TIME_WAIT on this port.
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            close(descriptor)
            return nil
        }
        return PortReservation(descriptor: descriptor)
    }

    func release() {
        close(descriptor)
    }
}

public struct KubeSimError: Error, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Hummingbird's side of the responder.
struct HTTPAdapter: HTTPResponder {
    typealias Context = BasicRequestContext
    let responder: Responder
    /// Set while the listener stops: a request that still arrives on a kept-alive connection
    /// (a client re-opening its watch) gets a 503 that closes the connection, so the graceful
    /// stop does not wait for it.
    let stopping = StoppingFlag()

    func respond(to request: Request, context: Context) async throws -> Response {
        if stopping.isSet {
            let status = APIError(code: 503, reason: "ServiceUnavailable", message: "the server is shutting down").status
            return Response(status: .serviceUnavailable, headers: [.contentType: "application/json", .connection: "close"],
                            body: .init(byteBuffer: ByteBuffer(data: status.encoded())))
        }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let body = try await request.body.collect(upTo: 64 * 1024 * 1024)
        let simRequest = SimRequest(method: request.method.rawValue, path: request.uri.path,
                                    query: SimRequest.parseQuery(request.uri.query), headers: headers,
                                    body: Data(buffer: body))
        switch await responder.respond(simRequest) {
        case .json(let code, let value):
            var headers: HTTPFields = [.contentType: "application/json"]
            if code == 429, let seconds = value[path: ["details", "retryAfterSeconds"]]?.int {
                headers[.retryAfter] = String(seconds)
            }
            return Response(status: .init(code: code), headers: headers, body: .init(byteBuffer: ByteBuffer(data: value.encoded())))
        case .text(let code, let text, let contentType):
            return Response(status: .init(code: code), headers: [.contentType: contentType],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        case .watch(let stream):
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody { writer in
                                for await chunk in stream {
                                    try await writer.write(ByteBuffer(data: chunk))
                                }
                                try await writer.finish(nil)
                            })
        }
    }
}

/// Whether the listener is stopping, read by every request.
final class StoppingFlag: Sendable {
    private let value = Mutex(false)
    func set(_ stopping: Bool) { value.withLock { $0 = stopping } }
    var isSet: Bool { value.withLock { $0 } }
}
