import BatonCore
import Foundation

/// One `PolicyRule` of a Role or ClusterRole.
struct PolicyRule: Sendable, Equatable {
    var verbs: [String]
    var apiGroups: [String] = []
    var resources: [String] = []
    var resourceNames: [String] = []
    var nonResourceURLs: [String] = []

    init(verbs: [String], apiGroups: [String] = [], resources: [String] = [], resourceNames: [String] = [], nonResourceURLs: [String] = []) {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.resourceNames = resourceNames
        self.nonResourceURLs = nonResourceURLs
    }

    init(_ rule: JSONValue) {
        func strings(_ key: String) -> [String] { (rule[key]?.array ?? []).compactMap(\.string) }
        self.init(verbs: strings("verbs"), apiGroups: strings("apiGroups"), resources: strings("resources"),
                  resourceNames: strings("resourceNames"), nonResourceURLs: strings("nonResourceURLs"))
    }

    var json: JSONValue {
        var out: [String: JSONValue] = ["verbs": .array(verbs.map { .string($0) })]
        if !apiGroups.isEmpty { out["apiGroups"] = .array(apiGroups.map { .string($0) }) }
        if !resources.isEmpty { out["resources"] = .array(resources.map { .string($0) }) }
        if !resourceNames.isEmpty { out["resourceNames"] = .array(resourceNames.map { .string($0) }) }
        if !nonResourceURLs.isEmpty { out["nonResourceURLs"] = .array(nonResourceURLs.map { .string($0) }) }
        return .object(out)
    }

    /// Kubernetes' `RuleAllows`: the verb, group, resource (`*`, `RES/SUB` or `*/SUB`) and name
    /// of a resource request; the verb and path (`*`, exact, or a `PREFIX*`) of another.
    func allows(_ request: RequestAttributes) -> Bool {
        guard verbs.contains("*") || verbs.contains(request.verb) else { return false }
        guard request.isResourceRequest else {
            return nonResourceURLs.contains { url in
                url == "*" || url == request.path || (url.hasSuffix("*") && request.path.hasPrefix(url.dropLast()))
            }
        }
        guard apiGroups.contains("*") || apiGroups.contains(request.apiGroup) else { return false }
        let combined = request.subresource.isEmpty ? request.resource : request.resource + "/" + request.subresource
        let resourceMatches = resources.contains { resource in
            resource == "*" || resource == combined || (!request.subresource.isEmpty && resource == "*/" + request.subresource)
        }
        return resourceMatches && (resourceNames.isEmpty || resourceNames.contains(request.name))
    }
}

/// Who a binding grants its role to.
struct Subject: Sendable, Equatable {
    enum Kind: String, Sendable { case user = "User", group = "Group", serviceAccount = "ServiceAccount" }
    var kind: Kind
    var name: String
    /// A ServiceAccount's namespace (a RoleBinding's own when the subject names none).
    var namespace: String

    func matches(_ user: UserInfo) -> Bool {
        switch kind {
        case .user: user.name == name
        case .group: user.groups.contains(name)
        case .serviceAccount: user.name == "system:serviceaccount:\(namespace):\(name)"
        }
    }

    var description: String {
        kind == .serviceAccount ? "ServiceAccount \(RequestAttributes.quoted(name + "/" + namespace))" : "\(kind.rawValue) \(RequestAttributes.quoted(name))"
    }
}

/// The RBAC objects of a cluster, read once per change to them: the rules of every Role and
/// ClusterRole (aggregated ClusterRoles hold the rules of the ClusterRoles their selectors
/// match, as the aggregation controller writes them) and every binding. Evaluated as
/// kube-apiserver's RBAC authorizer does: `system:masters` may do anything; otherwise a request
/// is allowed when a ClusterRoleBinding, or a RoleBinding in the request's namespace, grants a
/// role with a rule that allows it, to a subject the user is. Nothing else allows.
struct RBACPolicy: Sendable {
    struct Binding: Sendable {
        var name: String
        var namespace: String
        /// "Role" or "ClusterRole".
        var roleKind: String
        var roleName: String
        var subjects: [Subject]
    }

    var clusterRoles: [String: [PolicyRule]] = [:]
    /// By namespace, then name.
    var roles: [String: [String: [PolicyRule]]] = [:]
    var clusterBindings: [Binding] = []
    /// By namespace.
    var bindings: [String: [Binding]] = [:]

    init(objects: [(key: ObjectKey, value: JSONValue)]) {
        var aggregated: [(name: String, selectors: [JSONValue])] = []
        var labels: [String: [String: String]] = [:]
        for (key, object) in objects where key.group == "rbac.authorization.k8s.io" {
            let rules = (object["rules"]?.array ?? []).map(PolicyRule.init)
            switch key.plural {
            case "clusterroles":
                clusterRoles[key.name] = rules
                labels[key.name] = (object[path: ["metadata", "labels"]]?.object ?? [:]).compactMapValues(\.string)
                if let selectors = object[path: ["aggregationRule", "clusterRoleSelectors"]]?.array { aggregated.append((key.name, selectors)) }
            case "roles":
                roles[key.namespace, default: [:]][key.name] = rules
            case "clusterrolebindings", "rolebindings":
                let binding = Binding(name: key.name, namespace: key.namespace,
                                      roleKind: object[path: ["roleRef", "kind"]]?.string ?? "", roleName: object[path: ["roleRef", "name"]]?.string ?? "",
                                      subjects: (object["subjects"]?.array ?? []).compactMap { subject in
                                          guard let kind = Subject.Kind(rawValue: subject["kind"]?.string ?? "") else { return nil }
                                          let namespace = subject["namespace"]?.string ?? ""
                                          return Subject(kind: kind, name: subject["name"]?.string ?? "",
                                                         namespace: namespace.isEmpty ? key.namespace : namespace)
                                      })
                if key.plural == "clusterrolebindings" { clusterBindings.append(binding) } else { bindings[key.namespace, default: []].append(binding) }
            default: break
            }
        }
        // Aggregation: a ClusterRole with selectors gets the rules of every ClusterRole they
        // match, aggregated ones included (`admin` ← `edit` ← `view`): repeated until stable.
        var changed = true
        for _ in 0...aggregated.count where changed {
            changed = false
            for (name, selectors) in aggregated {
                var rules = clusterRoles[name] ?? []
                for (other, otherLabels) in labels.sorted(by: { $0.key < $1.key }) where other != name {
                    guard selectors.contains(where: { Self.matches($0, otherLabels) }) else { continue }
                    for rule in clusterRoles[other] ?? [] where !rules.contains(rule) {
                        rules.append(rule)
                        changed = true
                    }
                }
                clusterRoles[name] = rules
            }
        }
    }

    /// A `metav1.LabelSelector` (matchLabels and matchExpressions) against `labels`.
    static func matches(_ selector: JSONValue, _ labels: [String: String]) -> Bool {
        for (key, value) in selector["matchLabels"]?.object ?? [:] where labels[key] != value.string { return false }
        for expression in selector["matchExpressions"]?.array ?? [] {
            let key = expression["key"]?.string ?? "", values = (expression["values"]?.array ?? []).compactMap(\.string)
            switch expression["operator"]?.string {
            case "In": if !values.contains(labels[key] ?? "\u{0}") { return false }
            case "NotIn": if let value = labels[key], values.contains(value) { return false }
            case "Exists": if labels[key] == nil { return false }
            case "DoesNotExist": if labels[key] != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// Whether `request` is allowed, and kube-apiserver's reason when it is
    /// (`RBAC: allowed by RoleBinding "b/ns" of Role "r" to User "u"`).
    func decide(_ request: RequestAttributes) -> (allowed: Bool, reason: String) {
        if request.user.isMaster { return (true, "") }
        for binding in clusterBindings {
            guard let subject = binding.subjects.first(where: { $0.matches(request.user) }), binding.roleKind == "ClusterRole",
                  (clusterRoles[binding.roleName] ?? []).contains(where: { $0.allows(request) }) else { continue }
            return (true, "RBAC: allowed by ClusterRoleBinding \(RequestAttributes.quoted(binding.name)) of ClusterRole "
                + "\(RequestAttributes.quoted(binding.roleName)) to \(subject.description)")
        }
        guard request.isResourceRequest, !request.namespace.isEmpty else { return (false, "") }
        for binding in bindings[request.namespace] ?? [] {
            guard let subject = binding.subjects.first(where: { $0.matches(request.user) }) else { continue }
            let rules = binding.roleKind == "ClusterRole" ? clusterRoles[binding.roleName] : roles[request.namespace]?[binding.roleName]
            guard (rules ?? []).contains(where: { $0.allows(request) }) else { continue }
            return (true, "RBAC: allowed by RoleBinding \(RequestAttributes.quoted(binding.name + "/" + binding.namespace)) of "
                + "\(binding.roleKind) \(RequestAttributes.quoted(binding.roleName)) to \(subject.description)")
        }
        return (false, "")
    }
}
