import BatonTestSupport
import Foundation
import Signatures

/// Keys made by `ssh-keygen` in a temporary folder, and signatures made and checked by it:
/// the real OpenSSH on both sides of every check.
struct Keys {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory("signatures") }

    /// Makes a key pair `name` (`name` private, `name.pub` public) of `type` (`-t`), `bits` (`-b`).
    func make(_ name: String, type: String, bits: Int? = nil, comment: String? = nil) async throws -> SSHPublicKey {
        var arguments = ["-q", "-t", type, "-N", "", "-C", comment ?? "\(name)@example.com", "-f", path(name)]
        if let bits { arguments += ["-b", String(bits)] }
        try await CommandRun.run("/usr/bin/ssh-keygen", arguments).requireSuccess()
        return try SSHPublicKey(line: String(contentsOfFile: path(name) + ".pub", encoding: .utf8))
    }

    func path(_ name: String) -> String { dir.path + "/" + name }

    /// `ssh-keygen -Y sign` of `message` with key `name`; returns the armoured signature.
    func sign(_ message: String, with name: String, namespace: String = "baton", hash: String? = nil) async throws -> String {
        let file = path("message-\(UUID().uuidString)")
        try Data(message.utf8).write(to: URL(fileURLWithPath: file))
        var arguments = ["-Y", "sign", "-q", "-f", path(name), "-n", namespace]
        if let hash { arguments += ["-O", "hashalg=\(hash)"] }
        try await CommandRun.run("/usr/bin/ssh-keygen", arguments + [file]).requireSuccess()
        return try String(contentsOfFile: file + ".sig", encoding: .utf8)
    }

    /// `ssh-keygen -Y verify` of `signature` over `message` as `principal` against `signers`
    /// (allowed_signers text); true when it accepts.
    func opensshAccepts(_ signature: String, _ message: String, principal: String, signers: String, namespace: String = "baton") async throws -> Bool {
        let id = UUID().uuidString
        try Data(signature.utf8).write(to: URL(fileURLWithPath: path("sig-\(id)")))
        try Data(signers.utf8).write(to: URL(fileURLWithPath: path("signers-\(id)")))
        try Data(message.utf8).write(to: URL(fileURLWithPath: path("msg-\(id)")))
        let run = try await CommandRun.run("/bin/sh", ["-c", "ssh-keygen -Y verify -f '\(path("signers-\(id)"))' -I '\(principal)' -n '\(namespace)' -s '\(path("sig-\(id)"))' < '\(path("msg-\(id)"))'"])
        return run.status == 0
    }

    /// `ssh-keygen -l`'s fingerprint of key `name`.
    func fingerprint(_ name: String) async throws -> String {
        let run = try await CommandRun.run("/usr/bin/ssh-keygen", ["-l", "-E", "sha256", "-f", path(name) + ".pub"])
        return String(run.stdout.split(separator: " ")[1])
    }
}
