/// Every environment and pipeline of one configuration folder, validated together.
public struct BatonConfig: Sendable, Hashable, Codable {
    /// The folder the configuration was loaded from, as the user named it.
    public var directory: String
    /// Sorted by name.
    public var environments: [EnvironmentConfig]
    /// Sorted by name.
    public var pipelines: [PipelineConfig]

    public init(directory: String, environments: [EnvironmentConfig], pipelines: [PipelineConfig]) {
        self.directory = directory
        self.environments = environments.sorted { $0.name < $1.name }
        self.pipelines = pipelines.sorted { $0.name < $1.name }
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
