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

    /// The user a request is served for, when RBAC applies to them (not `system:masters`):
    /// what the RBAC registry's escalation checks below need. Set by the responder; nil for the
    /// simulated controllers' own writes.
    @TaskLocal static var requester: UserInfo?

    /// kube-apiserver's RBAC registry (`policybased` storage): a Role or ClusterRole may be
    /// written only by a user who holds every permission it grants, or may `escalate` it; a
    /// binding only by one who holds every permission of the role it names, or may `bind` it.
    /// Otherwise 403, worded as kube-apiserver words it.
    func confirmNoEscalation(_ type: ResourceType, _ key: ObjectKey, _ object: JSONValue) throws(APIError) {
        guard let user = Self.requester, !user.isMaster, type.group == "rbac.authorization.k8s.io" else { return }
        let policy = authorizationPolicy()
        let granted: [PolicyRule]
        switch type.plural {
        case "roles", "clusterroles":
            let escalate = RequestAttributes(user: user, verb: "escalate", apiGroup: type.group, resource: type.plural, name: key.name,
                                             namespace: key.namespace)
            if policy.decide(escalate).allowed { return }
            granted = (object["rules"]?.array ?? []).map(PolicyRule.init)
        case "rolebindings", "clusterrolebindings":
            let kind = object[path: ["roleRef", "kind"]]?.string ?? "", name = object[path: ["roleRef", "name"]]?.string ?? ""
            let resource = kind == "ClusterRole" ? "clusterroles" : "roles"
            let bind = RequestAttributes(user: user, verb: "bind", apiGroup: type.group, resource: resource, name: name, namespace: key.namespace)
            if policy.decide(bind).allowed { return }
            guard let rules = kind == "ClusterRole" ? policy.clusterRoles[name] : policy.roles[key.namespace]?[name] else {
                throw Self.forbidden(type, key, "\(resource).rbac.authorization.k8s.io \(RequestAttributes.quoted(name)) not found")
            }
            granted = rules
        default:
            return
        }
        let missing = PolicyRule.compact(policy.missing(granted, for: user, namespace: key.namespace))
        guard !missing.isEmpty else { return }
        let groups = "[" + user.groups.map(RequestAttributes.quoted).joined(separator: " ") + "]"
        throw Self.forbidden(type, key, "user \(RequestAttributes.quoted(user.name)) (groups=\(groups)) is attempting to grant RBAC permissions "
            + "not currently held:\n" + Set(missing.map(\.compactString)).sorted().joined(separator: "\n"))
    }

    private static func forbidden(_ type: ResourceType, _ key: ObjectKey, _ why: String) -> APIError {
        APIError(code: 403, reason: "Forbidden", message: "\(type.plural).\(type.group) \(RequestAttributes.quoted(key.name)) is forbidden: \(why)",
                 details: .object(["name": .string(key.name), "group": .string(type.group), "kind": .string(type.plural)]))
    }
}
