import Foundation
import Yams

/// Parsing one kubeconfig file. Paths in it are relative to its folder.
enum KubeconfigFile {
    static func parse(_ data: Data, file: String) throws(KubeconfigError) -> Kubeconfig {
        func fail(_ message: String) -> KubeconfigError { KubeconfigError(file: file, message: message) }
        let text = String(decoding: data, as: UTF8.self)
        let root: Any?
        do {
            root = try Yams.load(yaml: text)
        } catch {
            throw fail("not valid YAML: \(error)")
        }
        guard let document = root as? [String: Any] else {
            if root == nil { return Kubeconfig() }
            throw fail("expected a mapping at the top")
        }
        let folder = (file as NSString).deletingLastPathComponent
        func path(_ value: String) -> String {
            value.hasPrefix("/") || folder.isEmpty ? value : ((folder + "/" + value) as NSString).standardizingPath
        }
        /// Inline `-data` (base64) is decoded now; a file is only named, and read when a
        /// context that uses it is resolved, as kubectl does.
        func pem(inline: Any?, file key: Any?, what: String, owner: String) throws(KubeconfigError) -> PEMSource? {
            if let encoded = inline as? String, !encoded.isEmpty {
                guard let data = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else {
                    throw fail("\(owner): \(what)-data is not valid base64")
                }
                return .data(data)
            }
            if let name = key as? String, !name.isEmpty { return .file(path(name)) }
            return nil
        }
        func entries(_ key: String, _ inner: String) throws(KubeconfigError) -> [(String, [String: Any])] {
            guard let list = document[key] else { return [] }
            guard let items = list as? [Any] else { throw fail("\(key) must be a list") }
            var out: [(String, [String: Any])] = []
            for (index, item) in items.enumerated() {
                guard let entry = item as? [String: Any], let name = entry["name"] as? String else {
                    throw fail("\(key)[\(index)] needs a name")
                }
                out.append((name, entry[inner] as? [String: Any] ?? [:]))
            }
            return out
        }

        var config = Kubeconfig()
        config.currentContext = document["current-context"] as? String
        for (name, body) in try entries("clusters", "cluster") {
            guard let server = body["server"] as? String, !server.isEmpty else { throw fail("cluster \"\(name)\" has no server") }
            config.clusters[name] = Kubeconfig.Cluster(
                server: server,
                certificateAuthority: try pem(inline: body["certificate-authority-data"], file: body["certificate-authority"],
                                              what: "certificate-authority", owner: "cluster \"\(name)\""),
                insecureSkipTLSVerify: body["insecure-skip-tls-verify"] as? Bool ?? false,
                tlsServerName: body["tls-server-name"] as? String)
        }
        for (name, body) in try entries("users", "user") {
            var user = Kubeconfig.User()
            user.token = body["token"] as? String
            user.tokenFile = (body["tokenFile"] as? String).map(path)
            user.clientCertificate = try pem(inline: body["client-certificate-data"], file: body["client-certificate"],
                                             what: "client-certificate", owner: "user \"\(name)\"")
            user.clientKey = try pem(inline: body["client-key-data"], file: body["client-key"], what: "client-key", owner: "user \"\(name)\"")
            user.username = body["username"] as? String
            user.password = body["password"] as? String
            if let exec = body["exec"] as? [String: Any] {
                guard let command = exec["command"] as? String, !command.isEmpty else { throw fail("user \"\(name)\": exec needs a command") }
                let apiVersion = exec["apiVersion"] as? String ?? ""
                guard ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"].contains(apiVersion) else {
                    throw fail("user \"\(name)\": exec apiVersion \"\(apiVersion)\" is not client.authentication.k8s.io/v1 or v1beta1")
                }
                var env: [String: String] = [:]
                for item in exec["env"] as? [[String: Any]] ?? [] {
                    if let key = item["name"] as? String { env[key] = item["value"] as? String ?? "" }
                }
                // A command with a slash is a path, relative to the kubeconfig; a bare name is looked up in PATH.
                user.exec = Kubeconfig.ExecPlugin(apiVersion: apiVersion, command: command.contains("/") ? path(command) : command,
                                                  args: (exec["args"] as? [Any] ?? []).map { "\($0)" }, env: env,
                                                  installHint: exec["installHint"] as? String)
            }
            config.users[name] = user
        }
        for (name, body) in try entries("contexts", "context") {
            guard let cluster = body["cluster"] as? String, let user = body["user"] as? String else {
                throw fail("context \"\(name)\" needs a cluster and a user")
            }
            config.contexts[name] = Kubeconfig.Context(cluster: cluster, user: user, namespace: body["namespace"] as? String)
        }
        return config
    }
}
