import BatonCore
import Foundation
import HTTP

/// What a client presents to the API server, as `baton cluster check` prints it: the kind of
/// credential and where it comes from, never the secret itself.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case token = "bearer token"
        case tokenFile = "bearer token file"
        case clientCertificate = "client certificate"
        case basic = "basic auth"
        case execPlugin = "exec plugin"
        case serviceAccount = "service account token"
        case anonymous = "anonymous"
    }

    public var kind: Kind
    /// A user name, a file path, a plugin command: whatever names the credential without being it.
    public var detail: String

    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue) (\(detail))" }
}

/// Hands out the headers and client certificate for each request: a kubeconfig's static
/// token, token file (re-read every minute, as client-go does), basic auth, certificate, or
/// an exec plugin's credential cached until its `expirationTimestamp`.
actor Credentials {
    struct Material: Sendable {
        var headers: [HTTPField]
        /// A client certificate and key to use instead of the kubeconfig's (from an exec plugin).
        var certificate: (certificate: Data, key: Data)?

        func same(as other: Material) -> Bool {
            headers == other.headers && certificate?.certificate == other.certificate?.certificate
                && certificate?.key == other.certificate?.key
        }
    }

    nonisolated let identity: Identity
    private let user: Kubeconfig.User
    private let userName: String
    private var fileToken: (value: String, readAt: ContinuousClock.Instant)?
    private var execCredential: (material: Material, expires: Date?)?
    /// The plugin run in progress: requests that need a credential meanwhile wait for it.
    private var execRun: Task<Result<ExecPlugin.Credential, KubeError>, Never>?
    /// How many times the exec plugin ran (tests read it).
    private(set) var execRuns = 0

    init(user: Kubeconfig.User, userName: String) {
        self.user = user
        self.userName = userName
        if let exec = user.exec {
            identity = Identity(kind: .execPlugin, detail: "\(exec.command), \(exec.apiVersion)")
        } else if user.token != nil {
            identity = Identity(kind: .token, detail: "user \"\(userName)\"")
        } else if let file = user.tokenFile {
            identity = Identity(kind: .tokenFile, detail: file)
        } else if user.clientCertificate != nil {
            identity = Identity(kind: .clientCertificate, detail: "user \"\(userName)\"")
        } else if let name = user.username, user.password != nil {
            identity = Identity(kind: .basic, detail: "username \(name)")
        } else {
            identity = Identity(kind: .anonymous, detail: "")
        }
    }

    init(serviceAccountTokenFile: String) {
        user = Kubeconfig.User(tokenFile: serviceAccountTokenFile)
        userName = "service account"
        identity = Identity(kind: .serviceAccount, detail: serviceAccountTokenFile)
    }

    func material() async throws(KubeError) -> Material {
        if let exec = user.exec {
            if let cached = execCredential, cached.expires.map({ $0 > Date() }) ?? true { return cached.material }
            let run: Task<Result<ExecPlugin.Credential, KubeError>, Never>
            if let running = execRun {
                run = running
            } else {
                let userName = self.userName
                run = Task {
                    do throws(KubeError) {
                        return .success(try await ExecPlugin.run(exec, userName: userName))
                    } catch {
                        return .failure(error)
                    }
                }
                execRun = run
                execRuns += 1
            }
            let outcome = await run.value
            if execRun == run { execRun = nil }
            let credential = try outcome.get()
            execCredential = (credential.material, credential.expires)
            return credential.material
        }
        if let token = user.token, !token.isEmpty { return Material(headers: [HTTPField("Authorization", "Bearer " + token)]) }
        if let file = user.tokenFile {
            let now = ContinuousClock.now
            if let cached = fileToken, now - cached.readAt < .seconds(60) {
                return Material(headers: [HTTPField("Authorization", "Bearer " + cached.value)])
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw .credentials("user \"\(userName)\": token file \(file) cannot be read")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            fileToken = (token, now)
            return Material(headers: [HTTPField("Authorization", "Bearer " + token)])
        }
        if let name = user.username, let password = user.password {
            return Material(headers: [HTTPField("Authorization", "Basic " + Data("\(name):\(password)".utf8).base64EncodedString())])
        }
        return Material(headers: [])
    }

    /// After the server answered 401 to a request made with `used`: forgets the cached
    /// credential if it is still that one (another request may have refreshed it already), so
    /// the next request gets a fresh one. Returns whether the credential can be refreshed at all.
    func invalidate(after used: Material) -> Bool {
        if let cached = execCredential, cached.material.same(as: used) { execCredential = nil }
        if let token = fileToken, used.headers == [HTTPField("Authorization", "Bearer " + token.value)] { fileToken = nil }
        return user.exec != nil || user.tokenFile != nil
    }
}

/// Runs a `client.authentication.k8s.io` credential plugin and reads its `ExecCredential`.
enum ExecPlugin {
    struct Credential {
        var material: Credentials.Material
        var expires: Date?
    }

    static func run(_ plugin: Kubeconfig.ExecPlugin, userName: String) async throws(KubeError) -> Credential {
        let hint = plugin.installHint.map { "\n\($0)" } ?? ""
        guard let executable = locate(plugin.command) else {
            throw .credentials("user \"\(userName)\": exec plugin \"\(plugin.command)\" not found\(hint)")
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in plugin.env { environment[key] = value }
        environment["KUBERNETES_EXEC_INFO"] = String(decoding: JSONValue.object([
            "apiVersion": .string(plugin.apiVersion), "kind": "ExecCredential", "spec": .object(["interactive": false]),
        ]).encoded(), as: UTF8.self)

        let outcome: (status: Int32, output: Data, errors: Data)
        do {
            outcome = try await Subprocess.run(executable, plugin.args, environment: environment, timeout: .seconds(60))
        } catch {
            throw .credentials("user \"\(userName)\": exec plugin \(plugin.command) could not run: \(error)\(hint)")
        }
        guard outcome.status == 0 else {
            // The plugin's own words help, but only its first line, and with anything that may be
            // a secret (a long token-like word, what follows "Bearer", its environment's values)
            // taken out: the message reaches logs and the audit log.
            let said = Credentials.redactedFirstLine(outcome.errors, hiding: Array(plugin.env.values))
            throw .credentials("user \"\(userName)\": exec plugin \(plugin.command) exited with status \(outcome.status)"
                + (said.isEmpty ? "" : ": \(said)") + hint)
        }
        guard let value = try? JSONValue.parse(outcome.output), value["kind"]?.string == "ExecCredential" else {
            throw .credentials("user \"\(userName)\": exec plugin \(plugin.command) did not print an ExecCredential")
        }
        if let apiVersion = value["apiVersion"]?.string, apiVersion != plugin.apiVersion {
            throw .credentials("user \"\(userName)\": exec plugin \(plugin.command) answered \(apiVersion), asked for \(plugin.apiVersion)")
        }
        let status = value["status"]
        var material = Credentials.Material(headers: [])
        if let token = status?["token"]?.string, !token.isEmpty {
            material.headers = [HTTPField("Authorization", "Bearer " + token)]
        } else if let certificate = status?["clientCertificateData"]?.string, let key = status?["clientKeyData"]?.string {
            material.certificate = (Data(certificate.utf8), Data(key.utf8))
        } else {
            throw .credentials("user \"\(userName)\": exec plugin \(plugin.command) gave neither a token nor a client certificate and key")
        }
        var expires: Date?
        if let stamp = status?["expirationTimestamp"]?.string {
            guard let date = parseTimestamp(stamp) else {
                throw .credentials("user \"\(userName)\": exec plugin \(plugin.command): expirationTimestamp \"\(stamp)\" is not RFC 3339")
            }
            expires = date
        }
        return Credential(material: material, expires: expires)
    }

    static func parseTimestamp(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// A path as given, or a bare name looked up in PATH.
    static func locate(_ command: String) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

extension Credentials {
    /// The first non-empty line of `text`, at most 200 characters, with `secrets` and every
    /// word that looks like a token (24 or more characters of letters, digits and `._~+/=-`,
    /// or whatever follows `Bearer `) replaced by `[redacted]`.
    static func redactedFirstLine(_ text: Data, hiding secrets: [String]) -> String {
        let lines = String(decoding: text.prefix(4096), as: UTF8.self).split(whereSeparator: \.isNewline)
        var line = String(lines.first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? "").trimmingCharacters(in: .whitespaces)
        for secret in secrets where secret.count >= 4 { line = line.replacingOccurrences(of: secret, with: "[redacted]") }
        line = line.replacing(/(?i)(bearer\s+)\S+/) { $0.output.1 + "[redacted]" }
        line = line.replacing(/[A-Za-z0-9._~+\/=-]{24,}/) { _ in "[redacted]" }
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
    }
}
