import BatonCore

/// The human summary `baton validate` prints: each pipeline's chain, then each stage with its
/// environment, approval rule, windows and gates.
struct ConfigSummary {
    let config: BatonConfig

    var text: String {
        var lines: [String] = []
        let envCount = config.environments.count, pipeCount = config.pipelines.count
        lines.append("Configuration in \(config.directory) is valid: \(envCount) environment\(envCount == 1 ? "" : "s"), \(pipeCount) pipeline\(pipeCount == 1 ? "" : "s").")
        if let instance = config.instance {
            lines.append("Instance \(instance): its objects carry tracking IDs \(instance)/ENVIRONMENT:…, apart from another install's.")
        }
        for pipeline in config.pipelines {
            lines.append("")
            lines.append("pipeline \(pipeline.name): \(pipeline.chain.joined(separator: " → "))")
            lines.append("  source  \(pipeline.repo.url), branch \(pipeline.repo.branch), polled every \(pipeline.repo.poll)")
            if !pipeline.repo.paths.isEmpty { lines.append("  paths   only changes under " + pipeline.repo.paths.joined(separator: ", ")) }
            if let access = Self.access(pipeline.repo) { lines.append("  access  " + access) }
            let width = pipeline.stages.map(\.environment.count).max() ?? 0
            for (index, stage) in pipeline.stages.enumerated() {
                let label = "\(index + 1). " + stage.environment.padding(width)
                let indent = String(repeating: " ", count: label.count + 4)
                lines.append("  \(label)  promote \(stage.promote.rawValue)" + target(stage.environment))
                var details: [(String, String)] = []
                if let env = config.environment(named: stage.environment) { details += Self.describe(env) }
                if let approval = stage.effectiveApproval { details.append(("approval", Self.describe(approval))) }
                for window in stage.windows { details.append(("window", "\(window.effect.rawValue) \(window)")) }
                for gate in stage.gates { details.append(("gate", Self.describe(gate))) }
                if stage.gates.isEmpty { details.append(("gate", "none: verified once synced")) }
                for (key, value) in details {
                    lines.append(indent + key.padding(8) + " " + value)
                }
            }
        }
        let unused = config.environments.filter { config.pipeline(containing: $0.name) == nil }
        if !unused.isEmpty {
            lines.append("")
            lines.append("Not in any pipeline (reconciled, never promoted to): \(unused.map(\.name).joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }

    private func target(_ name: String) -> String {
        guard let env = config.environment(named: name) else { return "" }
        var parts = ["context " + (env.cluster.context ?? "(current)")]
        if let namespace = env.namespace { parts.append("namespace " + namespace) }
        parts.append("path " + env.source.path)
        return "  (" + parts.joined(separator: ", ") + ")"
    }

    /// How a remote's credentials are found, when it takes any.
    static func access(_ repo: RepoSource) -> String? {
        if let token = repo.token { return "token \(token), sent as user \(repo.username)" }
        guard repo.location.lowercased().hasPrefix("https://") else { return nil }
        return "git's credential helpers, if any give one (no token configured)"
    }

    /// An environment's sync policy, what it may deploy, and how its source is read.
    static func describe(_ env: EnvironmentConfig) -> [(String, String)] {
        let sync = env.sync
        var policy = ["every \(sync.interval)", sync.prune ? "prune" : "no prune", sync.selfHeal ? "self-heal" : "drift only reported",
                      "timeout \(sync.timeout)"]
        if sync.createNamespace { policy.append("creates its namespace") }
        if sync.adopt { policy.append("adopts existing objects") }
        if sync.allowEmpty { policy.append("may render nothing (prunes everything)") }
        var details = [("sync", policy.joined(separator: ", "))]
        let namespaces = env.scope.namespaces?.joined(separator: ", ") ?? (env.namespace.map { "\($0) only" } ?? "the context's namespace only")
        let clusterKinds = env.scope.clusterResources.isEmpty ? "none" : env.scope.clusterResources.joined(separator: ", ")
        details.append(("scope", "namespaces \(namespaces); cluster-scoped kinds \(clusterKinds)"))
        if env.source.render != .plain {
            details.append(("render", env.source.render.rawValue + (env.source.allowRemoteBases ? ", remote bases allowed" : ", remote bases refused")))
        }
        let limits = env.source.limits, defaults = SourceLimits()
        if limits != defaults {
            details.append(("limits", "\(SourceLimits.text(bytes: limits.fileBytes)) per file, \(SourceLimits.text(bytes: limits.revisionBytes)) per revision, \(limits.objects) objects, "
                + "\(limits.fileNodes) YAML nodes per file, \(limits.revisionNodes) per revision"))
        }
        return details
    }

    static func describe(_ approval: ApprovalPolicy) -> String {
        var text = "\(approval.required) of "
        text += approval.approvers.isEmpty ? "anyone" : approval.approvers.joined(separator: ", ")
        text += approval.allowCommitAuthors ? "" : "; commit authors may not approve"
        if approval.requireSignedCommits, let file = approval.commitSigners {
            text += "; every commit signed by a key in \(file)" + (approval.allowCommitAuthors ? "" : " (its signers and committers may not approve)")
        }
        return text
    }

    static func describe(_ gate: Gate) -> String {
        switch gate {
        case .health(let health):
            return "health: synced and Healthy for \(health.soak)"
        case .http(let http):
            let codes = http.expectStatus.isEmpty ? "2xx" : http.expectStatus.map(String.init).joined(separator: " or ")
            var text = "http: \(http.method) \(http.url) expects \(codes)"
            if let body = http.bodyContains { text += " with body containing \"\(body)\"" }
            if let json = http.json { text += " and \(json.pointer.isEmpty ? "the body" : json.pointer) = \(json.equals)" }
            if let ca = http.caFile { text += ", CA \(ca)" }
            if !http.headers.isEmpty { text += ", headers \(headers(http.headers))" }
            text += "; \(http.attempts) attempt\(http.attempts == 1 ? "" : "s")"
            if http.attempts > 1 { text += " \(http.interval) apart" }
            return text + ", \(http.timeout) timeout"
        case .prometheus(let prometheus):
            var range: String
            switch (prometheus.min, prometheus.max) {
            case let (low?, high?): range = "between \(number(low)) and \(number(high))"
            case let (low?, nil): range = "≥ \(number(low))"
            case let (nil, high?): range = "≤ \(number(high))"
            case (nil, nil): range = "any value"
            }
            return "prometheus: \(prometheus.query) \(range), \(prometheus.count) measurement\(prometheus.count == 1 ? "" : "s") \(prometheus.interval) apart, \(prometheus.failureLimit) failure\(prometheus.failureLimit == 1 ? "" : "s") allowed (\(prometheus.url)\(prometheus.headers.isEmpty ? "" : ", headers " + headers(prometheus.headers)))"
        }
    }

    /// Header names, with where a value read at run time comes from (never a value).
    private static func headers(_ headers: [HTTPHeader]) -> String {
        headers.map { header in header.valueFrom.map { "\(header.name) (\($0))" } ?? header.name }.joined(separator: ", ")
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
