import BatonCore
import Foundation

/// Signs with `ssh-keygen -Y sign`, so that the private key stays where the user keeps it (a
/// key file, possibly in ssh-agent) and Baton never reads it. Verification is Baton's own
/// (`SSHSignature.verify`).
public enum SSHSigner {
    /// Signs `message` for `namespace` with the key in `keyFile`: a private key file, or a
    /// public key file whose private half the ssh-agent holds (as git's `user.signingKey`).
    /// `hashAlgorithm` nil lets ssh-keygen choose (sha512).
    public static func sign(_ message: Data, namespace: String, keyFile: String,
                            hashAlgorithm: SSHSignature.HashAlgorithm? = nil,
                            sshKeygen: String = "ssh-keygen") async throws(SignatureError) -> SSHSignature {
        // NSTemporaryDirectory() is $TMPDIR when it is set.
        let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("baton-sign-" + UUID().uuidString)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/message"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try message.write(to: URL(fileURLWithPath: file))
        } catch {
            throw SignatureError(.signingFailed, "cannot write the message to sign in \(folder): \(error.localizedDescription)")
        }
        var arguments = ["-Y", "sign", "-q", "-f", keyFile, "-n", namespace]
        if let hashAlgorithm { arguments += ["-O", "hashalg=" + hashAlgorithm.rawValue] }
        arguments.append(file)
        let result: (status: Int32, output: Data, errors: Data)
        do {
            result = try await Subprocess.run(sshKeygen, arguments, timeout: .seconds(60))
        } catch {
            throw SignatureError(.signingFailed, "cannot run \(sshKeygen): \(error)")
        }
        guard result.status == 0 else {
            let said = String(decoding: result.errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw SignatureError(.signingFailed, "ssh-keygen could not sign with \(keyFile): \(said.isEmpty ? "exit status \(result.status)" : said)")
        }
        let text: String
        do {
            text = try String(contentsOfFile: file + ".sig", encoding: .utf8)
        } catch {
            throw SignatureError(.signingFailed, "ssh-keygen wrote no signature: \(error.localizedDescription)")
        }
        let signature = try SSHSignature(armored: text)
        // What ssh-keygen made must verify here too, before anyone else is given it.
        try signature.verify(message, namespace: namespace)
        return signature
    }
}
