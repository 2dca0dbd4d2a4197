import Foundation

extension Kubeconfig {
    /// The configuration a pod has: the API server from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`, the service account's token, CA and namespace from
    /// `/var/run/secrets/kubernetes.io/serviceaccount` (`accountFolder` for tests).
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 accountFolder: String = "/var/run/secrets/kubernetes.io/serviceaccount") throws(KubeconfigError) -> Resolved {
        let where_ = "in-cluster configuration"
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubeconfigError(file: where_, message: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod?)")
        }
        let tokenFile = accountFolder + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenFile) else {
            throw KubeconfigError(file: where_, message: "service account token \(tokenFile) cannot be read")
        }
        guard let ca = FileManager.default.contents(atPath: accountFolder + "/ca.crt") else {
            throw KubeconfigError(file: where_, message: "service account CA \(accountFolder)/ca.crt cannot be read")
        }
        let namespace = FileManager.default.contents(atPath: accountFolder + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        // An IPv6 address needs brackets in a URL.
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return Resolved(contextName: "in-cluster",
                        cluster: Cluster(server: "https://\(hostPart):\(port)", certificateAuthority: .data(ca)),
                        user: User(tokenFile: tokenFile), namespace: namespace?.isEmpty == false ? namespace : nil,
                        userName: "in-cluster", serviceAccount: true)
    }
}
