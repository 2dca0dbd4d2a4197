import Foundation

/// The kubeconfig that points kubectl (and Baton) at running KubeSim servers.
public enum SimKubeconfig {
    /// One context per cluster, named `baton-NAME`, with the server URL, its CA and the admin
    /// token, and one per other user of that cluster, named `USER@baton-NAME`.
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
            // Each other user: context and user `NAME@baton-CLUSTER`.
            for (token, user) in server.users.sorted(by: { $0.value.name < $1.value.name }) {
                let named = user.name + "@" + context
                userLines.append("- name: \(named)\n  user:\n    token: \(token)")
                contextLines.append("- name: \(named)\n  context:\n    cluster: \(context)\n    user: \(named)\n    namespace: default")
            }
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
