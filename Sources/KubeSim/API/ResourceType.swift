/// One kind the server serves: where it lives in the API and how it is named.
public struct ResourceType: Sendable, Hashable, Codable {
    /// "" for the core group.
    public var group: String
    public var version: String
    public var kind: String
    /// The URL segment: `deployments`.
    public var plural: String
    public var singular: String
    public var namespaced: Bool
    public var shortNames: [String] = []
    /// Whether it has a `status` subresource.
    public var hasStatus: Bool = true
    /// Set for kinds served because of a CustomResourceDefinition.
    public var custom = false

    public var apiVersion: String { group.isEmpty ? version : group + "/" + version }
    public var groupVersion: String { apiVersion }

    /// The API path prefix: `/api/v1` or `/apis/apps/v1`.
    public var prefix: String { group.isEmpty ? "/api/" + version : "/apis/" + group + "/" + version }

    static func core(_ kind: String, _ plural: String, namespaced: Bool = true, short: [String] = [], status: Bool = true) -> ResourceType {
        ResourceType(group: "", version: "v1", kind: kind, plural: plural, singular: kind.lowercased(), namespaced: namespaced,
                     shortNames: short, hasStatus: status)
    }

    static func grouped(_ group: String, _ version: String, _ kind: String, _ plural: String, namespaced: Bool = true,
                        short: [String] = [], status: Bool = true) -> ResourceType {
        ResourceType(group: group, version: version, kind: kind, plural: plural, singular: kind.lowercased(),
                     namespaced: namespaced, shortNames: short, hasStatus: status)
    }

    static let namespace = ResourceType.core("Namespace", "namespaces", namespaced: false, short: ["ns"])
    static let service = ResourceType.core("Service", "services", short: ["svc"])
    static let serviceAccounts = ResourceType.core("ServiceAccount", "serviceaccounts", short: ["sa"], status: false)

    /// The kinds every KubeSim cluster serves.
    public static let builtIn: [ResourceType] = [
        .namespace,
        .core("ConfigMap", "configmaps", short: ["cm"], status: false),
        .core("Secret", "secrets", status: false),
        .service,
        .serviceAccounts,
        .core("Pod", "pods", short: ["po"]),
        .core("PersistentVolumeClaim", "persistentvolumeclaims", short: ["pvc"]),
        .grouped("apps", "v1", "Deployment", "deployments", short: ["deploy"]),
        .grouped("apps", "v1", "StatefulSet", "statefulsets", short: ["sts"]),
        .grouped("apps", "v1", "DaemonSet", "daemonsets", short: ["ds"]),
        .grouped("apps", "v1", "ReplicaSet", "replicasets", short: ["rs"]),
        .grouped("batch", "v1", "Job", "jobs"),
        .grouped("batch", "v1", "CronJob", "cronjobs", short: ["cj"]),
        .grouped("networking.k8s.io", "v1", "Ingress", "ingresses", short: ["ing"]),
        .grouped("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced: false, status: false),
        .grouped("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short: ["netpol"], status: false),
        .core("Endpoints", "endpoints", short: ["ep"], status: false),
        .grouped("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", status: false),
        .core("ResourceQuota", "resourcequotas", short: ["quota"]),
        .core("LimitRange", "limitranges", short: ["limits"], status: false),
        .grouped("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short: ["hpa"]),
        .grouped("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short: ["pdb"]),
        .grouped("rbac.authorization.k8s.io", "v1", "Role", "roles", status: false),
        .grouped("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", status: false),
        .grouped("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced: false, status: false),
        .grouped("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced: false, status: false),
        .grouped("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced: false,
                 short: ["crd", "crds"]),
    ]
}
