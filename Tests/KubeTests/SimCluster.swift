import BatonCore
import BatonTestSupport
import Foundation
import Kube
import KubeSim
import Testing

/// A KubeSim cluster over HTTPS with its token, and Baton's client for it, made from the
/// kubeconfig `baton sim up` writes.
struct SimCluster {
    let server: KubeSimServer
    let client: KubeClient
    let folder: TemporaryDirectory

    static func start(retry: RetryPolicy = RetryPolicy(), state: ClusterState = ClusterState(),
                      _ configure: (inout KubeSimServer.Configuration) -> Void = { _ in }) async throws -> SimCluster {
        var configuration = KubeSimServer.Configuration()
        configuration.rolloutDelay = .milliseconds(100)
        configure(&configuration)
        let server = try await KubeSimServer.start(configuration, state: state)
        let folder = try TemporaryDirectory("kube-client")
        try folder.write("kubeconfig", SimKubeconfig.yaml([("dev", server)]))
        let resolved = try Kubeconfig.load(paths: [folder.path + "/kubeconfig"]).resolve()
        return SimCluster(server: server, client: try KubeClient(resolved, retry: retry), folder: folder)
    }

    /// Another client for the same cluster, with other settings.
    func client(retry: RetryPolicy = RetryPolicy(), context: String? = nil) throws -> KubeClient {
        try KubeClient(try Kubeconfig.load(paths: [folder.path + "/kubeconfig"]).resolve(context: context), retry: retry)
    }

    /// Applies the ConfigMap `object` with `client`; a failure is recorded with whether
    /// the server saw the request and answered it, which tells which side held it up.
    func applyConfigMap(_ object: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) async {
        do {
            try await client.apply(object)
        } catch {
            let name = object[path: ["metadata", "name"]]?.string ?? "", namespace = object[path: ["metadata", "namespace"]]?.string ?? ""
            let path = "/api/v1/namespaces/\(namespace)/configmaps/\(name)"
            let seen = server.requests.count("PATCH", path), answered = server.requests.answered("PATCH", path)
            Issue.record("\(namespace)/\(name): \(error); the server saw \(seen) PATCH of it and answered \(answered)", sourceLocation: sourceLocation)
        }
    }

    func stop() async {
        await server.stop()
        folder.remove()
    }

    /// The server's CA as base64, for hand-written kubeconfigs.
    var caBase64: String { Data((server.caPEM ?? "").utf8).base64EncodedString() }
}

func configMap(_ name: String, namespace: String = "default", labels: [String: String] = [:], data: [String: String] = [:]) -> JSONValue {
    .object([
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": .object(["name": .string(name), "namespace": .string(namespace),
                             "labels": .object(labels.mapValues(JSONValue.string))]),
        "data": .object(data.mapValues(JSONValue.string)),
    ])
}

func names(_ items: [JSONValue]) -> [String] {
    items.compactMap { $0[path: ["metadata", "name"]]?.string }.sorted()
}

/// The message of the server's `Status`, when it answered.
func statusMessage(_ error: KubeError?) -> String? {
    if case .api(let status, _, _)? = error { return status.message }
    return nil
}

/// Runs `body`, expecting a `KubeError`, and returns it.
func kubeError(_ body: () async throws -> Void) async -> KubeError? {
    do {
        try await body()
        return nil
    } catch let error as KubeError {
        return error
    } catch {
        return nil
    }
}
