internal import CGit2
import Foundation

/// Every failure of GitStore: what kind it is, libgit2's own error class and message, and the
/// C function that reported it. Messages never carry credentials.
public struct GitStoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// No such repository, revision, path or ref.
        case notFound
        /// An abbreviated id or a name that matches more than one object.
        case ambiguous
        /// A ref that must not exist yet exists.
        case exists
        /// A compare-and-swap update found the ref at another commit than the caller expected.
        case refMoved
        /// The new commit does not descend from the ref's current one.
        case notFastForward
        /// The remote refused a ref update (non-fast-forward, or it moved meanwhile).
        case pushRejected
        /// The remote could not be reached or the transfer broke off.
        case network
        /// The remote refused the credentials, or asked for some and none were given.
        case authentication
        /// HEAD names a branch that has no commit yet (an empty repository).
        case unbornBranch
        /// An object in the repository is damaged.
        case corrupt
        /// The caller asked for something malformed (a bad ref name, a path outside the tree).
        case invalidInput
        case other
    }

    public var code: Code
    public var message: String
    /// The libgit2 function that failed, or GitStore's own operation for checks of ours.
    public var function: String
    /// libgit2's error class (`GIT_ERROR_NET`, …) or `none`.
    public var errorClass: String
    /// libgit2's return code (0 for checks of ours).
    public var returnCode: Int32

    public init(_ code: Code, _ message: String, function: String, errorClass: String = "none", returnCode: Int32 = 0) {
        self.code = code
        self.message = message
        self.function = function
        self.errorClass = errorClass
        self.returnCode = returnCode
    }

    public var description: String {
        "\(function): \(message)" + (errorClass == "none" ? "" : " (\(errorClass), code \(returnCode))")
    }

    /// The error libgit2 left for the last call on this thread, which returned `rc`.
    /// With `remote`, failures that are not clearly something else (a refused connection is
    /// an OS error to libgit2) count as network failures.
    static func last(_ rc: Int32, _ function: String, secrets: [String] = [], remote: Bool = false) -> GitStoreError {
        var message = "failed with code \(rc)"
        var klass: Int32 = 0
        if let error = git_error_last() {
            klass = error.pointee.klass
            if let text = error.pointee.message { message = String(cString: text) }
        }
        let className = klass >= 0 && Int(klass) < classNames.count ? classNames[Int(klass)] : "GIT_ERROR_\(klass)"
        var code = code(rc: rc, klass: klass, message: message)
        if remote && code == .other { code = .network }
        return GitStoreError(code, redact(message, secrets: secrets), function: function, errorClass: className, returnCode: rc)
    }

    private static func code(rc: Int32, klass: Int32, message: String) -> Code {
        switch rc {
        case GIT_ENOTFOUND.rawValue: return .notFound
        case GIT_EAMBIGUOUS.rawValue: return .ambiguous
        case GIT_EEXISTS.rawValue: return .exists
        case GIT_EMODIFIED.rawValue: return .refMoved
        case GIT_ENONFASTFORWARD.rawValue: return .notFastForward
        case GIT_EAUTH.rawValue: return .authentication
        case GIT_EUNBORNBRANCH.rawValue: return .unbornBranch
        case GIT_EINVALIDSPEC.rawValue: return .invalidInput
        case GIT_EMISMATCH.rawValue: return .corrupt
        default: break
        }
        switch UInt32(bitPattern: klass) {
        case GIT_ERROR_NET.rawValue, GIT_ERROR_SSL.rawValue, GIT_ERROR_SSH.rawValue, GIT_ERROR_HTTP.rawValue:
            return message.contains("authentication") ? .authentication : .network
        case GIT_ERROR_ZLIB.rawValue:
            return .corrupt
        case GIT_ERROR_ODB.rawValue, GIT_ERROR_OBJECT.rawValue:
            let lower = message.lowercased()
            return ["corrupt", "inflate", "truncated", "failed to parse", "invalid", "header"].contains { lower.contains($0) }
                ? .corrupt : .other
        default:
            return .other
        }
    }

    /// `text` with credentials removed: the user-info part of URLs and any given secret.
    static func redact(_ text: String, secrets: [String]) -> String {
        var text = text.replacingOccurrences(of: #"://[^/@\s]+@"#, with: "://", options: .regularExpression)
        for secret in secrets where !secret.isEmpty {
            text = text.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return text
    }

    private static let classNames = [
        "GIT_ERROR_NONE", "GIT_ERROR_NOMEMORY", "GIT_ERROR_OS", "GIT_ERROR_INVALID", "GIT_ERROR_REFERENCE",
        "GIT_ERROR_ZLIB", "GIT_ERROR_REPOSITORY", "GIT_ERROR_CONFIG", "GIT_ERROR_REGEX", "GIT_ERROR_ODB",
        "GIT_ERROR_INDEX", "GIT_ERROR_OBJECT", "GIT_ERROR_NET", "GIT_ERROR_TAG", "GIT_ERROR_TREE",
        "GIT_ERROR_INDEXER", "GIT_ERROR_SSL", "GIT_ERROR_SUBMODULE", "GIT_ERROR_THREAD", "GIT_ERROR_STASH",
        "GIT_ERROR_CHECKOUT", "GIT_ERROR_FETCHHEAD", "GIT_ERROR_MERGE", "GIT_ERROR_SSH", "GIT_ERROR_FILTER",
        "GIT_ERROR_REVERT", "GIT_ERROR_CALLBACK", "GIT_ERROR_CHERRYPICK", "GIT_ERROR_DESCRIBE", "GIT_ERROR_REBASE",
        "GIT_ERROR_FILESYSTEM", "GIT_ERROR_PATCH", "GIT_ERROR_WORKTREE", "GIT_ERROR_SHA", "GIT_ERROR_HTTP",
        "GIT_ERROR_INTERNAL",
    ]
}

/// Throws libgit2's last error when a call returned a negative code.
@inline(__always)
func check(_ rc: Int32, _ function: String, secrets: [String] = []) throws {
    if rc < 0 { throw GitStoreError.last(rc, function, secrets: secrets) }
}

/// `check` for calls that talk to a remote.
func checkRemote(_ rc: Int32, _ function: String, secrets: [String]) throws {
    if rc < 0 { throw GitStoreError.last(rc, function, secrets: secrets, remote: true) }
}
