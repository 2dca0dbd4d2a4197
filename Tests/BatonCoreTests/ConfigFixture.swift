import BatonCore

/// A small valid configuration held in memory, and edits that break it one way at a time.
/// Line numbers in the tests' expected messages refer to these texts.
enum ConfigFixture {
    static let environments: [String: String] = [
        "Environments/dev.yaml": environment("dev"),
        "Environments/staging.yaml": environment("staging"),
        "Environments/production.yaml": environment("production"),
    ]

    static func environment(_ name: String) -> String {
        """
        apiVersion: baton/v1
        kind: Environment
        name: \(name)
        cluster:
          context: \(name)
        namespace: app
        source:
          path: apps/\(name)
        sync:
          interval: 30s
          prune: true

        """
    }

    static let pipelines: [String: String] = [
        "Pipelines/app.yaml": """
        apiVersion: baton/v1
        kind: Pipeline
        name: app
        repo:
          url: https://git.example.com/org/config.git
          branch: main
          poll: 15s
        stages:
          - environment: dev
            gates:
              - health: { soak: 30s }
          - environment: staging
            gates:
              - http: { url: "https://staging.example.com/healthz", expectStatus: 200 }
              - prometheus: { url: "http://prometheus:9090", query: "up", max: 0.05 }
          - environment: production
            promote: manual
            approval:
              required: 2
              approvers: [alice@example.com, bob@example.com]
            windows:
              - deny: { days: [sat, sun], timezone: Europe/Berlin }
        identity: unverified       # approvers without keys (tests of loading, not of signatures)

        """,
    ]

    enum Edit: Sendable {
        /// Replace the first occurrence of a text in a file (which must contain it).
        case replace(String, String, with: String)
        /// Set a file's whole content, adding the file if needed.
        case set(String, String)
        case setBytes(String, [UInt8])
        case remove(String)
    }

    /// The fixture's files with `edits` applied; nil when a `.replace` found nothing to
    /// replace (a broken test, not a broken configuration).
    static func files(_ edits: [Edit]) -> (environments: [ConfigFile], pipelines: [ConfigFile])? {
        var texts: [String: [UInt8]] = [:]
        for (path, text) in environments.merging(pipelines, uniquingKeysWith: { a, _ in a }) {
            texts[path] = Array(text.utf8)
        }
        for edit in edits {
            switch edit {
            case .replace(let path, let old, let new):
                guard let bytes = texts[path] else { return nil }
                let text = String(decoding: bytes, as: UTF8.self)
                guard let range = text.range(of: old) else { return nil }
                texts[path] = Array(text.replacingCharacters(in: range, with: new).utf8)
            case .set(let path, let text):
                texts[path] = Array(text.utf8)
            case .setBytes(let path, let bytes):
                texts[path] = bytes
            case .remove(let path):
                texts[path] = nil
            }
        }
        let sorted = texts.keys.sorted()
        let envs = sorted.filter { $0.hasPrefix("Environments/") }.map { ConfigFile(path: $0, bytes: texts[$0]!) }
        let pipes = sorted.filter { $0.hasPrefix("Pipelines/") }.map { ConfigFile(path: $0, bytes: texts[$0]!) }
        return (envs, pipes)
    }

    static let loader = ConfigLoader(variables: ["HOME": "/home/tester"])

    /// Loads the edited fixture; the issues' descriptions, or [] when it is valid.
    static func problems(_ edits: [Edit]) -> [String]? {
        guard let files = files(edits) else { return nil }
        do {
            _ = try loader.load(environments: files.environments, pipelines: files.pipelines,
                                baseDirectory: "/config")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }
}
