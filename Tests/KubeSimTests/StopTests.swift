import BatonTestSupport
import Foundation
import KubeSim
import Synchronization
import Testing

/// Stopping a KubeSim server while clients keep connecting: NIO traps ("Deinited NIOAsyncWriter
/// without calling finish()") when a server is cancelled with a connection half-accepted, which
/// would kill the whole test run. The server stops gracefully; this test makes sure of it.
@Suite("KubeSim: a clean stop")
struct StopTests {
    /// Set once, read from a thread.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Connects to `port`, sends a request, reads what comes within 50 ms, closes; whether an
    /// answer came.
    @discardableResult
    static func poke(_ port: Int) -> Bool {
        guard let fd = FreePort.connected(port) else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        return recv(fd, &buffer, buffer.count, 0) > 0
    }

    @Test("60 rounds of start, a client connecting in a tight loop, stop: no crash, and each stop ends")
    func stopWhileConnecting() async throws {
        let answered = Mutex(0)
        for round in 0..<60 {
            var configuration = KubeSimServer.Configuration()
            configuration.tls = round % 10 == 0  // a TLS handshake under way now and then too
            configuration.token = nil
            let server = try await KubeSimServer.start(configuration)
            let stop = Flag()
            let done = DispatchSemaphore(value: 0)
            let port = server.port
            let client = Thread {
                while !stop.isSet {
                    if Self.poke(port) { answered.withLock { $0 += 1 } }
                    usleep(500)  // tight, but leaving the other tests of a parallel run some CPU
                }
                done.signal()
            }
            client.start()
            try await Task.sleep(for: .milliseconds(Int.random(in: 1...20)))
            await server.stop()  // returns: the stop ended
            stop.set()
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    done.wait()
                    continuation.resume()
                }
            }
        }
        // The clients did get answers: the stops happened with connections coming and going.
        // (A round lives 1–20 ms; on a machine loaded by the rest of the suite some get none:
        // 57 of 60 in one clean-checkout run.)
        #expect(answered.withLock { $0 } >= 30, "\(answered.withLock { $0 }) answers in 60 rounds")
    }
}
