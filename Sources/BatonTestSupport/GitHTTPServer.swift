import Foundation
import Spawn

/// git's smart HTTP protocol (`git http-backend`, the CGI program git ships) behind a small
/// Python HTTP server on 127.0.0.1 that demands HTTP basic auth with one user and token, as a
/// git host does for a private repository. Serves the bare repositories under `basePath`, pushes
/// included; every request is counted (`requests`), refused ones apart (`refused`). Plain HTTP:
/// libgit2 here trusts only the system's certificate authorities, and a test CA would have to be
/// installed machine-wide.
public final class GitHTTPServer: @unchecked Sendable {
    public let port: Int
    public let basePath: String
    private let process: ChildProcess
    private let folder: TemporaryDirectory

    static let script = #"""
        import base64, os, subprocess, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        root, user, token, portfile, log = sys.argv[1:6]
        expected = "Basic " + base64.b64encode(("%s:%s" % (user, token)).encode()).decode()
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def do_GET(self): self.serve()
            def do_POST(self): self.serve()
            def note(self, what):
                with open(log, "a") as f: f.write(what + "\n")
            def serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        body += self.rfile.read(size)
                        self.rfile.readline()
                if self.headers.get("Authorization", "") != expected:
                    self.note("refused")
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.note("served")
                path, _, query = self.path.partition("?")
                env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", REMOTE_USER=user, PATH_INFO=path,
                           QUERY_STRING=query, REQUEST_METHOD=self.command, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                           CONTENT_LENGTH=str(len(body)))
                if self.headers.get("Content-Encoding"): env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, rest = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode().split("\r\n"):
                    name, _, value = line.partition(": ")
                    if name.lower() == "status": status = int(value.split()[0])
                    elif name: headers.append((name, value))
                self.send_response(status)
                for name, value in headers: self.send_header(name, value)
                self.send_header("Content-Length", str(len(rest)))
                self.end_headers()
                self.wfile.write(rest)
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        with open(portfile + ".tmp", "w") as f: f.write(str(server.server_address[1]))
        os.rename(portfile + ".tmp", portfile)
        server.serve_forever()
        """#

    public init(basePath: String, user: String, token: String) async throws {
        self.basePath = basePath
        folder = try TemporaryDirectory("git-http")
        try folder.write("server.py", Self.script)
        let process = try ChildProcess("/usr/bin/python3",
                                       [folder.path + "/server.py", basePath, user, token, folder.path + "/port", folder.path + "/requests"],
                                       environment: ["HOME": folder.path, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                                                     "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"],
                                       standardOutput: .null, standardError: .null)
        self.process = process
        let deadline = ContinuousClock.now + .seconds(20)
        var port: Int?
        while port == nil, ContinuousClock.now < deadline {
            port = (try? String(contentsOfFile: folder.path + "/port", encoding: .utf8)).flatMap { Int($0) }
            if port == nil { try? await Task.sleep(for: .milliseconds(20)) }
        }
        guard let port else {
            process.signal(SIGKILL)
            folder.remove()
            throw GitCLIError(arguments: ["http-backend"], status: -1, stderr: "the git HTTP server did not start")
        }
        self.port = port
    }

    /// `http://127.0.0.1:PORT/NAME`.
    public func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }

    private var log: [Substring] {
        ((try? String(contentsOfFile: folder.path + "/requests", encoding: .utf8)) ?? "").split(separator: "\n")
    }

    /// Requests answered, and refused for want of the right credentials.
    public var requests: Int { log.filter { $0 == "served" }.count }
    public var refused: Int { log.filter { $0 == "refused" }.count }

    public func stop() {
        if process.isRunning {
            process.signal(SIGKILL)
            _ = process.waitBlocking()
        }
        folder.remove()
    }

    deinit { stop() }
}
