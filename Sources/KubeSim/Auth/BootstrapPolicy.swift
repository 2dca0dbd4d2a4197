import BatonCore
import Foundation

/// The ClusterRoles and ClusterRoleBindings every cluster starts with, after kube-apiserver's
/// bootstrap policy (`plugin/pkg/auth/authorizer/rbac/bootstrappolicy`), trimmed to the
/// resources KubeSim serves: discovery and self-reviews for every authenticated user, the
/// user-facing `view`, `edit` and `admin` (aggregating ClusterRoles labelled
/// `rbac.authorization.k8s.io/aggregate-to-*`), and `cluster-admin` for `system:masters`.
enum BootstrapPolicy {
    static let read = ["get", "list", "watch"]
    static let write = ["create", "delete", "deletecollection", "patch", "update"]

    /// What `view` may read (not Secrets, not RBAC).
    static let viewRules: [PolicyRule] = [
        PolicyRule(verbs: read, apiGroups: [""], resources: [
            "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "pods/log", "pods/status",
            "replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status", "serviceaccounts",
            "services", "services/status", "events", "limitranges", "resourcequotas", "resourcequotas/status", "namespaces", "namespaces/status",
        ]),
        PolicyRule(verbs: read, apiGroups: ["apps"], resources: [
            "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
            "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status",
        ]),
        PolicyRule(verbs: read, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        PolicyRule(verbs: read, apiGroups: ["batch"], resources: ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        PolicyRule(verbs: read, apiGroups: ["policy"], resources: ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        PolicyRule(verbs: read, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "ingresses/status", "networkpolicies"]),
        PolicyRule(verbs: read, apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
    ]

    /// What `edit` adds: writing the workloads and their configuration, Secrets included.
    static let editRules: [PolicyRule] = [
        PolicyRule(verbs: write, apiGroups: [""], resources: [
            "pods", "configmaps", "endpoints", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale",
            "secrets", "serviceaccounts", "services",
        ]),
        PolicyRule(verbs: read, apiGroups: [""], resources: ["secrets"]),
        PolicyRule(verbs: ["create"], apiGroups: [""], resources: ["serviceaccounts/token"]),
        PolicyRule(verbs: write, apiGroups: ["apps"], resources: [
            "daemonsets", "deployments", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale",
        ]),
        PolicyRule(verbs: write, apiGroups: ["autoscaling"], resources: ["horizontalpodautoscalers"]),
        PolicyRule(verbs: write, apiGroups: ["batch"], resources: ["cronjobs", "jobs"]),
        PolicyRule(verbs: write, apiGroups: ["policy"], resources: ["poddisruptionbudgets"]),
        PolicyRule(verbs: write, apiGroups: ["networking.k8s.io"], resources: ["ingresses", "networkpolicies"]),
        PolicyRule(verbs: write, apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"]),
    ]

    /// What `admin` adds: the namespace's own RBAC.
    static let adminRules: [PolicyRule] = [
        PolicyRule(verbs: read + write, apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"]),
        PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["localsubjectaccessreviews"]),
    ]

    struct Role {
        var name: String
        var rules: [PolicyRule]
        var labels: [String: String] = [:]
        var aggregateFrom: String?
    }

    static let clusterRoles: [Role] = [
        Role(name: "cluster-admin", rules: [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]), PolicyRule(verbs: ["*"], nonResourceURLs: ["*"])]),
        Role(name: "system:discovery", rules: [PolicyRule(verbs: ["get"], nonResourceURLs: [
            "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/",
        ])]),
        Role(name: "system:public-info-viewer", rules: [PolicyRule(verbs: ["get"], nonResourceURLs: ["/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        Role(name: "system:basic-user", rules: [
            PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"]),
            PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
        ]),
        Role(name: "admin", rules: [], aggregateFrom: "admin"),
        Role(name: "edit", rules: [], labels: ["rbac.authorization.k8s.io/aggregate-to-admin": "true"], aggregateFrom: "edit"),
        Role(name: "view", rules: [], labels: ["rbac.authorization.k8s.io/aggregate-to-edit": "true"], aggregateFrom: "view"),
        Role(name: "system:aggregate-to-admin", rules: adminRules, labels: ["rbac.authorization.k8s.io/aggregate-to-admin": "true"]),
        Role(name: "system:aggregate-to-edit", rules: editRules, labels: ["rbac.authorization.k8s.io/aggregate-to-edit": "true"]),
        Role(name: "system:aggregate-to-view", rules: viewRules, labels: ["rbac.authorization.k8s.io/aggregate-to-view": "true"]),
    ]

    /// (binding and role name, groups bound).
    static let clusterBindings: [(String, [String])] = [
        ("cluster-admin", ["system:masters"]),
        ("system:discovery", ["system:authenticated"]),
        ("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
        ("system:basic-user", ["system:authenticated"]),
    ]

    /// The objects, as stored (without metadata the store fills).
    static var objects: [(key: ObjectKey, value: JSONValue)] {
        let group = "rbac.authorization.k8s.io"
        let bootstrapping: [String: JSONValue] = ["kubernetes.io/bootstrapping": "rbac-defaults"]
        var out: [(key: ObjectKey, value: JSONValue)] = []
        for role in clusterRoles {
            var labels = bootstrapping
            for (key, value) in role.labels { labels[key] = .string(value) }
            var object: JSONValue = ["apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                     "metadata": .object(["name": .string(role.name), "labels": .object(labels),
                                                          "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"]]),
                                     "rules": .array(role.rules.map(\.json))]
            if let from = role.aggregateFrom {
                object["aggregationRule"] = ["clusterRoleSelectors": [["matchLabels": .object(["rbac.authorization.k8s.io/aggregate-to-\(from)": "true"])]]]
            }
            out.append((ObjectKey(group: group, plural: "clusterroles", namespace: "", name: role.name), object))
        }
        for (name, groups) in clusterBindings {
            out.append((ObjectKey(group: group, plural: "clusterrolebindings", namespace: "", name: name), [
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": .object(["name": .string(name), "labels": .object(bootstrapping),
                                     "annotations": ["rbac.authorization.kubernetes.io/autoupdate": "true"]]),
                "roleRef": .object(["apiGroup": .string(group), "kind": "ClusterRole", "name": .string(name)]),
                "subjects": .array(groups.map { .object(["apiGroup": .string(group), "kind": "Group", "name": .string($0)]) }),
            ]))
        }
        return out
    }
}
