import AuditStore
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// Approvals signed with SSH keys (DESIGN.md §10), end to end: keys made by ssh-keygen,
/// `baton approve --key`, and `baton run` checking every statement against its own
/// configuration.
@Suite("Signed approvals: SSH keys decide who approved")
struct SignedApprovalTests {
    @Test("only a statement signed by a declared key counts, as that key's approver: unsigned, forged, unknown-key, changed and replayed approvals are refused and recorded; ssh-keygen re-verifies what the log keeps")
    func signedApprovals() async throws {
        let keys = try TemporaryDirectory("approver-keys")
        defer { keys.remove() }
        func make(_ name: String) async throws -> String { try await Self.makeKey(name, in: keys) }
        let bob = try await make("bob"), carol = try await make("carol")
        _ = try await make("mallory")
        var options = PromotionFlow.Options()
        options.approval = "{required: 2, approvers: [{email: bob@example.com, keys: [\"\(bob)\"]}, {email: carol@example.com, keys: [\"\(carol)\"]}]}"
        let flow = try await PromotionFlow("flow-signed", options)
        defer { Task { await flow.close() } }
        let validate = try await flow.baton(["validate"])
        #expect(validate.status == 0, "\(validate.stderr)")
        let v1 = try await flow.release("guestbook:1.0.0", by: "alice@example.com")
        try flow.start()
        try await flow.wait("v1 awaiting approval in production") {
            try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.contains("\"phase\" : \"awaiting-approval\"")
        }
        let audit = try flow.audit()

        // Claiming to be bob gets nothing: there is no key to sign with.
        let claimed = try await flow.baton(["approve", "guestbook", "production"], as: "bob@example.com")
        #expect(claimed.status == 1 && claimed.stderr.contains("no key to sign with"), "\(claimed.stderr)")
        // Written straight into the inbox, unsigned (as someone with the database could): refused.
        let forged = try audit.enqueue(pipeline: "guestbook", actor: "bob@example.com",
                                       body: Data(#"{"approve":{"environment":"production","revision":"\#(v1)","isCommitAuthor":false}}"#.utf8))
        #expect(try await outcome(forged, in: audit)?.contains("must be signed by an approver's SSH key") == true)
        // Signed by a key nobody declared.
        let mallory = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/mallory"], as: "bob@example.com")
        #expect(mallory.status == 1 && mallory.stderr.contains("which is not an allowed key"), "\(mallory.stderr)")

        // Bob's key: counted as bob, whatever BATON_ACTOR says.
        let signed = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/bob", "--comment", "looks good"],
                                          as: "carol@example.com")
        #expect(signed.status == 0 && signed.stdout.contains("as bob@example.com, signed with ssh-ed25519 SHA256:"), "\(signed.stdout)\(signed.stderr)")
        let bobs = try #require(try audit.inboxItem(try audit.lastInboxID()))
        // The same signed request again: a replay.
        let replay = try audit.enqueue(pipeline: "guestbook", actor: "bob@example.com", body: bobs.body)
        #expect(try await outcome(replay, in: audit)?.contains("used before") == true)
        // Its statement changed (another comment), the signature kept: refused.
        let changedBody = String(decoding: bobs.body, as: UTF8.self)
        let request = try JSONValue.parse(bobs.body)
        let statement = try #require(request["statement"]?.string.flatMap { Data(base64Encoded: $0) })
        let altered = Data(String(decoding: statement, as: UTF8.self).replacingOccurrences(of: "looks good", with: "looks bad").utf8)
        let tampered = try audit.enqueue(pipeline: "guestbook", actor: "bob@example.com",
                                         body: Data(changedBody.replacingOccurrences(of: statement.base64EncodedString(), with: altered.base64EncodedString()).utf8))
        #expect(try await outcome(tampered, in: audit)?.contains("does not match the message") == true)
        await #expect(flow.ref("production") == nil, "one approval of two promoted")

        let carols = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/carol"], as: "bob@example.com")
        #expect(carols.status == 0 && carols.stdout.contains("as carol@example.com"), "\(carols.stdout)\(carols.stderr)")
        try await flow.wait("v1 verified in production") { flow.phase("production", v1) == "verified" }

        // The log keeps each accepted statement whole: ssh-keygen verifies it offline.
        let kept = try audit.events().filter { $0.kind == "statement-verified" }
        #expect(kept.map(\.actor) == ["bob@example.com", "carol@example.com"])
        let refused = try audit.events().filter { $0.kind == "approval-refused" }
        #expect(refused.count == 4, "\(refused.map(\.details))")
        let first = try JSONValue.parse(Data(try #require(kept.first).details.utf8))
        let text = try #require(first["statement"]?.string), signature = try #require(first["signature"]?.string)
        try keys.write("kept.statement", text)
        try keys.write("kept.sig", signature)
        try keys.write("signers", "bob@example.com \(bob)\n")
        let offline = try await CommandRun.run("/bin/sh", ["-c", "ssh-keygen -Y verify -f signers -I bob@example.com -n baton -s kept.sig < kept.statement"],
                                               in: keys.path)
        #expect(offline.status == 0, "\(offline.stderr)")

        // Rejections in production are signed too; bob's signed approval offered as a rejection is not one.
        let v2 = try await flow.release("guestbook:2.0.0", by: "alice@example.com")
        try await flow.wait("v2 awaiting approval in production") {
            try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.contains("\"phase\" : \"awaiting-approval\"")
        }
        let approval = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/bob"])
        #expect(approval.status == 0, "\(approval.stderr)")
        let approvalBody = try #require(try audit.inboxItem(try audit.lastInboxID())).body
        let asRejection = String(decoding: approvalBody, as: UTF8.self)
            .replacingOccurrences(of: #"{"approve":{"#, with: #"{"reject":{"reason":"forged","#)
            .replacingOccurrences(of: #","isCommitAuthor":false"#, with: "")
        let swapped = try audit.enqueue(pipeline: "guestbook", actor: "bob@example.com", body: Data(asRejection.utf8))
        #expect(try await outcome(swapped, in: audit)?.contains("not what was asked") == true)
        let unsignedReject = try await flow.baton(["reject", "guestbook", "production", "--reason", "no"], as: "carol@example.com")
        #expect(unsignedReject.status == 1 && unsignedReject.stderr.contains("no key to sign with"), "\(unsignedReject.stderr)")
        let reject = try await flow.baton(["reject", "guestbook", "production", "--reason", "not this week", "--key", keys.path + "/carol"])
        #expect(reject.status == 0 && reject.stdout.contains("as carol@example.com, signed with"), "\(reject.stdout)\(reject.stderr)")
        try await flow.wait("v2 rejected") { try audit.events().contains { $0.kind == "rejected" && $0.revision == v2 } }
        #expect(try audit.events().filter { $0.kind == "statement-verified" }.map(\.actor)
                == ["bob@example.com", "carol@example.com", "bob@example.com", "carol@example.com"])
        // Refusals of unproven claims are recorded as such, not under the name claimed.
        #expect(try audit.events().filter { $0.kind == "approval-refused" }.first?.actor == "unverified: bob@example.com")

        // In a verified pipeline a decision about an auto stage is signed too (by an approver of
        // any stage with keys): staging back to v1 without a key is refused, with bob's it is done.
        let unsignedBack = try await flow.baton(["rollback", "staging", "--to", v1, "--reason", "x"], as: "bob@example.com")
        #expect(unsignedBack.status == 1 && unsignedBack.stderr.contains("no key to sign with"), "\(unsignedBack.stderr)")
        let back = try await flow.baton(["rollback", "staging", "--to", v1, "--reason", "v2 waits", "--key", keys.path + "/bob"])
        #expect(back.status == 0, "\(back.stderr)")
        // A signed statement refused by the pipeline is used up all the same: carol's late approval of v1.
        let late = try await flow.baton(["approve", "guestbook", "production", "--revision", v1, "--key", keys.path + "/carol"])
        #expect(late.status == 1 && late.stderr.contains("is not awaiting approval"), "\(late.stderr)")
        let lateBody = try #require(try audit.inboxItem(try audit.lastInboxID())).body
        let again = try audit.enqueue(pipeline: "guestbook", actor: "carol@example.com", body: lateBody)
        #expect(try await outcome(again, in: audit)?.contains("used before") == true)

        let verify = try await flow.baton(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stderr)")

        // With baton run stopped, a command deciding in its place with other keys (mallory added)
        // does not decide: the decision waits for baton run, which checks with its own.
        await flow.stop()
        var other = options
        let malloryKey = try String(contentsOfFile: keys.path + "/mallory.pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        other.approval = "{required: 1, approvers: [{email: mallory@example.com, keys: [\"\(malloryKey)\"]}]}"
        try flow.writePipeline(other)
        let v3 = try await flow.release("guestbook:3.0.0", by: "alice@example.com")
        let own = try await flow.baton(["promote", "guestbook", "--to", "production", "--revision", v3, "--force", "--reason", "mine",
                                        "--key", keys.path + "/mallory"])
        #expect(own.status == 1 && own.stderr.contains("differ from those baton run last started with"), "\(own.stderr)")
        await #expect(flow.ref("production") == v1)
    }

    @Test("baton validate names a broken approver key by file and line, and an allowed_signers file that is missing")
    func validateKeys() async throws {
        let dir = try TemporaryDirectory("signed-validate")
        defer { dir.remove() }
        try dir.write("Environments/prod.yaml", """
            apiVersion: baton/v1
            kind: Environment
            name: prod
            cluster: {kubeconfig: /nonexistent, context: x}
            namespace: app
            source: {path: app}
            """)
        let shortRSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7"
        /// `baton validate` of a pipeline whose production stage has `approval` (YAML, line 8).
        func validate(approval: String) async throws -> CommandRun {
            try dir.write("Pipelines/app.yaml", """
                apiVersion: baton/v1
                kind: Pipeline
                name: app
                repo: {url: ./repo}
                stages:
                  - environment: prod
                    promote: manual
                    approval: \(approval)
                """)
            return try await CommandRun.run(CommandRun.batonPath, ["validate", "--dir", dir.path])
        }
        let broken = try await validate(approval: "\n      approvers:\n        - {email: bob@example.com, keys: [\"\(shortRSA)\"]}")
        #expect(broken.status == 2 && broken.stderr.contains("Pipelines/app.yaml:10: bob@example.com's key:"), "\(broken.stderr)")
        let missing = try await validate(approval: "{allowedSigners: keys/allowed_signers}")
        #expect(missing.status == 2 && missing.stderr.contains("Pipelines/app.yaml:8: allowedSigners keys/allowed_signers: cannot read"), "\(missing.stderr)")
        let noSigners = try await validate(approval: "{allowedSigners: signers, requireSignedCommits: true}")
        #expect(noSigners.status == 2 && noSigners.stderr.contains("Pipelines/app.yaml:8:") && noSigners.stderr.contains(
            "requireSignedCommits needs commitSigners: FILE (git's allowed_signers format: who may sign commits)"), "\(noSigners.stderr)")
        let unread = try await validate(approval: "{allowedSigners: signers, commitSigners: keys/committers}")
        #expect(unread.status == 2 && unread.stderr.contains("commitSigners is read only with requireSignedCommits: true"), "\(unread.stderr)")
        try dir.write("signers", "")
        let missingSigners = try await validate(approval: "{allowedSigners: signers, requireSignedCommits: true, commitSigners: keys/committers}")
        #expect(missingSigners.status == 2 && missingSigners.stderr.contains("Pipelines/app.yaml:8: commitSigners keys/committers: cannot read"),
                "\(missingSigners.stderr)")
        let plain = try await validate(approval: "{approvers: [{email: bob@example.com, keys: [\"ssh-ed25519 not-a-key\"]}, carol@example.com]}")
        #expect(plain.status == 2 && plain.stderr.contains("expected an SSH public key") && plain.stderr.contains("\"carol@example.com\" has no key"),
                "\(plain.stderr)")
    }

    @Test("requireSignedCommits: a release signed by a commit signer's key is promoted; its signer may not approve it (four-eyes on keys); approvals of a revision with an unsigned commit or one signed by an unknown key are refused, saying which commit and why")
    func signedCommits() async throws {
        let keys = try TemporaryDirectory("commit-signer-keys")
        defer { keys.remove() }
        func make(_ name: String) async throws -> String { try await Self.makeKey(name, in: keys) }
        let bob = try await make("bob"), carol = try await make("carol"), dana = try await make("dana")
        _ = try await make("mallory")
        var options = PromotionFlow.Options()
        options.approval = "{required: 1, approvers: [{email: bob@example.com, keys: [\"\(bob)\"]}, {email: carol@example.com, keys: [\"\(carol)\"]}], "
            + "requireSignedCommits: true, commitSigners: commit-signers}"
        let flow = try await PromotionFlow("flow-signed-commits", options)
        defer { Task { await flow.close() } }
        // Dana writes commits; bob both writes and approves (never his own).
        try flow.dir.write("commit-signers", "dana@example.com namespaces=\"git\" \(dana)\nbob@example.com namespaces=\"git\" \(bob)\n")
        let validate = try await flow.baton(["validate"])
        #expect(validate.status == 0 && validate.stdout.contains("every commit signed by a key in commit-signers"), "\(validate.stdout)\(validate.stderr)")
        /// Whether `revision` waits for approval in production (no promotion row exists yet).
        func awaiting(_ revision: String) async throws -> Bool {
            let status = try JSONValue.parse(Data(try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.utf8))
            let candidate = status[path: ["stages"]]?.array?.last?["candidate"]
            return candidate?["revision"]?.string == revision && candidate?["phase"] == "awaiting-approval"
        }
        func signWith(_ key: String?) async throws {
            if let key {
                for setting in [["gpg.format", "ssh"], ["user.signingkey", keys.path + "/" + key], ["commit.gpgsign", "true"]] {
                    try await flow.git.run(["config"] + setting)
                }
            } else {
                try await flow.git.run(["config", "commit.gpgsign", "false"])
            }
        }
        try await signWith("dana")
        let v1 = try await flow.release("guestbook:1.0.0", by: "dana@example.com")
        let signature = try await flow.git.run(["cat-file", "commit", v1])
        #expect(signature.contains("-----BEGIN SSH SIGNATURE-----"), "git did not sign the commit")
        try flow.start()
        try await flow.wait("v1 awaiting approval in production") { try await awaiting(v1) }
        let approved = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/bob"])
        #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")
        try await flow.wait("v1 verified in production") { flow.phase("production", v1) == "verified" }

        // Bob signed this one: his approval is refused as the commit's author; carol's counts.
        try await signWith("bob")
        let v2 = try await flow.release("guestbook:2.0.0", by: "dana@example.com")
        try await flow.wait("v2 awaiting approval in production") { try await awaiting(v2) }
        let own = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/bob"])
        #expect(own.status == 1 && own.stderr.contains("bob@example.com wrote a commit in this promotion and may not approve it"),
                "\(own.stdout)\(own.stderr)")
        let carols = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/carol"])
        #expect(carols.status == 0, "\(carols.stdout)\(carols.stderr)")
        try await flow.wait("v2 verified in production") { flow.phase("production", v2) == "verified" }

        // Unsigned, then signed by a key nobody listed: approved, yet nothing moves.
        try await signWith(nil)
        let v3 = try await flow.release("guestbook:3.0.0", by: "dana@example.com")
        try await flow.wait("v3 awaiting approval in production") { try await awaiting(v3) }
        let early = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/carol"])
        #expect(early.status == 1 && early.stderr.contains("commit \(v3.prefix(8)) (committed by committer@example.com) it is not signed; "
                                                           + "production requires every commit signed by a key in commit-signers"), "\(early.stderr)")
        try await signWith("mallory")
        let v4 = try await flow.release("guestbook:4.0.0", by: "dana@example.com")
        try await flow.wait("v4 awaiting approval in production") { try await awaiting(v4) }
        let refused = try await flow.baton(["approve", "guestbook", "production", "--key", keys.path + "/carol"])
        // v3 is in v4's history too: every bad commit is named.
        #expect(refused.status == 1 && refused.stderr.contains("commit \(v3.prefix(8)) (committed by committer@example.com) it is not signed; commit "
                                                               + "\(v4.prefix(8)) (committed by committer@example.com) its signature is refused: signed by ssh-ed25519 SHA256:"),
                "\(refused.stderr)")
        #expect(refused.stderr.contains("which is not an allowed key; production requires every commit signed by a key in commit-signers"), "\(refused.stderr)")
        await #expect(flow.ref("production") == v2)
    }

    @Test("requireSignedCommits where approvals are not signed (identity: unverified): the approval is taken, and the move refuses the unsigned commit, naming it, also with the ref pushed there by hand")
    func unsignedCommitStopsTheMove() async throws {
        var options = PromotionFlow.Options()
        options.approval = "{required: 1, approvers: [carol@example.com], requireSignedCommits: true, commitSigners: commit-signers}"
        let flow = try await PromotionFlow("flow-unsigned-commit", options)
        defer { Task { await flow.close() } }
        try flow.dir.write("commit-signers", "")
        let v1 = try await flow.release("guestbook:1.0.0", by: "dana@example.com")
        try flow.start()
        try await flow.wait("v1 awaiting approval in production") {
            try await flow.baton(["status", "guestbook", "--output", "json"]).stdout.contains("\"phase\" : \"awaiting-approval\"")
        }
        // Someone with push access points env/production at it first: found there, it is still
        // neither taken nor deployed.
        try await flow.git.run(["update-ref", "refs/heads/env/production", v1])
        let approved = try await flow.baton(["approve", "guestbook", "production"], as: "carol@example.com")
        #expect(approved.status == 0, "\(approved.stdout)\(approved.stderr)")
        try await flow.wait("v1 failed in production") { flow.phase("production", v1) == "failed" }
        #expect(await flow.image(in: "production") == nil, "production deployed the unsigned revision")
        let reason = try flow.audit().promotions(environment: "production").last { $0.revision == v1 }?.reason ?? ""
        #expect(reason == "commit \(v1.prefix(8)) (committed by committer@example.com) it is not signed; production requires every commit signed "
                + "by a key in commit-signers", "\(reason)")

    }

    /// A new Ed25519 key `name` in `keys` (ssh-keygen, no passphrase); its public key line.
    static func makeKey(_ name: String, in keys: TemporaryDirectory) async throws -> String {
        try await CommandRun.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", keys.path + "/" + name]).requireSuccess()
        return try String(contentsOfFile: keys.path + "/" + name + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The reason an inbox item was refused, once the driver handled it (nil when accepted).
    func outcome(_ id: Int64, in audit: AuditStore) async throws -> String? {
        var result: InboxOutcome?
        try await waitUntil("inbox item \(id) to be handled") {
            result = try audit.inboxItem(id)?.outcome
            return result != nil
        }
        if case .refused(let reason) = result { return reason }
        return nil
    }
}
