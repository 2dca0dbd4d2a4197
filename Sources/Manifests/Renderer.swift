import BatonCore
import Foundation
import Synchronization
import GitStore
import Yams

/// Renders an environment's `source.path` at a revision into manifests: plain YAML straight
/// from git's object database, or Kustomize on the commit's tree written out once.
public struct Renderer: Sendable {
    public let store: GitStore
    /// Where Kustomize trees are written (one folder per commit, reused).
    public let cacheRoot: String
    public let kubectl: String

    public init(store: GitStore, cacheRoot: String, kubectl: String = "kubectl") {
        self.store = store
        self.cacheRoot = cacheRoot
        self.kubectl = kubectl
    }

    public static let kustomizationFiles = ["kustomization.yaml", "kustomization.yml", "Kustomization"]

    /// The manifests under `path` at `revision`. Every object has `apiVersion`, `kind` and
    /// `metadata.name`; `List`s are flattened and empty documents skipped.
    ///
    /// Kustomize may fetch remote bases (`resources: [github.com/org/repo//base?ref=v1]`) at
    /// render time, so that the commit approved does not fix what is deployed and the host
    /// fetches any URL: unless `allowRemoteBases`, every `resources`, `bases` and `components`
    /// entry must be a file or folder of the revision, and Kustomize runs with git limited to
    /// local files and HTTP sent to a dead proxy.
    ///
    /// `limits` bounds what a revision may hold (file and revision bytes, objects, YAML nodes):
    /// beyond them it fails, naming the file and the limit, before more is read.
    public func render(revision: String, path: String, mode: RenderMode, allowRemoteBases: Bool = false,
                       limits: SourceLimits = SourceLimits()) async throws(RenderError) -> [Manifest] {
        let manifests = try await renderUnchecked(revision: revision, path: path, mode: mode, allowRemoteBases: allowRemoteBases, limits: limits)
        if manifests.count > limits.objects {
            throw RenderError(file: path.isEmpty ? "." : path, revision: revision,
                              message: "renders \(manifests.count) objects, more than source.limits.objects (\(limits.objects)); refused")
        }
        return manifests
    }

    private func renderUnchecked(revision: String, path: String, mode: RenderMode, allowRemoteBases: Bool,
                                 limits: SourceLimits) async throws(RenderError) -> [Manifest] {
        let clean = path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        let entries: [TreeEntry]
        do {
            entries = try await store.files(at: revision, under: clean)
        } catch {
            throw RenderError(file: clean.isEmpty ? "." : clean, revision: revision, message: "cannot read the path: \(error)")
        }
        let kustomization = entries.first { entry in
            Self.kustomizationFiles.contains { entry.path == (clean.isEmpty ? $0 : clean + "/" + $0) }
        }
        switch mode {
        case .kustomize:
            guard kustomization != nil else {
                throw RenderError(file: clean, revision: revision, message: "render is kustomize but there is no kustomization.yaml")
            }
            return try await kustomize(revision: revision, path: clean, allowRemoteBases: allowRemoteBases, limits: limits)
        case .auto where kustomization != nil:
            return try await kustomize(revision: revision, path: clean, allowRemoteBases: allowRemoteBases, limits: limits)
        case .auto, .plain:
            return try await plain(revision: revision, path: clean, limits: limits)
        }
    }

    private func plain(revision: String, path: String, limits: SourceLimits) async throws(RenderError) -> [Manifest] {
        let wanted: @Sendable (TreeEntry) -> Bool = { entry in [".yaml", ".yml", ".json"].contains { entry.path.lowercased().hasSuffix($0) } }
        // Sizes come from the object headers: a file too large is refused before it is read.
        let sizes: [(entry: TreeEntry, size: Int)]
        do {
            sizes = try await store.fileSizes(at: revision, under: path, where: wanted)
        } catch {
            throw RenderError(file: path, revision: revision, message: "cannot read the files: \(error)")
        }
        var total = 0
        for (entry, size) in sizes {
            if size > limits.fileBytes {
                throw RenderError(file: entry.path, revision: revision,
                                  message: "\(size) bytes, more than source.limits.fileBytes (\(limits.fileBytes)); refused")
            }
            total += size
            if total > limits.revisionBytes {
                throw RenderError(file: path.isEmpty ? "." : path, revision: revision,
                                  message: "more than source.limits.revisionBytes (\(limits.revisionBytes)) of manifests; refused")
            }
        }
        let files: [(entry: TreeEntry, bytes: [UInt8])]
        do {
            files = try await store.readFiles(at: revision, under: path, where: wanted)
        } catch {
            throw RenderError(file: path, revision: revision, message: "cannot read the files: \(error)")
        }
        // Parsing is most of the work: spread the files over the machine's cores, keep their order.
        let sorted = files.sorted { $0.entry.path < $1.entry.path }
        let budget = NodeBudget(limits.revisionNodes)
        let lanes = max(1, min(ProcessInfo.processInfo.activeProcessorCount, sorted.count / 50))
        // Lane L parses files L, L+lanes, …; each result keeps its file's index.
        let parsed = await withTaskGroup(of: [(Int, Result<[Manifest], RenderError>)].self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    stride(from: lane, to: sorted.count, by: lanes).map { index in
                        do throws(RenderError) {
                            let text = try Self.text(sorted[index].bytes, file: sorted[index].entry.path, revision: revision)
                            return (index, .success(try Self.documents(text, file: sorted[index].entry.path, revision: revision, budget: budget,
                                                                       limits: limits)))
                        } catch {
                            return (index, .failure(error))
                        }
                    }
                }
            }
            var byIndex = [Result<[Manifest], RenderError>](repeating: .success([]), count: sorted.count)
            for await results in group { for (index, result) in results { byIndex[index] = result } }
            return byIndex
        }
        // In path order; the first file that does not parse is the error.
        var manifests: [Manifest] = []
        for result in parsed { manifests += try result.get() }
        return manifests
    }

    private func kustomize(revision: String, path: String, allowRemoteBases: Bool, limits: SourceLimits) async throws(RenderError) -> [Manifest] {
        let folder: String
        do {
            // The whole tree: overlays refer to bases elsewhere in it (../../base).
            folder = try await store.materialize(revision, into: cacheRoot)
        } catch {
            throw RenderError(file: path, revision: revision, message: "cannot write the tree for Kustomize: \(error)")
        }
        let target = path.isEmpty ? folder : folder + "/" + path
        var environment: [String: String]?
        if !allowRemoteBases {
            try Self.refuseRemoteBases(in: folder, revision: revision)
            // And should one get past the check: git may use local files only, HTTP goes nowhere.
            var confined = ProcessInfo.processInfo.environment
            confined["GIT_ALLOW_PROTOCOL"] = "file"
            for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"] { confined[name] = "http://127.0.0.1:9" }
            for name in ["NO_PROXY", "no_proxy"] { confined[name] = nil }
            environment = confined
        }
        let result: (status: Int32, output: Data, errors: Data)
        do {
            result = try await Subprocess.run(kubectl, ["kustomize", target], environment: environment, timeout: .seconds(120))
        } catch {
            throw RenderError(file: path, revision: revision, message: "cannot run \(kubectl) kustomize: \(error)")
        }
        guard result.status == 0 else {
            let said = String(decoding: result.errors, as: UTF8.self).replacingOccurrences(of: folder + "/", with: "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw RenderError(file: path, revision: revision, message: "kustomize failed: \(said)")
        }
        if result.output.count > limits.revisionBytes {
            throw RenderError(file: "kustomize " + (path.isEmpty ? "." : path), revision: revision,
                              message: "\(result.output.count) bytes of output, more than source.limits.revisionBytes (\(limits.revisionBytes)); refused")
        }
        // Kustomize's output is one stream: the file and revision limits on nodes are one here.
        return try Self.documents(String(decoding: result.output, as: UTF8.self), file: "kustomize " + (path.isEmpty ? "." : path),
                                  revision: revision, budget: NodeBudget(limits.revisionNodes),
                                  limits: SourceLimits(fileBytes: limits.fileBytes, revisionBytes: limits.revisionBytes, objects: limits.objects,
                                                       fileNodes: limits.revisionNodes, revisionNodes: limits.revisionNodes))
    }

    /// Fails when a kustomization in the tree at `folder` lists, under `resources`, `bases` or
    /// `components`, something that is not a file or folder of the tree (a URL, a git
    /// reference, a path that leaves the tree).
    static func refuseRemoteBases(in folder: String, revision: String) throws(RenderError) {
        let fm = FileManager.default
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path
        guard let walker = fm.enumerator(atPath: root) else { return }
        while let relative = walker.nextObject() as? String {
            guard kustomizationFiles.contains((relative as NSString).lastPathComponent) else { continue }
            guard let data = fm.contents(atPath: root + "/" + relative), let text = String(data: data, encoding: .utf8),
                  let node = try? Yams.compose(yaml: text) else { continue }  // kustomize reports what it cannot read
            var budget = 100_000
            guard let value = try? JSONValue(yaml: node, budget: &budget) else { continue }
            let base = (root + "/" + relative as NSString).deletingLastPathComponent
            for key in ["resources", "bases", "components"] {
                for entry in value[key]?.array ?? [] {
                    guard let reference = entry.string else { continue }
                    let resolved = URL(fileURLWithPath: base + "/" + reference).standardizedFileURL.path
                    let inside = resolved == root || resolved.hasPrefix(root + "/")
                    // Kustomize's remote forms: a URL, scp-like git, a host path with `//` or `?ref=`.
                    let remote = reference.contains("://") || reference.hasPrefix("git@") || reference.contains("?ref=")
                        || reference.contains(".git") || (reference.contains("//") && !fm.fileExists(atPath: resolved))
                        || reference.split(separator: "/").first.map { $0.contains(".") && !$0.hasPrefix(".") && !fm.fileExists(atPath: resolved) } == true
                    // A plain path of the tree that does not exist is Kustomize's to report.
                    if remote || !inside {
                        throw RenderError(file: relative, revision: revision,
                                          message: "\(key) entry \"\(reference)\" is not a file or folder of the revision: remote bases "
                                              + "are refused, so that the commit approved is what is deployed (set source.allowRemoteBases: true "
                                              + "to let Kustomize fetch it)")
                    }
                }
            }
        }
    }

    /// A file's bytes as text; bytes that are not UTF-8 fail the revision with the line they
    /// are on (decoding them would quietly put U+FFFD in the object).
    static func text(_ bytes: [UInt8], file: String, revision: String) throws(RenderError) -> String {
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var iterator = bytes.makeIterator(), decoder = UTF8(), valid = 0
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): valid += UTF8.width(scalar)
            case .emptyInput, .error: break decoding
            }
        }
        let line = bytes[..<valid].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        throw RenderError(file: file, line: line, revision: revision, message: "not valid UTF-8 (byte \(valid + 1) of the file)")
    }

    /// Every object in a YAML stream: each document's start line is its source. `budget` is
    /// what the revision may still expand to, in YAML nodes (`limits.fileNodes` for one file);
    /// it is charged with this file's nodes.
    static func documents(_ text: String, file: String, revision: String, budget: NodeBudget? = nil,
                          limits: SourceLimits = SourceLimits()) throws(RenderError) -> [Manifest] {
        let budget = budget ?? NodeBudget(limits.revisionNodes)
        var manifests: [Manifest] = []
        var left = min(limits.fileNodes, budget.remaining)
        let allowed = left
        defer { budget.charge(allowed - max(left, 0)) }
        do {
            let parser = try Parser(yaml: text, resolver: .basic, encoding: .utf8)
            while let node = try parser.nextRoot() {
                let line = node.mark?.line ?? 1
                let source = "\(file):\(line)"
                let value: JSONValue
                do {
                    value = try JSONValue(yaml: node, budget: &left)
                } catch JSONValueError.tooManyNodes {
                    throw RenderError(file: file, line: line, revision: revision,
                                      message: allowed < limits.fileNodes
                                          ? "the revision expands to more than \(limits.revisionNodes) YAML nodes (YAML aliases?), "
                                              + "source.limits.revisionNodes; refused"
                                          : "the file expands to more than \(limits.fileNodes) YAML nodes (YAML aliases?), source.limits.fileNodes; refused")
                } catch JSONValueError.numberOutOfRange(let text, let at) {
                    throw RenderError(file: file, line: at ?? line, revision: revision, message: "the number \(text) is out of range")
                } catch {
                    throw RenderError(file: file, line: line, revision: revision, message: "\(error)")
                }
                if value == .null { continue }
                manifests += try objects(in: value, file: file, line: line, revision: revision).map { Manifest(object: $0, source: source) }
            }
        } catch let error as RenderError {
            throw error
        } catch let error as YamlError {
            throw Self.renderError(error, file: file, revision: revision)
        } catch {
            throw RenderError(file: file, revision: revision, message: "\(error)")
        }
        return manifests
    }

    /// The objects a document holds: itself, or the items of a `List`. Each must have
    /// `apiVersion`, `kind` and `metadata.name`.
    static func objects(in value: JSONValue, file: String, line: Int, revision: String) throws(RenderError) -> [JSONValue] {
        func fail(_ message: String) -> RenderError { RenderError(file: file, line: line, revision: revision, message: message) }
        guard case .object = value else { throw fail("a document must be a mapping (an object), not \(value.kindName)") }
        let kind = value["kind"]?.string ?? ""
        if kind.hasSuffix("List"), let items = value["items"]?.array {
            var out: [JSONValue] = []
            for (index, item) in items.enumerated() {
                do {
                    out += try objects(in: item, file: file, line: line, revision: revision)
                } catch {
                    throw fail("items[\(index)]: \(error.message)")
                }
            }
            return out
        }
        guard let apiVersion = value["apiVersion"]?.string, !apiVersion.isEmpty else { throw fail("apiVersion is missing") }
        guard !kind.isEmpty else { throw fail("kind is missing") }
        guard let name = value[path: ["metadata", "name"]]?.string, !name.isEmpty else {
            if value[path: ["metadata", "generateName"]] != nil { throw fail("\(kind): generateName is not supported; give metadata.name") }
            throw fail("\(kind): metadata.name is missing")
        }
        return [value]
    }

    static func renderError(_ error: YamlError, file: String, revision: String) -> RenderError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return RenderError(file: file, line: mark.line, revision: revision, message: "invalid YAML: \(text) (column \(mark.column))")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return RenderError(file: file, line: context.mark.line, revision: revision,
                               message: "invalid YAML: duplicate keys \(duplicates.joined(separator: ", "))")
        default:
            return RenderError(file: file, revision: revision, message: "invalid YAML: \(error)")
        }
    }
}

extension JSONValue {
    /// "a string", "a list", … for messages.
    var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}

/// What one revision's files may still expand to, in YAML nodes, shared by the lanes that
/// parse them.
final class NodeBudget: Sendable {
    private let left: Mutex<Int>

    init(_ nodes: Int) { left = Mutex(nodes) }

    var remaining: Int { left.withLock { $0 } }

    func charge(_ nodes: Int) {
        left.withLock { $0 -= nodes }
    }
}
