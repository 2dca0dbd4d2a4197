import Foundation

/// Decoding `Pipelines/NAME.yaml`. Cross-file checks (does a stage's environment exist?) are
/// the loader's.
extension PipelineConfig {
    static let keys = ["apiVersion", "kind", "name", "repo", "identity", "stages"]

    static func decode(_ root: ValueReader, _ context: LoadContext) -> PipelineConfig? {
        guard let fields = root.mapping(keys: keys) else { return nil }
        let before = context.log.issues.count
        let name = context.header(fields, kind: "Pipeline", folder: "Pipelines")

        var repo: RepoSource?
        if let value = fields.required("repo") {
            repo = RepoSource.decode(value, context)
        }

        // nil: written, and neither (no stage is checked against it).
        var identity: Identity? = .verified
        if let raw = fields.optional("identity") {
            identity = raw.choice(Identity.allCases.map(\.rawValue)).flatMap(Identity.init(rawValue:))
        }

        var stages: [Stage] = []
        if let value = fields.required("stages"), let list = value.list() {
            if list.isEmpty {
                value.fail("a pipeline needs at least one stage")
            }
            stages = list.compactMap { Stage.decode($0, context, identity: identity) }
        }

        guard let name, let repo, context.log.issues.count == before else { return nil }
        return PipelineConfig(name: name, repo: repo, stages: stages, file: context.log.file, identity: identity ?? .verified)
    }
}

extension RepoSource {
    static func decode(_ value: ValueReader, _ context: LoadContext) -> RepoSource? {
        guard let map = value.mapping(keys: ["url", "branch", "poll", "paths", "insecure", "tokenFile", "tokenEnv", "username"]) else { return nil }
        var source: RepoSource?
        let insecure = map.optional("insecure")?.bool() ?? false
        if let raw = map.required("url"), let url = raw.nonEmptyString() {
            if url.contains("://") {
                let scheme = url.prefix { $0 != ":" }.lowercased()
                let authority = url.dropFirst(scheme.count + 3).prefix { $0 != "/" }
                if (scheme == "https" || scheme == "http"), authority.contains("@") {
                    // Never echo it: what is before the @ is a token or a password.
                    raw.fail("the URL carries credentials (before \"@\"), which would be printed and stored wherever the URL is: "
                             + "remove them and let git's credential helpers or the environment provide them")
                } else if (scheme == "git" || scheme == "http"), !insecure {
                    raw.fail("\(scheme):// carries the repository unencrypted and unauthenticated (anyone on the path can change what is "
                             + "deployed): use https:// or ssh://, or set repo.insecure: true")
                } else if let problem = LoadContext.urlProblem(url, schemes: ["https", "http", "ssh", "git", "file"]) {
                    raw.fail(problem)
                } else {
                    source = RepoSource(url: url)
                }
            } else if url.range(of: #"^[A-Za-z0-9._-]+@[A-Za-z0-9._-]+:[^/]"#, options: .regularExpression) != nil {
                source = RepoSource(url: url) // scp-like: git@host:org/repo.git
            } else {
                source = RepoSource(url: url, location: context.absolute(url), isLocal: true)
            }
        }
        if let value = map.optional("branch"), let branch = value.string() {
            if let problem = Names.refNameProblem(branch) {
                value.fail("\(ValueReader.quote(branch)) is not a valid branch name: \(problem)")
            } else {
                source?.branch = branch
            }
        }
        if let poll = map.optional("poll")?.duration() {
            source?.poll = poll
        }
        let tokenFile = map.optional("tokenFile"), tokenEnv = map.optional("tokenEnv")
        if let tokenFile, tokenEnv != nil {
            tokenFile.fail("give tokenFile or tokenEnv, not both")
        } else if let file = tokenFile?.nonEmptyString() {
            source?.token = .file(context.absolute(file))
        } else if let name = tokenEnv?.nonEmptyString() {
            source?.token = .env(name)
        }
        if let raw = map.optional("username"), let name = raw.nonEmptyString() { source?.username = name }
        if source?.token != nil, let url = source?.url, !(url.hasPrefix("https://") || url.hasPrefix("http://")), let raw = tokenFile ?? tokenEnv {
            raw.fail("a token is for an https:// remote; \(ValueReader.quote(url)) is not one")
        }
        if let list = map.optional("paths")?.list() {
            var paths: [String] = []
            for element in list {
                guard let raw = element.nonEmptyString() else { continue }
                let path = raw.hasSuffix("/") ? String(raw.dropLast()) : raw
                let parts = path.split(separator: "/", omittingEmptySubsequences: false)
                if path.hasPrefix("/") || path.isEmpty || parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
                    element.fail("\(ValueReader.quote(raw)) is not a path inside the repository (relative, no \".\" or \"..\" parts)")
                } else if paths.contains(path) {
                    element.fail("\(ValueReader.quote(raw)) is listed twice")
                } else {
                    paths.append(path)
                }
            }
            source?.paths = paths
        }
        return source
    }
}

extension Stage {
    static let keys = ["environment", "promote", "gates", "approval", "windows"]

    static func decode(_ value: ValueReader, _ context: LoadContext, identity: PipelineConfig.Identity?) -> Stage? {
        guard let map = value.mapping(keys: keys) else { return nil }
        let environment = map.required("environment")?.nonEmptyString()
        var stage = Stage(environment: environment ?? "")
        if let promote = map.optional("promote")?.choice(PromoteMode.allCases.map(\.rawValue)) {
            stage.promote = PromoteMode(rawValue: promote) ?? .auto
        }
        if let list = map.optional("gates")?.list() {
            stage.gates = list.compactMap { Gate.decode($0, context) }
        }
        if let approval = map.optional("approval") {
            if stage.promote == .auto {
                let key = map.keyNode("approval")!
                map.log.add(key, approval.path,
                            "an approval block needs \"promote: manual\" on its stage; an auto stage is never approved")
            }
            stage.approval = ApprovalPolicy.decode(approval)
        }
        if identity == .verified, stage.promote == .manual, stage.approval?.requiresSignatures != true,
           let node = map.keyNode("approval") ?? map.keyNode("promote"), !context.log.issues.contains(where: { $0.keyPath.hasPrefix(value.path.text + ".approval") }) {
            map.log.add(node, value.path.key(map.keyNode("approval") == nil ? "promote" : "approval"),
                        "a manual stage's approvers need SSH keys (approvers: [{email: ..., keys: [...]}] or allowedSigners: FILE), so that "
                        + "an approval proves who gave it; or set identity: unverified on the pipeline to trust the identity a command claims")
        }
        if let list = map.optional("windows")?.list() {
            stage.windows = list.compactMap(DeployWindow.decode)
        }
        return environment == nil ? nil : stage
    }
}
