import Foundation
import Yams

/// A kubeconfig as users have them: one or several files (`KUBECONFIG=a:b`, merged, the first
/// file that names a thing wins), with clusters, users, contexts and `current-context`.
public struct Kubeconfig: Sendable, Equatable {
    public struct Cluster: Sendable, Equatable {
        public var server: String
        /// The CA: inline PEM from `certificate-authority-data`, or the `certificate-authority`
        /// file (made absolute), read when a context using it is resolved.
        public var certificateAuthority: PEMSource?
        public var insecureSkipTLSVerify = false
        public var tlsServerName: String?
    }

    public struct ExecPlugin: Sendable, Equatable {
        public var apiVersion: String
        public var command: String
        public var args: [String]
        public var env: [String: String]
        public var installHint: String?

        public init(apiVersion: String, command: String, args: [String], env: [String: String], installHint: String?) {
            self.apiVersion = apiVersion
            self.command = command
            self.args = args
            self.env = env
            self.installHint = installHint
        }
    }

    public struct User: Sendable, Equatable {
        public var token: String?
        public var tokenFile: String?
        /// Inline PEM from `-data`, or a file read when a context using it is resolved.
        public var clientCertificate: PEMSource?
        public var clientKey: PEMSource?
        public var username: String?
        public var password: String?
        public var exec: ExecPlugin?
    }

    public struct Context: Sendable, Equatable {
        public var cluster: String
        public var user: String
        public var namespace: String?
    }

    public var clusters: [String: Cluster] = [:]
    public var users: [String: User] = [:]
    public var contexts: [String: Context] = [:]
    public var currentContext: String?
    /// Which file each cluster, user and context came from, for error messages.
    var origins: [String: String] = [:]
    /// The files read, in order.
    public var files: [String] = []

    public init() {}

    /// Reads and merges `paths` (missing files are skipped, as kubectl skips them; none found
    /// is an error).
    public static func load(paths: [String]) throws(KubeconfigError) -> Kubeconfig {
        var merged = Kubeconfig()
        for path in paths where FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubeconfigError(file: path, message: "cannot read the file")
            }
            try merged.merge(KubeconfigFile.parse(data, file: path), from: path)
        }
        guard !merged.files.isEmpty else {
            throw KubeconfigError(file: paths.joined(separator: ":"), message: "no kubeconfig file found")
        }
        return merged
    }

    /// Adds what `other` names and this config does not yet (the first file wins).
    mutating func merge(_ other: Kubeconfig, from file: String) {
        files.append(file)
        for (name, cluster) in other.clusters where clusters[name] == nil {
            clusters[name] = cluster
            origins["cluster/" + name] = file
        }
        for (name, user) in other.users where users[name] == nil {
            users[name] = user
            origins["user/" + name] = file
        }
        for (name, context) in other.contexts where contexts[name] == nil {
            contexts[name] = context
            origins["context/" + name] = file
        }
        if currentContext == nil || currentContext?.isEmpty == true { currentContext = other.currentContext }
    }

    /// What one context resolves to: the cluster, the user and the namespace to use, with
    /// every certificate file read into memory.
    public struct Resolved: Sendable, Equatable {
        public var contextName: String
        public var cluster: Cluster
        public var user: User
        /// The context's namespace; nil when it names none.
        public var namespace: String?
        /// The user's name in the kubeconfig, for messages.
        public var userName: String = ""
        /// Whether the credential is a pod's service account (in-cluster configuration).
        public var serviceAccount = false
    }

    /// Resolves `context` (the current context when nil). Errors name the file and what is
    /// missing.
    public func resolve(context name: String? = nil) throws(KubeconfigError) -> Resolved {
        let fileList = files.joined(separator: ":")
        guard let contextName = name ?? currentContext, !contextName.isEmpty else {
            throw KubeconfigError(file: fileList, message: "no context given and no current-context set")
        }
        guard let context = contexts[contextName] else {
            let known = contexts.keys.sorted().joined(separator: ", ")
            throw KubeconfigError(file: fileList, message: "context \"\(contextName)\" not found (contexts: \(known.isEmpty ? "none" : known))")
        }
        let origin = origins["context/" + contextName] ?? fileList
        guard let cluster = clusters[context.cluster] else {
            throw KubeconfigError(file: origin, message: "context \"\(contextName)\" names cluster \"\(context.cluster)\", which is not defined")
        }
        guard var user = users[context.user] else {
            throw KubeconfigError(file: origin, message: "context \"\(contextName)\" names user \"\(context.user)\", which is not defined")
        }
        var resolvedCluster = cluster
        let clusterFile = origins["cluster/" + context.cluster] ?? origin, userFile = origins["user/" + context.user] ?? origin
        resolvedCluster.certificateAuthority = try cluster.certificateAuthority?.loaded(file: clusterFile,
                                                                                       what: "cluster \"\(context.cluster)\": certificate-authority")
        user.clientCertificate = try user.clientCertificate?.loaded(file: userFile, what: "user \"\(context.user)\": client-certificate")
        user.clientKey = try user.clientKey?.loaded(file: userFile, what: "user \"\(context.user)\": client-key")
        return Resolved(contextName: contextName, cluster: resolvedCluster, user: user, namespace: context.namespace,
                        userName: context.user)
    }
}

/// PEM material given inline or as a file.
public enum PEMSource: Sendable, Equatable {
    case data(Data)
    case file(String)

    /// The bytes, reading the file now; an unreadable file names the kubeconfig and the path.
    public var data: Data? {
        if case .data(let data) = self { return data }
        return nil
    }

    func loaded(file: String, what: String) throws(KubeconfigError) -> PEMSource {
        guard case .file(let path) = self else { return self }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KubeconfigError(file: file, message: "\(what) file \(path) cannot be read")
        }
        return .data(data)
    }
}

/// A kubeconfig problem, naming the file.
public struct KubeconfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
