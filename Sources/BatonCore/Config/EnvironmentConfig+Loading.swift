/// Decoding `Environments/NAME.yaml`.
extension EnvironmentConfig {
    static let keys = ["apiVersion", "kind", "name", "cluster", "namespace", "source", "ref", "sync",
                       "ignoreDifferences", "scope"]

    /// The environment in `root`, or nil when it has problems (logged in `context`).
    static func decode(_ root: ValueReader, _ context: LoadContext) -> EnvironmentConfig? {
        guard let fields = root.mapping(keys: keys) else { return nil }
        let before = context.log.issues.count
        let name = context.header(fields, kind: "Environment", folder: "Environments")

        var cluster = ClusterTarget(kubeconfig: context.defaultKubeconfig)
        if let value = fields.optional("cluster"), let map = value.mapping(keys: ["kubeconfig", "context", "qps", "burst"]) {
            if let raw = map.optional("kubeconfig"), let text = raw.nonEmptyString(),
               let paths = context.paths(text, at: raw) {
                cluster.kubeconfig = paths
            }
            cluster.context = map.optional("context")?.nonEmptyString()
            if let raw = map.optional("qps"), let qps = raw.number() {
                if qps > 0 { cluster.qps = qps } else { raw.fail("must be more than 0, got \(qps)") }
            }
            cluster.burst = map.optional("burst")?.int(atLeast: 1)
        }

        var namespace: String?
        if let value = fields.optional("namespace"), let text = value.string() {
            if Names.isDNSLabel(text) {
                namespace = text
            } else {
                value.fail("\(ValueReader.quote(text)) is not a valid namespace: use 1 to 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit")
            }
        }

        var source = ManifestSource(path: ".")
        if let value = fields.required("source"), let map = value.mapping(keys: ["path", "render", "allowRemoteBases", "limits"]) {
            if let raw = map.required("path"), let text = raw.nonEmptyString() {
                if let path = repositoryPath(text, at: raw) { source.path = path }
            }
            if let render = map.optional("render")?.choice(RenderMode.allCases.map(\.rawValue)) {
                source.render = RenderMode(rawValue: render) ?? .auto
            }
            if let allow = map.optional("allowRemoteBases")?.bool() { source.allowRemoteBases = allow }
            if let raw = map.optional("limits"),
               let limits = raw.mapping(keys: ["fileBytes", "revisionBytes", "objects", "fileNodes", "revisionNodes"]) {
                func bytes(_ key: String) -> Int? {
                    guard let value = limits.optional(key), let text = value.scalarText() else { return nil }
                    guard let count = SourceLimits.bytes(text) else {
                        value.fail("expected a byte count such as 4096, 512Ki or 8Mi, got \(ValueReader.quote(text))")
                        return nil
                    }
                    return count
                }
                if let count = bytes("fileBytes") { source.limits.fileBytes = count }
                if let count = bytes("revisionBytes") { source.limits.revisionBytes = count }
                if let count = limits.optional("objects")?.int(atLeast: 1) { source.limits.objects = count }
                if let count = limits.optional("fileNodes")?.int(atLeast: 1) { source.limits.fileNodes = count }
                if let count = limits.optional("revisionNodes")?.int(atLeast: 1) { source.limits.revisionNodes = count }
            }
        }

        var ref: String?
        if let value = fields.optional("ref"), let text = value.string() {
            if let problem = Names.refNameProblem(text) {
                value.fail("\(ValueReader.quote(text)) is not a valid git ref name: \(problem)")
            } else {
                ref = text
            }
        }

        var sync = SyncPolicy()
        if let value = fields.optional("sync"),
           let map = value.mapping(keys: ["interval", "prune", "selfHeal", "timeout", "createNamespace", "allowEmpty", "adopt"]) {
            if let interval = map.optional("interval")?.duration() { sync.interval = interval }
            if let prune = map.optional("prune")?.bool() { sync.prune = prune }
            if let selfHeal = map.optional("selfHeal")?.bool() { sync.selfHeal = selfHeal }
            if let timeout = map.optional("timeout")?.duration() { sync.timeout = timeout }
            if let create = map.optional("createNamespace")?.bool() { sync.createNamespace = create }
            if let empty = map.optional("allowEmpty")?.bool() { sync.allowEmpty = empty }
            if let adopt = map.optional("adopt")?.bool() { sync.adopt = adopt }
        }

        var ignored: [IgnoreDifference] = []
        if let value = fields.optional("ignoreDifferences"), let entries = value.list() {
            ignored = entries.compactMap(IgnoreDifference.decode)
        }

        var scope = DeployScope()
        if let value = fields.optional("scope"), let map = value.mapping(keys: ["namespaces", "clusterResources"]) {
            if let list = map.optional("namespaces")?.list() {
                var patterns: [String] = []
                for element in list {
                    guard let text = element.string() else { continue }
                    if Names.isDNSLabel(text.replacingOccurrences(of: "*", with: "x")) {
                        patterns.append(text)
                    } else {
                        element.fail("\(ValueReader.quote(text)) is not a namespace or a pattern of one (lowercase letters, digits, \"-\" and \"*\")")
                    }
                }
                scope.namespaces = patterns
            }
            if let list = map.optional("clusterResources")?.list() {
                var kinds: [String] = []
                for element in list {
                    guard let text = element.string() else { continue }
                    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
                    if parts.count <= 2, parts.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) {
                        kinds.append(text)
                    } else {
                        element.fail("expected KIND or GROUP/KIND (\"*\" for any), such as apiextensions.k8s.io/CustomResourceDefinition, got \(ValueReader.quote(text))")
                    }
                }
                scope.clusterResources = kinds
            }
        }

        guard let name, context.log.issues.count == before else { return nil }
        return EnvironmentConfig(name: name, cluster: cluster, namespace: namespace, source: source, ref: ref,
                                 sync: sync, ignoreDifferences: ignored, scope: scope, file: context.log.file)
    }

    /// A folder inside the repository: relative, without `..`, normalised (`./a/` → `a`).
    private static func repositoryPath(_ text: String, at value: ValueReader) -> String? {
        if text.hasPrefix("/") {
            value.fail("must be a path inside the repository, relative to its root, got \(ValueReader.quote(text))")
            return nil
        }
        let parts = text.split(separator: "/").filter { $0 != "." }
        if parts.contains("..") {
            value.fail("must not leave the repository with \"..\", got \(ValueReader.quote(text))")
            return nil
        }
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }
}

extension IgnoreDifference {
    static func decode(_ value: ValueReader) -> IgnoreDifference? {
        guard let map = value.mapping(keys: ["group", "kind", "name", "namespace", "jsonPointers"]) else { return nil }
        let kind = map.required("kind")?.nonEmptyString()
        var pointers: [String] = []
        var valid = true
        if let list = map.required("jsonPointers")?.list() {
            if list.isEmpty {
                map.optional("jsonPointers")?.fail("must list at least one JSON pointer, such as /spec/replicas")
                valid = false
            }
            for element in list {
                guard let pointer = element.string() else { valid = false; continue }
                if let problem = jsonPointerProblem(pointer) {
                    element.fail("\(ValueReader.quote(pointer)) is not a JSON pointer: \(problem)")
                    valid = false
                } else {
                    pointers.append(pointer)
                }
            }
        }
        let group = map.optional("group")?.string()
        let name = map.optional("name")?.nonEmptyString()
        let namespace = map.optional("namespace")?.nonEmptyString()
        guard let kind, valid, !pointers.isEmpty else { return nil }
        return IgnoreDifference(group: group, kind: kind, name: name, namespace: namespace, jsonPointers: pointers)
    }

    /// Why `pointer` breaks RFC 6901, or nil.
    static func jsonPointerProblem(_ pointer: String) -> String? {
        guard pointer.hasPrefix("/") else { return "it must start with \"/\"" }
        var chars = pointer.makeIterator()
        while let c = chars.next() {
            if c == "~" {
                guard let next = chars.next(), next == "0" || next == "1" else {
                    return "\"~\" must be followed by 0 or 1"
                }
            }
        }
        return nil
    }
}
