/// Every environment and pipeline of one configuration folder, validated together.
public struct BatonConfig: Sendable, Hashable, Codable {
    /// The folder the configuration was loaded from, as the user named it.
    public var directory: String
    /// Sorted by name.
    public var environments: [EnvironmentConfig]
    /// Sorted by name.
    public var pipelines: [PipelineConfig]
    /// This install's name (`instance.yaml`), when it has one: part of every tracking
    /// annotation, so that two installs never take each other's objects for their own.
    public var instance: String?

    public init(directory: String, environments: [EnvironmentConfig], pipelines: [PipelineConfig], instance: String? = nil) {
        self.directory = directory
        self.environments = environments.sorted { $0.name < $1.name }.map { environment in
            var environment = environment
            environment.instance = instance
            return environment
        }
        self.pipelines = pipelines.sorted { $0.name < $1.name }
        self.instance = instance
    }

    public func environment(named name: String) -> EnvironmentConfig? {
        environments.first { $0.name == name }
    }

    public func pipeline(named name: String) -> PipelineConfig? {
        pipelines.first { $0.name == name }
    }

    /// The pipeline whose stages include `environment`.
    public func pipeline(containing environment: String) -> PipelineConfig? {
        pipelines.first { $0.chain.contains(environment) }
    }
}
