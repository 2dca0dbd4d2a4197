import BatonCore
import Foundation

extension ClusterState {
    /// The RBAC policy the cluster's Roles, ClusterRoles and bindings make, read again only
    /// after one of them changed.
    func authorizationPolicy() -> RBACPolicy {
        if let cached = rbacPolicy, cached.changes == rbacChanges { return cached.policy }
        let policy = RBACPolicy(objects: ["roles", "rolebindings", "clusterroles", "clusterrolebindings"].flatMap {
            objectsOf(group: "rbac.authorization.k8s.io", plural: $0)
        })
        rbacPolicy = (rbacChanges, policy)
        return policy
    }

    /// kube-controller-manager's service account controller: a `default` ServiceAccount in
    /// every namespace that is not being deleted (of those `work` names: new ones, and those
    /// whose service accounts changed).
    func runServiceAccountController(_ work: ControllerWork) {
        for key in pending(work, group: "", plural: "namespaces") {
            guard let namespace = objects[key], namespace[path: ["status", "phase"]]?.string != "Terminating" else { continue }
            let account = ObjectKey(group: "", plural: "serviceaccounts", namespace: key.name, name: "default")
            guard objects[account] == nil else { continue }
            _ = try? create(.serviceAccounts, namespace: key.name, body: ["apiVersion": "v1", "kind": "ServiceAccount",
                                                                          "metadata": ["name": "default"]], manager: Self.controllerManager)
        }
    }
}
