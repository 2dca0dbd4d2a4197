import BatonCore
import Foundation

/// Makes rendered manifests ready to apply to one environment: the environment's namespace
/// for namespaced kinds that name none, no namespace on cluster-scoped kinds, Baton's
/// ownership labels and the revision annotation (DESIGN.md §6). Duplicates are errors.
public struct Normalizer: Sendable {
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedByValue = "baton"
    public static let environmentLabel = "baton.dev/environment"
    public static let revisionAnnotation = "baton.dev/revision"
    /// A hash of what Baton applies (without the revision annotation): when it differs from
    /// the live object's, the revision changed the object, removed fields included.
    public static let contentHashAnnotation = "baton.dev/content-hash"
    public static let syncWaveAnnotation = "baton.dev/sync-wave"
    /// Names the environment and the object itself (`ENV:GROUP/KIND:NAMESPACE/NAME`): an object
    /// is Baton's to prune only when this names it. Controllers copy labels and sometimes
    /// annotations (a ReplicaSet carries its Deployment's), so the name must match too.
    public static let trackingAnnotation = "baton.dev/tracking-id"
    /// On a live object: Baton may take it over (its owner says so; a manifest cannot).
    public static let adoptAnnotation = "baton.dev/adopt"
    /// `baton.dev/sync-options: Replace=true` lets Baton delete and recreate an object whose
    /// change the server refuses as immutable.
    public static let syncOptionsAnnotation = "baton.dev/sync-options"

    /// The install's name on every object it applies (when the install has one): it narrows
    /// what the watches bring; ownership is the tracking annotation's.
    public static let instanceLabel = "baton.dev/instance"

    /// The tracking annotation's value for `key` in `environment` of install `instance`:
    /// `[INSTANCE/]ENV:GROUP/KIND:NAMESPACE/NAME`.
    public static func trackingID(instance: String? = nil, environment: String, key: ResourceKey) -> String {
        (instance.map { $0 + "/" } ?? "") + "\(environment):\(key.group)/\(key.kind):\(key.namespace)/\(key.name)"
    }

    /// What the watch-fed cache lists and watches: Baton's objects of this install (of an
    /// install without a name: those without an instance label).
    public static func cacheSelector(instance: String?) -> String {
        "\(managedByLabel)=\(managedByValue)," + (instance.map { "\(instanceLabel)=\($0)" } ?? "!\(instanceLabel)")
    }

    public let instance: String?
    public let environment: String
    public let namespace: String
    public let revision: String

    public init(instance: String? = nil, environment: String, namespace: String, revision: String) {
        self.instance = instance
        self.environment = environment
        self.namespace = namespace
        self.revision = revision
    }

    /// The label selector that finds what this environment owns.
    public static func ownershipSelector(environment: String) -> String {
        "\(managedByLabel)=\(managedByValue),\(environmentLabel)=\(environment)"
    }

    /// `namespaced(apiVersion, kind)` says whether the cluster serves the kind namespaced
    /// (nil when it does not serve it); kinds defined by a CRD among the manifests are
    /// answered from the CRD's `scope`.
    public func normalize(_ manifests: [Manifest],
                          namespaced: (String, String) async throws -> Bool?) async throws(RenderError) -> [Manifest] {
        var crdScopes: [String: Bool] = [:]
        for manifest in manifests where manifest.kind == "CustomResourceDefinition" {
            let spec = manifest.object["spec"]
            guard let group = spec?["group"]?.string, let kind = spec?[path: ["names", "kind"]]?.string else { continue }
            for version in spec?["versions"]?.array ?? [] {
                if let name = version["name"]?.string { crdScopes["\(group)/\(name)|\(kind)"] = spec?["scope"]?.string == "Namespaced" }
            }
        }
        var out: [Manifest] = []
        var seen: [ResourceKey: String] = [:]
        for var manifest in manifests {
            let (file, line) = Self.split(manifest.source)
            func fail(_ message: String) -> RenderError { RenderError(file: file, line: line, revision: revision, message: message) }
            let isNamespaced: Bool
            if let known = crdScopes["\(manifest.apiVersion)|\(manifest.kind)"] {
                isNamespaced = known
            } else {
                let answer: Bool?
                do {
                    answer = try await namespaced(manifest.apiVersion, manifest.kind)
                } catch {
                    throw fail("\(manifest.kind) \(manifest.name): cannot tell whether it is namespaced: \(error)")
                }
                guard let answer else {
                    throw fail("\(manifest.kind) \(manifest.name): the cluster does not serve kind \(manifest.kind) in \(manifest.apiVersion)")
                }
                isNamespaced = answer
            }
            if isNamespaced {
                if manifest.namespace.isEmpty { manifest.object[path: ["metadata", "namespace"]] = .string(namespace) }
            } else {
                manifest.object[path: ["metadata", "namespace"]] = nil
            }
            Self.foldStringData(&manifest.object)
            var labels = manifest.object[path: ["metadata", "labels"]]?.object ?? [:]
            labels[Self.managedByLabel] = .string(Self.managedByValue)
            labels[Self.environmentLabel] = .string(environment)
            labels[Self.instanceLabel] = instance.map { .string($0) }
            manifest.object[path: ["metadata", "labels"]] = .object(labels)
            var annotations = manifest.object[path: ["metadata", "annotations"]]?.object ?? [:]
            annotations[Self.contentHashAnnotation] = nil
            annotations[Self.revisionAnnotation] = nil
            annotations[Self.trackingAnnotation] = .string(Self.trackingID(instance: instance, environment: environment, key: manifest.key))
            manifest.object[path: ["metadata", "annotations"]] = .object(annotations)
            annotations[Self.contentHashAnnotation] = .string(Self.hash(manifest.object))
            annotations[Self.revisionAnnotation] = .string(revision)
            manifest.object[path: ["metadata", "annotations"]] = .object(annotations)
            if let earlier = seen[manifest.key] {
                throw fail("\(manifest.key) is also defined at \(earlier)")
            }
            seen[manifest.key] = manifest.source
            out.append(manifest)
        }
        return out
    }

    /// A Secret's `stringData` moved into `data` (base64), as the server stores it. Applied as
    /// `stringData`, a key later removed from git would stay in `data` for ever: server-side
    /// apply owns the `stringData` field, which the server never stores.
    static func foldStringData(_ object: inout JSONValue) {
        guard object["kind"]?.string == "Secret", object["apiVersion"]?.string == "v1",
              let strings = object["stringData"]?.object else { return }
        var data = object["data"]?.object ?? [:]
        for (key, value) in strings { data[key] = .string(Data((value.string ?? "").utf8).base64EncodedString()) }
        object["data"] = .object(data)
        object["stringData"] = nil
    }

    /// FNV-1a (64 bits) of the object's canonical JSON (keys sorted), as 16 hex digits.
    public static func hash(_ object: JSONValue) -> String {
        let hex = String(FNV1a.hash(object.encoded()), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func split(_ source: String) -> (String, Int?) {
        guard let colon = source.lastIndex(of: ":"), let line = Int(source[source.index(after: colon)...]) else { return (source, nil) }
        return (String(source[..<colon]), line)
    }
}
