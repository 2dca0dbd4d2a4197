import Foundation

/// The kubeconfig that points kubectl (and Baton) at running KubeSim servers.
public enum SimKubeconfig {
    /// One context per cluster, named `baton-NAME`, with the server URL, its CA and token.
    public static func yaml(_ clusters: [(name: String, server: KubeSimServer)]) -> String {
        var clusterLines: [String] = [], userLines: [String] = [], contextLines: [String] = []
        for (name, server) in clusters {
            let context = "baton-" + name
            clusterLines.append("- name: \(context)\n  cluster:\n    server: \(server.url)")
            if let ca = server.caPEM {
                clusterLines.append("    certificate-authority-data: \(Data(ca.utf8).base64EncodedString())")
            }
            userLines.append("- name: \(context)\n  user:\n    token: \(server.token ?? "none")")
            contextLines.append("- name: \(context)\n  context:\n    cluster: \(context)\n    user: \(context)\n    namespace: default")
        }
        return """
            apiVersion: v1
            kind: Config
            current-context: baton-\(clusters.first?.name ?? "dev")
            clusters:
            \(clusterLines.joined(separator: "\n"))
            users:
            \(userLines.joined(separator: "\n"))
            contexts:
            \(contextLines.joined(separator: "\n"))
            preferences: {}

            """
    }
}
