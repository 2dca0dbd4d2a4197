import BatonTestSupport
import Foundation
import Spawn

/// A real HTTP(S) server on 127.0.0.1: Python's standard library `http.server` with its `ssl`
/// module, started as a child process on a port the OS hands out. It answers every request
/// with JSON saying what it saw (path, method, the client's port, the client certificate's
/// common name, body length); `/slow?SECONDS` waits first (and counts how many wait at once); `/peak` says
/// the most that waited at once since the last `/peak`; `/log` lists every request's path with
/// the times it arrived and was answered; `/status/CODE` answers CODE.
final class TestServer: @unchecked Sendable {
    struct TLS {
        var certificate: String
        var key: String
        /// When set, the server requires a client certificate signed by this CA.
        var clientCA: String?
    }

    static let script = #"""
        import http.server, json, ssl, sys, threading, time
        mode, cert, key, client_ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
        lock, counts, log = threading.Lock(), {"inflight": 0, "peak": 0}, []
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def answer(self):
                arrived = time.time()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/slow?"):
                    with lock:
                        counts["inflight"] += 1
                        counts["peak"] = max(counts["peak"], counts["inflight"])
                    time.sleep(float(self.path.split("?", 1)[1]))
                    with lock: counts["inflight"] -= 1
                if self.path == "/log":
                    with lock: out = json.dumps(log).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                peak = None
                if self.path == "/peak":
                    with lock: peak, counts["peak"] = counts["peak"], 0
                code = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
                peer = None
                if mode == "tls":
                    subject = dict(x[0] for x in (self.connection.getpeercert() or {}).get("subject", ()))
                    peer = subject.get("commonName")
                out = json.dumps({"path": self.path, "method": self.command, "clientPort": self.client_address[1],
                                  "clientCN": peer, "bodyLength": len(body), "peak": peak,
                                  "authorization": self.headers.get("Authorization") is not None}).encode()
                with lock: log.append({"path": self.path, "arrived": arrived, "answered": time.time()})
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                if code == 429: self.send_header("Retry-After", "1")
                self.end_headers()
                if self.command != "HEAD": self.wfile.write(out)
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = answer
            def log_message(self, *args): pass
        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128
            def handle_error(self, request, address): pass
        server = Server(("127.0.0.1", 0), Handler)
        if mode == "tls":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            if client_ca != "-":
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(client_ca)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let process: ChildProcess
    let port: Int
    let scheme: String
    private let folder: TemporaryDirectory

    init(tls: TLS? = nil) async throws {
        folder = try TemporaryDirectory("http-server")
        try folder.write("server.py", Self.script)
        let output = Pipe()
        process = try ChildProcess("/usr/bin/python3",
                                   [folder.path + "/server.py", tls == nil ? "plain" : "tls", tls?.certificate ?? "-", tls?.key ?? "-", tls?.clientCA ?? "-"],
                                   standardOutput: .descriptor(output.fileHandleForWriting.fileDescriptor), standardError: .null)
        try? output.fileHandleForWriting.close()
        // The first line is the port; read off the cooperative pool (Python takes a while to start).
        let line = try await offThePool {
            var line = Data()
            while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) { line.append(byte) }
            return line
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            process.signal(SIGKILL)
            throw TestServerError.didNotStart
        }
        self.port = port
        scheme = tls == nil ? "http" : "https"
    }

    var url: String { "\(scheme)://127.0.0.1:\(port)" }

    func stop() {
        // Not waited for: its reaper thread collects it.
        process.signal(SIGKILL)
        folder.remove()
    }
}

enum TestServerError: Error { case didNotStart, openssl(String) }

/// Certificates made with the openssl CLI: a CA, server certificates for 127.0.0.1 (valid,
/// expired, for another name), a client certificate, and an unrelated CA.
struct TestCertificates {
    let folder: TemporaryDirectory
    var path: String { folder.path }

    init() async throws {
        folder = try TemporaryDirectory("certs")
        try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                     "-subj", "/CN=baton-test-ca", "-days", "2"])
        try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "other-ca.key",
                     "-out", "other-ca.crt", "-subj", "/CN=someone-else", "-days", "2"])
        try folder.write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        try folder.write("named.ext", "subjectAltName=DNS:kube.internal.test\n")
        try folder.write("client.ext", "extendedKeyUsage=clientAuth\n")
        try await sign("server", subject: "/CN=127.0.0.1", days: "2", extensions: "server.ext")
        try await sign("expired", subject: "/CN=127.0.0.1", days: "-1", extensions: "server.ext")
        try await sign("named", subject: "/CN=kube.internal.test", days: "2", extensions: "named.ext")
        try await sign("client", subject: "/CN=baton-client", days: "2", extensions: "client.ext")
    }

    private func sign(_ name: String, subject: String, days: String, extensions: String) async throws {
        try await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr",
                     "-subj", subject])
        try await openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", days,
                     "-extfile", extensions, "-out", "\(name).crt"])
    }

    private func openssl(_ arguments: [String]) async throws {
        let result = try await CommandRun.run("/usr/bin/openssl", arguments, in: folder.path)
        guard result.status == 0 else { throw TestServerError.openssl(result.stderr) }
    }

    func file(_ name: String) -> String { folder.path + "/" + name }
    func data(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file(name))) }
}
