import Foundation
import Spawn

/// A real Prometheus (the Debian package's `/usr/bin/prometheus`) on 127.0.0.1 at a port the
/// OS handed out, with its configuration and storage in a temporary folder, scraping the given
/// HTTPS targets every second. `stop()` ends it and removes the folder.
public final class PrometheusServer: @unchecked Sendable {
    public let port: Int
    public let folder: TemporaryDirectory
    private let process: ChildProcess

    public var url: String { "http://127.0.0.1:\(port)" }

    /// A scrape target: `host:port`, and the CA file its certificate is checked against.
    public struct Target: Sendable {
        public var address: String
        public var caFile: String

        public init(address: String, caFile: String) {
            self.address = address
            self.caFile = caFile
        }
    }

    public static var executable: String { "/usr/bin/prometheus" }

    /// `basicAuth`: a user and the bcrypt hash of its password, which every request must then
    /// carry (Prometheus' `--web.config.file`).
    public init(scraping targets: [Target], basicAuth: (user: String, bcrypt: String)? = nil) async throws {
        folder = try TemporaryDirectory("prometheus")
        var web: [String] = []
        if let basicAuth {
            try folder.write("web.yml", "basic_auth_users:\n  \(basicAuth.user): \"\(basicAuth.bcrypt)\"\n")
            web = ["--web.config.file=\(folder.path)/web.yml"]
        }
        let jobs = targets.enumerated().map { index, target in
            """
              - job_name: target\(index)
                scheme: https
                tls_config: {ca_file: "\(target.caFile)"}
                static_configs: [{targets: ["\(target.address)"]}]
            """
        }.joined(separator: "\n")
        try folder.write("prometheus.yml", "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                         + (targets.isEmpty ? "scrape_configs: []\n" : "scrape_configs:\n\(jobs)\n"))
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try FreePort.next()
            let process = try ChildProcess(Self.executable,
                                           ["--config.file=\(folder.path)/prometheus.yml", "--storage.tsdb.path=\(folder.path)/data",
                                            "--web.listen-address=127.0.0.1:\(port)", "--storage.tsdb.retention.time=1h", "--log.level=warn"] + web,
                                           directory: folder.path, standardOutput: .null, standardError: .null)
            if await FreePort.waitUntilListening(port, timeout: .seconds(30)) {
                self.port = port
                self.process = process
                return
            }
            process.signal(SIGKILL)
            lastError = GitCLIError(arguments: ["prometheus"], status: -1, stderr: "prometheus did not listen on \(port)")
        }
        folder.remove()
        throw lastError!
    }

    /// Waits until `query` (an instant query) returns a sample, up to `timeout` seconds.
    public func waitForData(_ query: String, timeout: TimeInterval = 60) async -> Bool {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let url = "\(self.url)/api/v1/query?query=\(query.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let run = try? await CommandRun.run("/usr/bin/curl", ["-s", url]), run.stdout.contains("\"value\":[") { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    /// Stops the server (SIGTERM, SIGKILL after 10 s) and removes its folder; the waiting
    /// sleeps, holding no thread.
    public func stop() async {
        if process.isRunning {
            process.signal(SIGTERM)
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { process.signal(SIGKILL) }
            _ = await process.wait()
        }
        folder.remove()
    }
}
