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
        var firstSet: [String: (value: String, by: EnvironmentConfig)] = [:]  // by "cluster|key"
        for (env, document) in environments {
            let context = env.cluster.context.map { "context \($0)" } ?? "the current context"
            for (key, value) in [("qps", env.cluster.qps?.formatted()), ("burst", env.cluster.burst.map(String.init))] {
                guard let value else { continue }
                let slot = env.cluster.sharingKey + "|" + key
                guard let first = firstSet[slot] else {
                    firstSet[slot] = (value, env)
                    continue
                }
                if first.value != value {
                    add(env.file, document["cluster"]?[key], "cluster." + key,
                        "\(value) differs from the \(first.value) environment \"\(first.by.name)\" (\(first.by.file)) sets for the same cluster (\(context)): "
                        + "the request budget is one per cluster; set it the same, or in one environment only")
                }
            }
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
