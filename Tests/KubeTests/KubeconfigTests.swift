import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Testing

/// kubeconfig files in the shapes real tools write them.
@Suite("Kube: kubeconfig")
struct KubeconfigTests {
    static let pemCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    static var b64: String { Data(pemCA.utf8).base64EncodedString() }

    /// kind writes everything inline.
    static var kind: String {
        """
        apiVersion: v1
        kind: Config
        current-context: kind-dev
        clusters:
        - name: kind-dev
          cluster:
            server: https://127.0.0.1:39000
            certificate-authority-data: \(b64)
        users:
        - name: kind-dev
          user:
            client-certificate-data: \(b64)
            client-key-data: \(b64)
        contexts:
        - name: kind-dev
          context: {cluster: kind-dev, user: kind-dev}
        """
    }

    /// minikube refers to files next to it; EKS and GKE use exec plugins.
    static let cloud = """
        apiVersion: v1
        kind: Config
        current-context: minikube
        clusters:
        - name: minikube
          cluster: {server: "https://192.168.49.2:8443", certificate-authority: certs/ca.crt}
        - name: eks
          cluster: {server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com", certificate-authority-data: "\(b64)"}
        - name: gke
          cluster: {server: "https://34.1.2.3", insecure-skip-tls-verify: true, tls-server-name: kubernetes.default}
        users:
        - name: minikube
          user: {client-certificate: certs/client.crt, client-key: /abs/client.key, tokenFile: token}
        - name: eks
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1beta1
              command: aws
              args: [eks, get-token, --cluster-name, prod]
              env: [{name: AWS_PROFILE, value: prod}]
        - name: gke
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: ./bin/gke-gcloud-auth-plugin
              installHint: Install gke-gcloud-auth-plugin with gcloud components install
        contexts:
        - name: minikube
          context: {cluster: minikube, user: minikube, namespace: apps}
        - name: eks-prod
          context: {cluster: eks, user: eks}
        - name: gke
          context: {cluster: gke, user: gke}
        - name: broken-cluster
          context: {cluster: nowhere, user: eks}
        - name: broken-user
          context: {cluster: eks, user: nobody}
        """

    @Test("kind: inline certificate data, current context")
    func kindConfig() throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        try dir.write("kind.yaml", Self.kind)
        let resolved = try Kubeconfig.load(paths: [dir.path + "/kind.yaml"]).resolve()
        #expect(resolved.contextName == "kind-dev")
        #expect(resolved.cluster.server == "https://127.0.0.1:39000")
        #expect(resolved.cluster.certificateAuthority?.data == Data(Self.pemCA.utf8))
        #expect(resolved.user.clientCertificate?.data == Data(Self.pemCA.utf8))
        #expect(resolved.namespace == nil)
    }

    @Test("minikube, EKS and GKE shapes: relative files, exec plugins, TLS options, context namespace")
    func cloudConfigs() throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        try dir.write("cloud.yaml", Self.cloud)
        try dir.write("certs/ca.crt", Self.pemCA)
        try dir.write("certs/client.crt", Self.pemCA)
        // A missing file in the list is skipped, as kubectl skips it.
        let config = try Kubeconfig.load(paths: [dir.path + "/missing.yaml", dir.path + "/cloud.yaml"])

        let eks = try config.resolve(context: "eks-prod")
        #expect(eks.user.exec == Kubeconfig.ExecPlugin(apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws",
                                                       args: ["eks", "get-token", "--cluster-name", "prod"],
                                                       env: ["AWS_PROFILE": "prod"], installHint: nil))
        let gke = try config.resolve(context: "gke")
        #expect(gke.cluster.insecureSkipTLSVerify)
        #expect(gke.cluster.tlsServerName == "kubernetes.default")
        #expect(gke.user.exec?.command == dir.path + "/bin/gke-gcloud-auth-plugin")
        #expect(gke.user.exec?.installHint == "Install gke-gcloud-auth-plugin with gcloud components install")

        // minikube's client key is an absolute path that does not exist: resolving that
        // context fails and names the kubeconfig and the file; other contexts are unaffected.
        do {
            _ = try config.resolve()
            Issue.record("the unreadable client key was not reported")
        } catch {
            #expect(error.description == "\(dir.path)/cloud.yaml: user \"minikube\": client-key file /abs/client.key cannot be read")
        }
        try dir.write("certs/client.key", Self.pemCA)
        try dir.write("cloud.yaml", Self.cloud.replacingOccurrences(of: "/abs/client.key", with: "certs/client.key"))
        let minikube = try Kubeconfig.load(paths: [dir.path + "/cloud.yaml"]).resolve()
        #expect(minikube.namespace == "apps")
        #expect(minikube.cluster.certificateAuthority?.data == Data(Self.pemCA.utf8))
        #expect(minikube.user.tokenFile == dir.path + "/token")
    }

    @Test("broken kubeconfigs name the file and what is missing", arguments: [
        ("broken-cluster", #"context "broken-cluster" names cluster "nowhere", which is not defined"#),
        ("broken-user", #"context "broken-user" names user "nobody", which is not defined"#),
        ("no-such", #"context "no-such" not found (contexts: broken-cluster, broken-user, eks-prod, gke, minikube)"#),
    ])
    func broken(_ context: String, _ message: String) throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        try dir.write("cloud.yaml", Self.cloud)
        do {
            _ = try Kubeconfig.load(paths: [dir.path + "/cloud.yaml"]).resolve(context: context)
            Issue.record("\(context) resolved")
        } catch {
            #expect(error.file == dir.path + "/cloud.yaml")
            #expect(error.message == message)
        }
    }

    @Test("malformed files are errors naming the file")
    func malformed() throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        try dir.write("bad64.yaml", "clusters:\n- name: a\n  cluster: {server: https://x, certificate-authority-data: '%%%'}\n")
        #expect(throws: KubeconfigError(file: dir.path + "/bad64.yaml", message: #"cluster "a": certificate-authority-data is not valid base64"#)) {
            try Kubeconfig.load(paths: [dir.path + "/bad64.yaml"])
        }
        try dir.write("exec.yaml", "users:\n- name: u\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}\n")
        #expect(throws: KubeconfigError.self) { try Kubeconfig.load(paths: [dir.path + "/exec.yaml"]) }
        #expect(throws: KubeconfigError(file: dir.path + "/none.yaml", message: "no kubeconfig file found")) {
            try Kubeconfig.load(paths: [dir.path + "/none.yaml"])
        }
    }

    @Test("a token is never sent over plain HTTP to another machine; to a loopback address, or without credentials, plain HTTP is allowed")
    func noTokenOverPlainHTTP() throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        func client(server: String, user: String) throws -> KubeClient {
            try dir.write("config.yaml", """
                clusters: [{name: c, cluster: {server: \(server)}}]
                users: [{name: u, user: \(user)}]
                contexts: [{name: x, context: {cluster: c, user: u}}]
                current-context: x
                """)
            return try KubeClient(try Kubeconfig.load(paths: [dir.path + "/config.yaml"]).resolve())
        }
        do {
            _ = try client(server: "http://api.example.com:8080", user: "{token: s3cr3t-token}")
            Issue.record("a token was going to be sent over plain HTTP")
        } catch let error as KubeError {
            #expect("\(error)".contains("refusing to send credentials over plain HTTP to http://api.example.com:8080"), "\(error)")
            #expect(!"\(error)".contains("s3cr3t"))
        }
        #expect(throws: KubeError.self) { _ = try client(server: "http://10.0.0.1", user: "{username: a, password: b}") }
        _ = try client(server: "http://127.0.0.1:8080", user: "{token: t}")
        _ = try client(server: "https://api.example.com", user: "{token: t}")
        _ = try client(server: "http://api.example.com", user: "{}")
    }

    @Test("several files merge, the first that names a thing wins")
    func merge() throws {
        let dir = try TemporaryDirectory("kubeconfig")
        defer { dir.remove() }
        try dir.write("a.yaml", Self.kind)
        try dir.write("b.yaml", Self.kind.replacingOccurrences(of: "39000", with: "40000")
            .replacingOccurrences(of: "current-context: kind-dev", with: "current-context: other"))
        let config = try Kubeconfig.load(paths: [dir.path + "/a.yaml", dir.path + "/b.yaml"])
        #expect(config.currentContext == "kind-dev")
        #expect(try config.resolve().cluster.server == "https://127.0.0.1:39000")
        #expect(config.files == [dir.path + "/a.yaml", dir.path + "/b.yaml"])
    }

    @Test("the kubeconfig baton sim up writes resolves to the running server")
    func simKubeconfig() async throws {
        let server = try await KubeSimServer.start()
        let dir = try TemporaryDirectory("kubeconfig")
        defer { Task { await server.stop(); dir.remove() } }
        try dir.write("sim.yaml", SimKubeconfig.yaml([("dev", server)]))
        let resolved = try Kubeconfig.load(paths: [dir.path + "/sim.yaml"]).resolve()
        #expect(resolved.contextName == "baton-dev")
        #expect(resolved.cluster.server == server.url)
        #expect(resolved.cluster.certificateAuthority?.data == Data((server.caPEM ?? "").utf8))
        #expect(resolved.user.token == server.token)
        #expect(resolved.namespace == "default")
    }
}
