/// What an environment may deploy, as Argo CD's AppProject says it with destinations and a
/// cluster resource allow list: namespaced objects only in `namespaces`, cluster-scoped objects
/// only of the kinds in `clusterResources`. An object outside fails the revision before anything
/// is applied, and an environment prunes nothing outside it.
public struct DeployScope: Sendable, Hashable, Codable {
    /// Namespace names, or patterns where `*` stands for any characters (`team-*`, `*`); nil
    /// means the environment's own namespace only.
    public var namespaces: [String]?
    /// Cluster-scoped kinds as `KIND` (the core group) or `GROUP/KIND`, either part `*` for
    /// any. A Namespace object must also be named by `namespaces`.
    public var clusterResources: [String]

    public init(namespaces: [String]? = nil, clusterResources: [String] = ["Namespace"]) {
        self.namespaces = namespaces
        self.clusterResources = clusterResources
    }

    /// The namespace patterns in force for an environment whose namespace is `own`.
    public func namespacePatterns(own: String) -> [String] { namespaces ?? [own] }

    /// Whether a namespaced object may go to `namespace`.
    public func allows(namespace: String, own: String) -> Bool {
        namespacePatterns(own: own).contains { Self.matches(namespace, pattern: $0) }
    }

    /// Whether cluster-scoped objects of `kind` in `group` may be deployed.
    public func allows(clusterKind kind: String, group: String) -> Bool {
        clusterResources.contains { entry in
            let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
            let (entryGroup, entryKind) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
            return (entryGroup == "*" || entryGroup == group) && (entryKind == "*" || entryKind == kind)
        }
    }

    /// Glob matching with `*` only.
    static func matches(_ text: String, pattern: String) -> Bool {
        let pieces = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        guard pieces.count > 1 else { return text == pattern }
        guard text.hasPrefix(pieces[0]), text.count >= pieces[0].count + pieces[pieces.count - 1].count else { return false }
        var rest = Substring(text.dropFirst(pieces[0].count))
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let range = rest.range(of: piece) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(pieces[pieces.count - 1])
    }
}
