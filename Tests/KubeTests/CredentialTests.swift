import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Testing

/// exec credential plugins and in-cluster configuration, against KubeSim (which accepts only
/// its own token, so a request that succeeds used the credential).
@Suite("Kube: exec plugins and in-cluster configuration")
struct CredentialTests {
    static let plugin = """
        #!/bin/sh
        echo run >> "$BATON_TEST_COUNT"
        printf '%s' "$KUBERNETES_EXEC_INFO" > "$BATON_TEST_INFO"
        expires=$(date -u -d "+${BATON_TEST_TTL} seconds" +%Y-%m-%dT%H:%M:%SZ)
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\\n' \\
            "$BATON_TEST_TOKEN" "$expires"
        """

    /// Hands out whatever token the file names holds, valid for an hour.
    static let rotating = """
        #!/bin/sh
        echo run >> "$BATON_TEST_COUNT"
        expires=$(date -u -d "+3600 seconds" +%Y-%m-%dT%H:%M:%SZ)
        printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\\n' \\
            "$(cat "$BATON_TEST_TOKEN_FILE")" "$expires"
        """

    static let failing = """
        #!/bin/sh
        echo "token service unavailable: Bearer abc123 and eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ refused" >&2
        echo "second line: the whole request dump" >&2
        exit 3
        """

    func kubeconfig(_ cluster: SimCluster) -> String {
        let folder = cluster.folder.path
        func user(_ name: String, command: String) -> String {
            """
            - name: \(name)
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: \(command)
                  args: ["--cluster", "sim"]
                  env:
                  - {name: BATON_TEST_TOKEN, value: "\(cluster.server.token ?? "")"}
                  - {name: BATON_TEST_COUNT, value: "\(folder)/runs"}
                  - {name: BATON_TEST_INFO, value: "\(folder)/info"}
                  - {name: BATON_TEST_TTL, value: "30"}
                  - {name: BATON_TEST_TOKEN_FILE, value: "\(folder)/token"}
                  installHint: "Install the test plugin: see the Baton README."
                  interactiveMode: Never
            """
        }
        return """
            apiVersion: v1
            kind: Config
            current-context: exec
            clusters:
            - name: sim
              cluster: {server: "\(cluster.server.url)", certificate-authority-data: "\(cluster.caBase64)"}
            users:
            \(user("exec", command: "./plugin.sh"))
            \(user("failing", command: "./failing.sh"))
            \(user("missing", command: "baton-no-such-plugin"))
            \(user("rotating", command: "./rotating.sh"))
            contexts:
            - {name: exec, context: {cluster: sim, user: exec}}
            - {name: failing, context: {cluster: sim, user: failing}}
            - {name: missing, context: {cluster: sim, user: missing}}
            - {name: rotating, context: {cluster: sim, user: rotating}}
            """
    }

    func runs(_ cluster: SimCluster) -> Int {
        ((try? String(contentsOfFile: cluster.folder.path + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func client(_ cluster: SimCluster, _ context: String) throws -> KubeClient {
        try KubeClient(try Kubeconfig.load(paths: [cluster.folder.path + "/exec.yaml"]).resolve(context: context))
    }

    @Test("an exec plugin's credential is used, cached until it expires, then fetched again, once for concurrent requests")
    func execPluginCaching() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try cluster.folder.write("exec.yaml", kubeconfig(cluster))
        try cluster.folder.write("plugin.sh", Self.plugin)
        chmod(cluster.folder.path + "/plugin.sh", 0o755)
        let client = try client(cluster, "exec")
        #expect(client.identity.description == "exec plugin (\(cluster.folder.path)/plugin.sh, client.authentication.k8s.io/v1)")
        #expect(try await client.version().major == "1")
        _ = try await client.list(apiVersion: "v1", kind: "ConfigMap")
        #expect(runs(cluster) == 1)
        let info = try String(contentsOfFile: cluster.folder.path + "/info", encoding: .utf8)
        #expect(info.contains("\"kind\":\"ExecCredential\"") && info.contains("\"interactive\":false"))
        // The credential lives 29 to 30 s (whole seconds): with 15 s a loaded full run took longer
        // than that over the two requests above, and the list ran the plugin again.
        try await Task.sleep(for: .milliseconds(30500))
        // Ten requests at once after expiry share one run of the plugin.
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<10 { group.addTask { try await client.version().major } }
            for try await major in group { #expect(major == "1") }
        }
        #expect(runs(cluster) == 2)
    }

    @Test("a 401 to an exec plugin's credential that has not expired yet (revoked): the plugin runs again and the request is retried once with the new token")
    func unauthorizedRefreshes() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try cluster.folder.write("exec.yaml", kubeconfig(cluster))
        try cluster.folder.write("rotating.sh", Self.rotating)
        chmod(cluster.folder.path + "/rotating.sh", 0o755)
        func kubectl(_ arguments: String...) async throws -> String {
            let run = try await CommandRun.run("/usr/bin/env", ["kubectl", "--kubeconfig", cluster.folder.path + "/kubeconfig"] + arguments,
                                                    environment: ["HOME": cluster.folder.path])
            #expect(run.status == 0, "kubectl \(arguments): \(run.stderr)")
            return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try await kubectl("create", "serviceaccount", "deployer")
        _ = try await kubectl("create", "clusterrolebinding", "deployer", "--clusterrole=cluster-admin", "--serviceaccount=default:deployer")
        try cluster.folder.write("token", try await kubectl("create", "token", "deployer"))
        let client = try client(cluster, "rotating")
        _ = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default")
        #expect(runs(cluster) == 1)
        // The ServiceAccount is made again: the old token (an hour left by its expiry) is
        // refused from now on; the plugin would hand out the new one.
        _ = try await kubectl("delete", "serviceaccount", "deployer")
        _ = try await kubectl("create", "serviceaccount", "deployer")
        try cluster.folder.write("token", try await kubectl("create", "token", "deployer"))
        let unauthorized = cluster.server.requests.count("GET", "/api/v1/namespaces/default/configmaps")
        _ = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default")
        #expect(runs(cluster) == 2, "the plugin was not asked again after the 401")
        #expect(cluster.server.requests.count("GET", "/api/v1/namespaces/default/configmaps") == unauthorized + 2, "not one refused request and one retry")
        // A 401 for the new token too is final: no loop of plugin runs.
        _ = try await kubectl("delete", "serviceaccount", "deployer")
        let refused = await kubeError { _ = try await client.list(apiVersion: "v1", kind: "ConfigMap", namespace: "default") }
        #expect(refused?.statusCode == 401, "\(String(describing: refused))")
        #expect(runs(cluster) == 3)
    }

    @Test("a failing or missing plugin is an error with the first line of its words (token-like words redacted) and the installHint, and no request goes out")
    func failingPlugin() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        try cluster.folder.write("exec.yaml", kubeconfig(cluster))
        try cluster.folder.write("failing.sh", Self.failing)
        chmod(cluster.folder.path + "/failing.sh", 0o755)
        let failing = await kubeError { _ = try await client(cluster, "failing").version() }
        #expect(failing?.description == """
            no credentials: user "failing": exec plugin \(cluster.folder.path)/failing.sh exited with status 3: token service unavailable: \
            Bearer [redacted] and [redacted] refused
            Install the test plugin: see the Baton README.
            """)
        let missing = await kubeError { _ = try await client(cluster, "missing").version() }
        #expect(missing?.description == """
            no credentials: user "missing": exec plugin "baton-no-such-plugin" not found
            Install the test plugin: see the Baton README.
            """)
        #expect(cluster.server.requests.count("GET", "/version") == 0)
    }

    @Test("in-cluster configuration: the service account's token, CA and namespace")
    func inCluster() async throws {
        let cluster = try await SimCluster.start()
        defer { Task { await cluster.stop() } }
        let account = cluster.folder.path + "/serviceaccount"
        try cluster.folder.write("serviceaccount/token", (cluster.server.token ?? "") + "\n")
        try cluster.folder.write("serviceaccount/ca.crt", cluster.server.caPEM ?? "")
        try cluster.folder.write("serviceaccount/namespace", "apps")
        let environment = ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": String(cluster.server.port)]
        let resolved = try Kubeconfig.inCluster(environment: environment, accountFolder: account)
        let client = try KubeClient(resolved)
        #expect(client.server == cluster.server.url)
        #expect(client.defaultNamespace == "apps")
        #expect(client.identity.kind == .serviceAccount)
        #expect(try await client.version().major == "1")

        #expect(throws: KubeconfigError(file: "in-cluster configuration",
                                        message: "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (not running in a pod?)")) {
            try Kubeconfig.inCluster(environment: [:], accountFolder: account)
        }
        #expect(throws: KubeconfigError(file: "in-cluster configuration",
                                        message: "service account token \(cluster.folder.path)/nowhere/token cannot be read")) {
            try Kubeconfig.inCluster(environment: environment, accountFolder: cluster.folder.path + "/nowhere")
        }
    }
}
