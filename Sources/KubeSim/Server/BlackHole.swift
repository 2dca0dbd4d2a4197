import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// The "black hole" fault: for a while every byte to or from the server is lost, as when a
/// network path drops packets. A connection that carries a byte either way meanwhile (one made
/// then, a request sent on a kept-alive one, a watch event or bookmark written to one) is
/// half-open for good afterwards: the server neither reads from it nor writes to it, and does
/// not close it, as when a middlebox has forgotten it. The client hears nothing and must notice
/// by itself: a connect that never completes its TLS handshake, a request that never gets an
/// answer, a watch that falls silent. Connections quiet throughout survive, as TCP ones would.
///
/// Done at the first handler of each connection, below TLS, because this process cannot drop
/// packets (that takes root). The kernel still completes TCP handshakes and answers TCP
/// keepalives, which a real black hole would not: only what an HTTP client sees is faithful.
public final class BlackHole: Sendable {
    private struct State {
        var until: ContinuousClock.Instant?
        /// While the server stops: half-open connections may close, so the stop ends.
        var releasing = false
        /// Connections whose close was swallowed, to close when releasing.
        var swallowed: [ObjectIdentifier: any Channel] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// Drops every byte from now for `duration`.
    public func open(for duration: Duration) {
        state.withLock {
            $0.until = .now + duration
            $0.releasing = false
        }
    }

    /// Ends the hole now; the connections it caught stay half-open.
    public func close() {
        state.withLock { $0.until = nil }
    }

    /// Whether bytes are dropped now.
    public var isOpen: Bool {
        state.withLock { $0.until.map { $0 > .now } ?? false }
    }

    /// The server stops: every half-open connection is closed and new closes go through.
    func release() {
        let channels = state.withLock {
            $0.releasing = true
            $0.until = nil
            let channels = Array($0.swallowed.values)
            $0.swallowed.removeAll()
            return channels
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Whether a half-open connection's close is swallowed (kept for `release`) rather than done.
    fileprivate func swallowClose(of channel: any Channel) -> Bool {
        state.withLock {
            guard !$0.releasing else { return false }
            $0.swallowed[ObjectIdentifier(channel)] = channel
            return true
        }
    }
}

/// Every open connection of a server, so that a stop can close the ones a graceful shutdown
/// does not end by itself (a client still setting up: mid-handshake, between requests).
final class Connections: Sendable {
    private let open = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) { open.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { open.withLock { $0[ObjectIdentifier(channel)] = nil } }
    var count: Int { open.withLock { $0.count } }

    /// Closes every connection still open.
    func closeAll() {
        for channel in open.withLock({ Array($0.values) }) { channel.close(promise: nil) }
    }
}

/// The first handler of every connection: passes bytes through, except while the black hole is
/// open and, after it, for a connection it caught. It also keeps the connection in `connections`.
final class BlackHoleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hole: BlackHole
    private let connections: Connections
    /// Caught by the black hole: half-open for good (event-loop confined).
    private var halfOpen = false

    init(hole: BlackHole, connections: Connections) {
        self.hole = hole
        self.connections = connections
    }

    func channelActive(context: ChannelHandlerContext) {
        connections.add(context.channel)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connections.remove(context.channel)
        context.fireChannelInactive()
    }

    private func caught() -> Bool {
        if !halfOpen, hole.isOpen { halfOpen = true }
        return halfOpen
    }

    func handlerAdded(context: ChannelHandlerContext) {
        _ = caught()
        if context.channel.isActive { connections.add(context.channel) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if caught() { return }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if caught() {
            promise?.succeed()
            return
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if halfOpen { return }
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if halfOpen, hole.swallowClose(of: context.channel) {
            promise?.succeed()
            return
        }
        context.close(mode: mode, promise: promise)
    }
}

/// A server child channel with `BlackHoleHandler` in front of everything else (TLS included).
struct BlackHoleChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let hole: BlackHole
    let connections: Connections

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let hole = self.hole, connections = self.connections
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(BlackHoleHandler(hole: hole, connections: connections), position: .first)
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
