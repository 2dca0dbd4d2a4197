import ArgumentParser
import AuditStore
import BatonCore
import Coordinator
import Foundation
import Signatures

/// `baton approve PIPELINE ENV`: one person's approval of the revision waiting to enter a
/// manual stage.
struct Approve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve the revision waiting to enter a manual stage.",
        discussion: """
            When the stage's approvers have SSH keys, the approval is a statement signed with yours (--key FILE, \
            else git's user.signingKey, else ssh-agent's first key), and who you are is the approver whose key signed. \
            Otherwise your identity is BATON_ACTOR, else git's user.email, else $USER@host, and is recorded as \
            unverified. The approval counts when you are among the stage's approvers (anyone when none are listed), \
            have not approved it already, and, unless allowCommitAuthors is set, wrote no commit the promotion brings. \
            When the approvals reach `required`, `baton run` promotes it. Exits 1 when the approval is refused (the \
            reason is printed and recorded).
            """
    )

    @Argument(help: "The pipeline.") var pipeline: String
    @Argument(help: "The stage's environment.") var environment: String
    @Option(help: "The revision to approve (default: the one awaiting approval).") var revision: String?
    @Option(help: "A note kept with the approval.") var comment: String?
    @Option(help: "The SSH key to sign with (a private key file, or a .pub whose key ssh-agent holds).") var key: String?
    @OptionGroup var location: PipelineSession.Location

    func run() async throws {
        let (session, stage, machine, refs, claimed) = try await PipelineSession.decision(location, pipeline: pipeline, environment: environment)
        var actor = claimed
        let state = machine.stages[stage]
        let revision: String
        if let requested = self.revision {
            revision = try await session.resolve(requested, in: refs)
        } else if let candidate = state.candidate, candidate.phase == .awaitingApproval {
            revision = candidate.revision
        } else {
            let now = state.candidate.map { "\($0.revision.prefix(8)) is \($0.phase.rawValue)" } ?? "no revision has reached it"
            _ = try? session.audit.append(EventDraft(kind: "approval-refused", actor: actor, pipeline: pipeline, environment: environment,
                                                     details: ["reason": .string("nothing is awaiting approval (\(now))")]))
            throw EnvironmentSession.fail("refused: nothing is awaiting approval in \(environment) (\(now))")
        }
        let authors: [String]
        do {
            authors = try await refs.commitAuthors(from: state.deployed, to: revision)
        } catch {
            throw EnvironmentSession.fail("refused: cannot read the commits from \(state.deployed.map { String($0.prefix(8)) } ?? "the start") "
                + "to \(revision.prefix(8)) to check who wrote them: \(error)")
        }
        let signed = try await session.sign(.approve, environment: environment, revision: revision, text: comment, key: key)
        if let approver = signed?.approver { actor = approver }
        let isAuthor = authors.contains { $0.caseInsensitiveCompare(actor) == .orderedSame }
        let after = try await session.decide(.approve(environment: environment, revision: revision, isCommitAuthor: isAuthor, comment: comment),
                                             actor: actor, refs: refs, signed: signed?.request)
        let candidate = after.stages[stage].candidate
        let required = session.pipeline.stages[stage].effectiveApproval?.required ?? 1
        let count = candidate?.revision == revision ? candidate?.approvals.count ?? 0 : required
        Terminal.out("approved \(revision.prefix(8)) for \(environment) as \(actor)\(signed?.shown ?? ", unverified") "
                     + "(\(min(count, required)) of \(required))")
        if count >= required {
            Terminal.out("the approvals are complete: \(environment) is being promoted to \(revision.prefix(8))")
        }
    }
}

/// `baton reject PIPELINE ENV --reason`: stops a revision from entering a stage, for good.
struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject the revision waiting in a stage; final for that revision there.",
        discussion: "Exits 1 when there is nothing to reject."
    )

    @Argument(help: "The pipeline.") var pipeline: String
    @Argument(help: "The stage's environment.") var environment: String
    @Option(help: "The revision to reject (default: the stage's current candidate).") var revision: String?
    @Option(help: "Why (required; recorded).") var reason: String
    @Option(help: "The SSH key to sign with (see baton approve).") var key: String?
    @OptionGroup var location: PipelineSession.Location

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
    }

    func run() async throws {
        let (session, stage, machine, refs, claimed) = try await PipelineSession.decision(location, pipeline: pipeline, environment: environment)
        let revision: String
        if let requested = self.revision {
            revision = try await session.resolve(requested, in: refs)
        } else if let candidate = machine.stages[stage].candidate, !candidate.phase.isFinal {
            revision = candidate.revision
        } else {
            throw EnvironmentSession.fail("refused: no revision is waiting in \(environment)")
        }
        let signed = try await session.sign(.reject, environment: environment, revision: revision, text: reason, key: key)
        let actor = signed?.approver ?? claimed
        _ = try await session.decide(.reject(environment: environment, revision: revision, reason: reason), actor: actor, refs: refs,
                                     signed: signed?.request)
        Terminal.out("rejected \(revision.prefix(8)) for \(environment) as \(actor)\(signed?.shown ?? ", unverified"): \(reason)")
    }
}

/// `baton promote PIPELINE --to ENV`: a manual promotion.
struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "promote",
        abstract: "Promote a revision verified in the previous stage into a stage by hand.",
        discussion: """
            Without --revision: the revision last verified in the previous stage (for the first stage, the head of \
            the pipeline's branch). A revision not verified there needs --force with --reason, and is recorded as \
            forced. Approvals still apply on a manual stage. Moving back to an older revision is a rollback: use \
            `baton rollback`.
            """
    )

    @Argument(help: "The pipeline.") var pipeline: String
    @Option(help: "The stage's environment.") var to: String
    @Option(help: "The revision (commit, branch, tag).") var revision: String?
    @Flag(help: "Promote a revision that was not verified in the previous stage.") var force = false
    @Option(help: "Why (required with --force; recorded).") var reason: String?
    @Option(help: "The SSH key to sign with (see baton approve).") var key: String?
    @OptionGroup var location: PipelineSession.Location

    func validate() throws {
        if force, (reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--force needs --reason") }
    }

    func run() async throws {
        let (session, stage, machine, refs, claimed) = try await PipelineSession.decision(location, pipeline: pipeline, environment: to)
        let revision: String
        if let requested = self.revision {
            revision = try await session.resolve(requested, in: refs)
        } else if stage == 0 {
            revision = try await session.resolve(session.pipeline.repo.branch, in: refs)
        } else if let verified = machine.stages[stage - 1].verified {
            revision = verified
        } else {
            throw EnvironmentSession.fail("no revision has been verified in \(session.pipeline.chain[stage - 1]) yet; name one with --revision")
        }
        if let deployed = machine.stages[stage].deployed, deployed != revision,
           (try? await refs.store.isAncestor(deployed, of: revision)) != true {
            throw EnvironmentSession.fail("refused: \(revision.prefix(8)) does not descend from \(deployed.prefix(8)), which \(to) runs; "
                + "going back is a rollback (baton rollback \(to) --to \(revision.prefix(8)) --reason ...)")
        }
        let signed = try await session.sign(.promote, environment: to, revision: revision, text: reason, force: force ? true : nil, key: key)
        let actor = signed?.approver ?? claimed
        // Whether it was verified in the previous stage is the coordinator's to find out.
        let after = try await session.decide(.promote(environment: to, revision: revision, verifiedBefore: false, force: force,
                                                      reason: reason), actor: actor, refs: refs, signed: signed?.request)
        if after.stages[stage].candidate?.phase == .awaitingApproval {
            Terminal.out("\(revision.prefix(8)) waits for approval to enter \(to) (baton approve \(pipeline) \(to))")
            return
        }
        Terminal.out("promoting \(revision.prefix(8)) to \(to)\(force ? " (forced: \(reason ?? ""))" : ""); baton run syncs it and checks its gates")
    }
}

/// `baton rollback ENV --to REV --reason`: moves an environment back and holds what it ran.
struct Rollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Move an environment back to an earlier revision and hold the one it replaces.",
        discussion: """
            The environment's ref moves to REV at once (not only forward); the revision it ran is held, so \
            auto-promotion does not bring it back until `baton release PIPELINE REV`. REV must be a revision the \
            environment ran and verified before; --break-glass goes anywhere, recorded and shown as such.
            """
    )

    @Argument(help: "The environment.") var environment: String
    @Option(help: "The revision to go back to.") var to: String
    @Option(help: "Why (required; recorded).") var reason: String
    @Flag(help: "Go to a revision the environment never verified (an emergency; flagged in status and history).") var breakGlass = false
    @Option(help: "The SSH key to sign with (see baton approve).") var key: String?
    @OptionGroup var location: PipelineSession.Location

    func validate() throws {
        if reason.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--reason must say why") }
    }

    func run() async throws {
        let (session, stage) = try PipelineSession.open(location, environment: environment)
        let refs = try await session.refs()
        let revision = try await session.resolve(to, in: refs)
        let signed = try await session.sign(.rollback, environment: environment, revision: revision, text: reason,
                                            breakGlass: breakGlass ? true : nil, key: key)
        let claimed = await Actor.current()
        let actor = signed?.approver ?? claimed
        let machine = try await session.decide(.rollback(environment: environment, revision: revision, reason: reason,
                                                           breakGlass: breakGlass ? true : nil), actor: actor, refs: refs, signed: signed?.request)
        let replaced = machine.stages[stage].candidate.flatMap { $0.revision == revision ? $0.from : nil } ?? ""
        if machine.stages[stage].candidate?.phase == .failed {
            throw EnvironmentSession.fail("the rollback failed: \(machine.stages[stage].candidate?.reason ?? "")")
        }
        Terminal.out("rolled \(environment) back from \(replaced.prefix(8)) to \(revision.prefix(8)); "
            + "\(replaced.prefix(8)) is held (baton release \(session.pipeline.name) \(replaced.prefix(8)) lets it promote again)")
    }
}

/// `baton release PIPELINE REV`: lets a held revision promote again.
struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a revision held by a rollback, so that it promotes again.",
        discussion: "It re-enters the stage after the last one that verified it."
    )

    @Argument(help: "The pipeline.") var pipeline: String
    @Argument(help: "The held revision.") var revision: String
    @Option(help: "The SSH key to sign with (see baton approve).") var key: String?
    @OptionGroup var location: PipelineSession.Location

    func run() async throws {
        let session = try PipelineSession.open(location, pipeline: pipeline)
        let refs = try await session.refs()
        let revision = try await session.resolve(self.revision, in: refs)
        let signed = try await session.sign(.release, environment: nil, revision: revision, text: nil, key: key)
        let claimed = await Actor.current()
        let actor = signed?.approver ?? claimed
        _ = try await session.decide(.release(revision: revision), actor: actor, refs: refs, signed: signed?.request)
        Terminal.out("released \(revision.prefix(8)) in \(pipeline)")
    }
}
