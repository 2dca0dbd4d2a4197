import Foundation
import Yams

/// A configuration file's bytes and the name to report it under.
public struct ConfigFile: Sendable {
    /// As the user should see it: `Pipelines/guestbook.yaml`, or `config/Pipelines/…` when
    /// the configuration folder was given as `config`.
    public var path: String
    public var bytes: [UInt8]

    public init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    public init(path: String, text: String) {
        self.init(path: path, bytes: Array(text.utf8))
    }

    /// The file name without folder and extension: the name its object must have.
    var stem: String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }
}

/// Loads and validates `Environments/*.yaml` and `Pipelines/*.yaml`. Every problem in every
/// file is collected, so one run reports them all (`ConfigError`).
public struct ConfigLoader: Sendable {
    /// The process environment, for `~`, `$KUBECONFIG` and `${VAR}` in paths.
    public var variables: [String: String]

    public init(variables: [String: String] = ProcessInfo.processInfo.environment) {
        self.variables = variables
    }

    /// Reads the `Environments/` and `Pipelines/` folders under `directory` (`.yaml` and
    /// `.yml` files, hidden files skipped).
    public func load(directory: String) throws(ConfigError) -> BatonConfig {
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isFolder), isFolder.boolValue else {
            throw ConfigError(issues: [ConfigIssue(file: directory, position: nil, keyPath: "",
                                                   message: "no such folder")])
        }
        var issues: [ConfigIssue] = []
        func files(_ folder: String) -> [ConfigFile] {
            let path = directory == "." ? folder : (directory.hasSuffix("/") ? directory : directory + "/") + folder
            guard let names = try? fm.contentsOfDirectory(atPath: path) else { return [] }
            return names.sorted()
                .filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }
                .compactMap { name in
                    let file = path + "/" + name
                    guard let data = fm.contents(atPath: file) else {
                        issues.append(ConfigIssue(file: file, position: nil, keyPath: "", message: "cannot read the file"))
                        return nil
                    }
                    return ConfigFile(path: file, bytes: Array(data))
                }
        }
        let environments = files("Environments"), pipelines = files("Pipelines")
        let instancePath = (directory == "." ? "" : (directory.hasSuffix("/") ? directory : directory + "/")) + "instance.yaml"
        let instance = fm.contents(atPath: instancePath).map { ConfigFile(path: instancePath, bytes: Array($0)) }
        if environments.isEmpty && pipelines.isEmpty && issues.isEmpty {
            issues.append(ConfigIssue(file: directory, position: nil, keyPath: "",
                                      message: "no configuration here: expected Environments/*.yaml and Pipelines/*.yaml"))
        }
        let base = URL(fileURLWithPath: directory).standardizedFileURL.path
        let config: BatonConfig
        do {
            config = try load(environments: environments, pipelines: pipelines, instance: instance, baseDirectory: base,
                              displayDirectory: directory)
        } catch {
            throw ConfigError(issues: issues + error.issues)
        }
        guard issues.isEmpty else { throw ConfigError(issues: issues) }
        return config
    }

    /// Validates files already in memory; `baseDirectory` is where relative paths resolve.
    public func load(environments: [ConfigFile], pipelines: [ConfigFile], instance: ConfigFile? = nil, baseDirectory: String,
                     displayDirectory: String = ".") throws(ConfigError) -> BatonConfig {
        var issues: [ConfigIssue] = []
        var instanceName: String?
        if let instance {
            decode(instance, base: baseDirectory, into: &issues) { root, _ in instanceName = Self.instanceName(root) }
        }
        var envs: [(EnvironmentConfig, document: Node)] = []
        var pipes: [(PipelineConfig, document: Node)] = []

        for file in environments {
            decode(file, base: baseDirectory, into: &issues) { root, context in
                if let env = EnvironmentConfig.decode(root, context) {
                    envs.append((env, root.node))
                }
            }
        }
        for file in pipelines {
            decode(file, base: baseDirectory, into: &issues) { root, context in
                if let pipeline = PipelineConfig.decode(root, context) {
                    pipes.append((pipeline, root.node))
                }
            }
        }
        issues += CrossCheck(environments: envs, pipelines: pipes,
                             environmentFileNames: Set(environments.map(\.stem))).issues()
        guard issues.isEmpty else { throw ConfigError(issues: issues) }
        return BatonConfig(directory: displayDirectory, environments: envs.map(\.0), pipelines: pipes.map(\.0), instance: instanceName)
    }

    /// `instance.yaml`: `apiVersion: baton/v1`, `kind: Instance`, `name: NAME` (a DNS label).
    static func instanceName(_ root: ValueReader) -> String? {
        guard let fields = root.mapping(keys: ["apiVersion", "kind", "name"]) else { return nil }
        if let version = fields.required("apiVersion"), let text = version.string(), text != "baton/v1" {
            version.fail("expected \"baton/v1\", got \(ValueReader.quote(text))")
        }
        if let kind = fields.required("kind"), let text = kind.string(), text != "Instance" {
            kind.fail("expected \"Instance\" (instance.yaml names this install), got \(ValueReader.quote(text))")
        }
        guard let value = fields.required("name"), let name = value.string() else { return nil }
        guard Names.isDNSLabel(name) else {
            value.fail("\(ValueReader.quote(name)) is not a valid name: use 1 to 63 lowercase letters, digits and \"-\", starting and ending with a letter or digit")
            return nil
        }
        return name
    }

    private func decode(_ file: ConfigFile, base: String, into issues: inout [ConfigIssue],
                        _ body: (ValueReader, LoadContext) -> Void) {
        switch YAMLSource.document(bytes: file.bytes, file: file.path) {
        case .failure(let issue):
            issues.append(issue)
        case .success(let root):
            let log = IssueLog(file: file.path)
            let context = LoadContext(log: log, fileStem: file.stem, variables: variables, baseDirectory: base)
            body(ValueReader(node: root, path: ConfigPath(), log: log), context)
            issues += log.issues
        }
    }
}
