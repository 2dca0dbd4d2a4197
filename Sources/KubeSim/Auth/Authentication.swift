import BatonCore
import Foundation
import Synchronization

/// Who a request comes from, as kube-apiserver's authenticators say it: a user name and groups.
public struct UserInfo: Sendable, Hashable {
    public var name: String
    public var groups: [String]

    public init(name: String, groups: [String] = []) {
        self.name = name
        self.groups = groups.contains("system:authenticated") ? groups : groups + ["system:authenticated"]
    }

    /// The admin of `baton sim up`'s kubeconfig: in `system:masters`, which no RBAC rule can
    /// restrict (kube-apiserver's privileged group).
    public static let admin = UserInfo(name: "kubernetes-admin", groups: ["system:masters"])

    /// A ServiceAccount's user, as its tokens authenticate.
    static func serviceAccount(namespace: String, name: String) -> UserInfo {
        UserInfo(name: "system:serviceaccount:\(namespace):\(name)", groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)"])
    }

    var isMaster: Bool { groups.contains("system:masters") }
}

/// Bearer tokens and who they stand for: the admin token, the configured users' tokens, and
/// the tokens issued to ServiceAccounts through `TokenRequest` (valid until they expire and
/// while that very ServiceAccount, same uid, exists — as bound service account tokens are).
final class Authenticator: Sendable {
    struct ServiceAccountToken: Sendable {
        var namespace: String
        var name: String
        var uid: String
        var expires: Date
    }

    private let admin: String?
    private let users: [String: UserInfo]
    private let issued = Mutex<[String: ServiceAccountToken]>([:])

    /// `admin`: the token of the all-powerful user; nil lets every request in as that user
    /// (debugging only). `users`: token → user.
    init(admin: String?, users: [String: UserInfo]) {
        self.admin = admin
        self.users = users
    }

    /// The user a request's `Authorization` header names; nil when it names none (401).
    func user(authorization: String?, state: ClusterState) async -> UserInfo? {
        guard let admin else { return .admin }
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let token = String(authorization.dropFirst("Bearer ".count))
        if token == admin { return .admin }
        if let user = users[token] { return user }
        guard let bound = issued.withLock({ $0[token] }), bound.expires > state.now() else { return nil }
        let live = try? await state.get(ResourceType.serviceAccounts, namespace: bound.namespace, name: bound.name)
        guard live?[path: ["metadata", "uid"]]?.string == bound.uid else { return nil }
        return .serviceAccount(namespace: bound.namespace, name: bound.name)
    }

    /// `POST .../serviceaccounts/NAME/token`: a new token for that ServiceAccount
    /// (`kubectl create token NAME`), valid for `spec.expirationSeconds` (default one hour, at
    /// least ten minutes, as kube-apiserver requires).
    func tokenRequest(namespace: String, name: String, body: Data, state: ClusterState) async throws -> JSONValue {
        let serviceAccount = try await state.get(ResourceType.serviceAccounts, namespace: namespace, name: name)
        var request: JSONValue = body.isEmpty ? .object([:]) : try JSONValue.parse(body)
        let seconds = request[path: ["spec", "expirationSeconds"]]?.int ?? 3600
        guard seconds >= 600 else {
            throw APIError(code: 422, reason: "Invalid", message: "TokenRequest.authentication.k8s.io \"\(name)\" is invalid: "
                + "spec.expirationSeconds: Invalid value: \(seconds): may not specify a duration less than 10 minutes")
        }
        let token = "kubesim-sa." + (0..<2).map { _ in UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "") }.joined()
        let expires = state.now().addingTimeInterval(TimeInterval(seconds))
        issued.withLock {
            $0[token] = ServiceAccountToken(namespace: namespace, name: name,
                                            uid: serviceAccount[path: ["metadata", "uid"]]?.string ?? "", expires: expires)
        }
        request["apiVersion"] = "authentication.k8s.io/v1"
        request["kind"] = "TokenRequest"
        request[path: ["metadata", "name"]] = .string(name)
        request[path: ["metadata", "namespace"]] = .string(namespace)
        request[path: ["spec", "expirationSeconds"]] = .int(Int64(seconds))
        request[path: ["spec", "audiences"]] = request[path: ["spec", "audiences"]] ?? ["https://kubernetes.default.svc.cluster.local"]
        request["status"] = .object(["token": .string(token), "expirationTimestamp": .string(Timestamp.format(expires))])
        return request
    }
}
