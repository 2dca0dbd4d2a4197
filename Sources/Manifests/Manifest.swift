import BatonCore
import Foundation

/// One desired object as rendered from the config repository, with where it came from.
public struct Manifest: Sendable, Hashable {
    public var object: JSONValue
    /// `PATH:LINE` of the document at the revision (or `kustomize PATH` for rendered output).
    public var source: String

    public init(object: JSONValue, source: String) {
        self.object = object
        self.source = source
    }

    public var apiVersion: String { object["apiVersion"]?.string ?? "" }
    public var kind: String { object["kind"]?.string ?? "" }
    public var name: String { object[path: ["metadata", "name"]]?.string ?? "" }
    public var namespace: String { object[path: ["metadata", "namespace"]]?.string ?? "" }

    public var key: ResourceKey {
        ResourceKey(group: ResourceKey.group(ofAPIVersion: apiVersion), kind: kind, namespace: namespace, name: name)
    }
}

/// Why a revision cannot be rendered for an environment. Nothing is applied then.
public struct RenderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file in the repository (or the kustomization folder).
    public var file: String
    /// 1-based; nil when the problem has no line (a Kustomize failure).
    public var line: Int?
    public var revision: String
    public var message: String

    public init(file: String, line: Int? = nil, revision: String, message: String) {
        self.file = file
        self.line = line
        self.revision = revision
        self.message = message
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? "") at \(String(revision.prefix(8))): \(message)"
    }
}
