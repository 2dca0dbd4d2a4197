import Yams

/// The checks that need every file at once: duplicate names, stages naming unknown
/// environments, an environment used twice, refs that collide.
struct CrossCheck {
    let environments: [(EnvironmentConfig, document: Node)]
    let pipelines: [(PipelineConfig, document: Node)]
    /// The names of every environment file, valid or not (a file's name is its object's), so
    /// that an environment with problems of its own is not also reported as unknown.
    let environmentFileNames: Set<String>

    func issues() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ file: String, _ node: Node?, _ path: String, _ message: String) {
            let position = node.map(YAMLSource.position(of:)) ?? SourcePosition(line: 1, column: 1)
            issues.append(ConfigIssue(file: file, position: position, keyPath: path, message: message))
        }

        var environmentFiles: [String: String] = [:]
        for (env, document) in environments {
            if let first = environmentFiles[env.name] {
                add(env.file, document["name"], "name", "environment \"\(env.name)\" is already declared in \(first)")
            } else {
                environmentFiles[env.name] = env.file
            }
        }
        // One request budget per cluster: environments on it may not set it differently.
        var budgets: [String: (qps: (Double, EnvironmentConfig)?, burst: (Int, EnvironmentConfig)?)] = [:]
        for (env, document) in environments {
            let key = env.cluster.sharingKey
            var known = budgets[key] ?? (nil, nil)
            let context = env.cluster.context.map { "context \($0)" } ?? "the current context"
            if let qps = env.cluster.qps {
                if let (first, by) = known.qps, first != qps {
                    add(env.file, document["cluster"]?["qps"], "cluster.qps",
                        "\(qps.formatted()) differs from the \(first.formatted()) environment \"\(by.name)\" (\(by.file)) sets for the same cluster (\(context)): "
                        + "the request budget is one per cluster; set it the same, or in one environment only")
                } else if known.qps == nil {
                    known.qps = (qps, env)
                }
            }
            if let burst = env.cluster.burst {
                if let (first, by) = known.burst, first != burst {
                    add(env.file, document["cluster"]?["burst"], "cluster.burst",
                        "\(burst) differs from the \(first) environment \"\(by.name)\" (\(by.file)) sets for the same cluster (\(context)): "
                        + "the request budget is one per cluster; set it the same, or in one environment only")
                } else if known.burst == nil {
                    known.burst = (burst, env)
                }
            }
            budgets[key] = known
        }
        var pipelineFiles: [String: String] = [:]
        var owner: [String: PipelineConfig] = [:]
        for (pipeline, document) in pipelines {
            if let first = pipelineFiles[pipeline.name] {
                add(pipeline.file, document["name"], "name", "pipeline \"\(pipeline.name)\" is already declared in \(first)")
                continue
            }
            pipelineFiles[pipeline.name] = pipeline.file
            var seen: [String: Int] = [:]
            var refs: [String: String] = [:]
            for (index, stage) in pipeline.stages.enumerated() {
                let path = "stages[\(index)].environment"
                let node = document["stages"]?[index]?["environment"]
                let name = stage.environment
                guard let env = environments.first(where: { $0.0.name == name })?.0 else {
                    if environmentFileNames.contains(name) { continue }
                    let known = environments.map(\.0.name)
                    if let near = Spelling.closest(to: name, in: known) {
                        add(pipeline.file, node, path, "unknown environment \"\(name)\"; did you mean \"\(near)\"?")
                    } else if known.isEmpty {
                        add(pipeline.file, node, path, "unknown environment \"\(name)\"; Environments/ declares none")
                    } else {
                        add(pipeline.file, node, path, "unknown environment \"\(name)\"; declared: \(known.joined(separator: ", "))")
                    }
                    continue
                }
                if let earlier = seen[name] {
                    add(pipeline.file, node, path, "environment \"\(name)\" appears twice in this pipeline (also stages[\(earlier)])")
                    continue
                }
                seen[name] = index
                if let other = owner[name] {
                    add(pipeline.file, node, path, "environment \"\(name)\" already belongs to pipeline \"\(other.name)\" (\(other.file)); an environment can be in one pipeline only")
                    continue
                }
                owner[name] = pipeline
                if env.fullRef == "refs/heads/" + pipeline.repo.branch || env.ref == pipeline.repo.branch {
                    add(pipeline.file, node, path, "environment \"\(name)\" uses ref \"\(env.ref)\", which is this pipeline's source branch; promotions would move the branch itself")
                } else if let other = refs[env.fullRef] {
                    add(pipeline.file, node, path, "environments \"\(other)\" and \"\(name)\" both use ref \"\(env.ref)\"")
                }
                refs[env.fullRef] = name
            }
        }
        return issues
    }
}
