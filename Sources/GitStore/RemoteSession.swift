internal import CGit2
import Foundation
import Spawn

/// What libgit2's remote callbacks need during one clone, fetch or push: the caller's
/// credentials and what the remote said about each pushed ref. Passed to the C callbacks
/// through their payload pointer (the callbacks capture nothing).
final class RemoteSession {
    let credentials: GitCredentials?
    private(set) var credentialRequests = 0
    /// Refs the remote refused to update, with its reason.
    var rejections: [(ref: String, reason: String)] = []

    init(credentials: GitCredentials?) {
        self.credentials = credentials
    }

    /// Passwords git's credential helpers gave during this session.
    private var obtained: [String] = []

    var secrets: [String] { (credentials?.secrets ?? []) + obtained }

    /// Fills in `callbacks` so that they reach this session. The session must stay alive
    /// (see `withCallbacks`) while libgit2 may call them.
    func install(into callbacks: inout git_remote_callbacks, payload: UnsafeMutableRawPointer) {
        callbacks.payload = payload
        callbacks.credentials = { out, url, usernameFromURL, allowed, payload in
            guard let payload, let out else { return -1 }
            let session = Unmanaged<RemoteSession>.fromOpaque(payload).takeUnretainedValue()
            return session.acquire(out, url.map { String(cString: $0) } ?? "", usernameFromURL.map { String(cString: $0) }, allowed)
        }
        callbacks.push_update_reference = { refname, status, payload in
            guard let payload, let status else { return 0 }
            let session = Unmanaged<RemoteSession>.fromOpaque(payload).takeUnretainedValue()
            session.rejections.append((refname.map { String(cString: $0) } ?? "?", String(cString: status)))
            return 0
        }
    }

    /// Runs `body` with callbacks that reach this session.
    func withCallbacks<T>(_ body: (inout git_remote_callbacks) throws -> T) throws -> T {
        var callbacks = git_remote_callbacks()
        try check(git_remote_init_callbacks(&callbacks, UInt32(GIT_REMOTE_CALLBACKS_VERSION)), "git_remote_init_callbacks")
        let payload = Unmanaged.passRetained(self)
        defer { payload.release() }
        install(into: &callbacks, payload: payload.toOpaque())
        return try body(&callbacks)
    }

    private func acquire(_ out: UnsafeMutablePointer<UnsafeMutablePointer<git_credential>?>, _ url: String, _ usernameFromURL: String?,
                         _ allowed: UInt32) -> Int32 {
        credentialRequests += 1
        guard let credentials else {
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "the remote asks for credentials and none were given")
            return GIT_EAUTH.rawValue
        }
        // libgit2 asks again after a refusal; a second request means the first was refused.
        guard credentialRequests <= 2 else {
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "authentication failed: the remote refused the credentials")
            return GIT_EAUTH.rawValue
        }
        switch credentials {
        case .token(let token, let username) where allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0:
            return git_credential_userpass_plaintext_new(out, usernameFromURL ?? username, token)
        case .usernamePassword(let username, let password) where allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0:
            return git_credential_userpass_plaintext_new(out, username, password)
        case .sshKey(let username, _, _, _) where allowed & GIT_CREDENTIAL_USERNAME.rawValue != 0:
            return git_credential_username_new(out, usernameFromURL ?? username)
        case .sshKey(let username, let privateKey, let publicKey, let passphrase) where allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0:
            return git_credential_ssh_key_new(out, usernameFromURL ?? username, publicKey, privateKey, passphrase)
        case .helpers(let environment) where allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0:
            guard let (username, password) = Self.fill(url, environment: environment) else {
                git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "the remote asks for credentials and git's credential helpers have none for it")
                return GIT_EAUTH.rawValue
            }
            obtained.append(password)
            return git_credential_userpass_plaintext_new(out, usernameFromURL ?? username, password)
        default:
            git_error_set_str(Int32(GIT_ERROR_NET.rawValue), "the remote asks for another kind of credentials than the ones given")
            return GIT_EAUTH.rawValue
        }
    }

    /// `git credential fill` for `url`: the user name and password git's configured helpers
    /// give, or nil (no helper has any; git is told never to prompt).
    static func fill(_ url: String, environment: [String: String]?) -> (String, String)? {
        var variables = environment ?? ProcessInfo.processInfo.environment
        variables["GIT_TERMINAL_PROMPT"] = "0"
        variables["GIT_ASKPASS"] = "/bin/false"
        variables["SSH_ASKPASS"] = "/bin/false"
        let input = Pipe(), output = Pipe()
        let child: ChildProcess
        do {
            child = try ChildProcess("/usr/bin/git", ["credential", "fill"], environment: variables,
                                     standardInput: .descriptor(input.fileHandleForReading.fileDescriptor),
                                     standardOutput: .descriptor(output.fileHandleForWriting.fileDescriptor), standardError: .null)
        } catch {
            return nil
        }
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        input.fileHandleForWriting.write(Data("url=\(url)\n\n".utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        guard child.waitBlocking() == .exited(0) else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let username = fields["username"], let password = fields["password"], !password.isEmpty else { return nil }
        return (username, password)
    }
}
