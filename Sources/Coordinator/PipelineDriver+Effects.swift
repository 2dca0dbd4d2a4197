import AuditStore
import BatonCore
import Foundation
import Signatures
import Gates
import GitStore

extension PipelineDriver {
    /// Carries out every effect given (records were written with the state).
    func carryOut(_ effects: [PromotionEffect]) async {
        for effect in effects {
            switch effect {
            case .moveRef(let stage, _, _, _):
                await move(stage)
            case .evaluateGates(let stage, let revision):
                startGates(stage: stage, revision: revision)
            case .record:
                continue
            }
        }
    }

    /// Moves `stage`'s ref to its candidate (saved as `promoting`), compare-and-swap from where
    /// the ref was when the move was decided, and feeds back what happened. A ref already
    /// there (an earlier attempt, before a crash) counts as moved; a ref found elsewhere fails
    /// the candidate (someone moved it outside Baton); a failure that may pass (the network, a
    /// lock) leaves the intent for `retryMoves`.
    func move(_ stage: Int) async {
        guard let candidate = machine.stages[stage].candidate, candidate.phase == .promoting,
              let environment = environments[machine.stages[stage].environment], moving.insert(stage).inserted else { return }
        // Reads of the refs begun before now are stale once this move starts or ends.
        moveEpoch += 1
        defer {
            moving.remove(stage)
            moveEpoch += 1
        }
        let revision = candidate.revision
        let ref = environment.fullRef
        do {
            // Signed commits required: every commit the move brings is signed by an allowed key,
            // or nothing moves — also when the ref is found there already (pushed by someone).
            // A rollback to an older revision brings no commit; a break-glass one elsewhere does.
            if let signers = commitSigners[environment.name] {
                let checks = await refs.commitSignatures(from: candidate.from, to: revision, signers: signers, at: now())
                if let unread = checks.first(where: { $0.unreadable }) {
                    let why = "cannot check the signatures of \(environment.ref)'s move yet, will try again: commit \(unread.commit.prefix(8)) "
                        + (unread.problem ?? "")
                    logger.warning("\(why)", metadata: ["environment": .string(environment.name)])
                    return
                }
                if let reason = Self.unsigned(checks, environment: environment.name, signers: signers) {
                    await feed(.refMoveFailed(stage: stage, revision: revision, reason: reason))
                    return
                }
            }
            let current = try await refs.current(ref)
            if current != revision {
                guard current == candidate.from else {
                    let reason = "\(environment.ref) was moved outside Baton to \(current.map { String($0.prefix(8)) } ?? "nothing"), "
                        + "not \(candidate.from.map { String($0.prefix(8)) } ?? "absent") as expected"
                    await feed(.refMoveFailed(stage: stage, revision: revision, reason: reason))
                    return
                }
                // A decision may have replaced the candidate while the ref or the commits were read.
                guard machine.stages[stage].candidate == candidate else { return }
                try await refs.move(ref, from: candidate.from, to: revision, anywhere: candidate.kind == .rollback,
                                    reason: "baton: \(candidate.kind) promotion of \(pipeline.name) to \(environment.name)")
            }
        } catch let error as GitStoreError where [.notFastForward, .refMoved, .pushRejected, .notFound, .invalidInput].contains(error.code) {
            await feed(.refMoveFailed(stage: stage, revision: revision, reason: "cannot move \(environment.ref) to \(revision.prefix(8)): \(error)"))
            return
        } catch {
            logger.warning("cannot move \(environment.ref) yet, will try again: \(error)", metadata: ["environment": .string(environment.name)])
            return
        }
        let authors = await refs.authors(from: candidate.from, to: revision)
        await feed(.refMoved(stage: stage, revision: revision, authors: authors))
        wakeups[environment.name]?.signal()
    }

    /// Why the commits checked are not all signed by the stage's commit signers (each bad one
    /// named, five at most), or nil when they are.
    static func unsigned(_ checks: [EnvironmentRefs.CommitSignatureCheck], environment: String, signers: CommitSigners) -> String? {
        let bad = checks.filter { $0.signer == nil }
        guard !bad.isEmpty else { return nil }
        let named = bad.prefix(5).map { "commit \($0.commit.prefix(8)) (committed by \($0.committer)) \($0.problem ?? "is not signed")" }
        return named.joined(separator: "; ") + (bad.count > 5 ? "; and \(bad.count - 5) more" : "")
            + "; \(environment) requires every commit signed by a key in \(signers.file)"
    }

    /// Puts an environment ref moved outside Baton back to the revision recorded there, after
    /// recording the move (who moved it is git's business; what was there is Baton's).
    /// `foreign` nil: the ref was deleted; it is made again.
    func setBack(_ stage: Int, _ environment: EnvironmentConfig, foreign: String?, recorded: String) async {
        guard moving.insert(stage).inserted else { return }
        moveEpoch += 1
        defer {
            moving.remove(stage)
            moveEpoch += 1
        }
        let what = foreign.map { "moved outside Baton to \($0.prefix(8))" } ?? "deleted outside Baton"
        let reason = "\(environment.ref) was \(what); set back to \(recorded.prefix(8)), which the pipeline put there"
        let seen = foreign ?? "deleted"
        do {
            // Recorded once per foreign revision, however many attempts the move back takes
            // (a protected branch may refuse it for a while).
            if setBackRecorded[environment.name] != seen {
                logger.warning("\(reason)", metadata: ["environment": .string(environment.name)])
                let draft = EventDraft(kind: "ref-moved-outside", actor: actor, pipeline: pipeline.name, environment: environment.name,
                                       revision: foreign, details: ["recorded": .string(recorded), "foreign": foreign.map(JSONValue.string) ?? .null,
                                                                    "reason": .string(reason)])
                logTransitions(try save(machine, drafts: [draft], handled: [:], at: now()))
                setBackRecorded[environment.name] = seen
            }
            try await refs.move(environment.fullRef, from: foreign, to: recorded, anywhere: true, reason: "baton: set back after a move outside Baton")
            setBackRecorded[environment.name] = nil
        } catch {
            logger.warning("cannot set \(environment.ref) back yet, will try again: \(error)", metadata: ["environment": .string(environment.name)])
        }
        wakeups[environment.name]?.signal()
    }

    /// Moves that were decided and not made (the last attempt failed for a reason that may
    /// pass, or the process stopped before): tried again.
    func retryMoves() async {
        for stage in machine.stages.indices where machine.stages[stage].candidate?.phase == .promoting && !moving.contains(stage) {
            await move(stage)
        }
    }

    /// Starts the stage's HTTP and Prometheus gates for `revision`, once at a time; the verdicts
    /// come back as an input.
    func startGates(stage: Int, revision: String) {
        guard let gates else { return }
        let key = "\(stage) \(revision)"
        guard evaluations[key] == nil else { return }
        let definition = pipeline.stages[stage]
        evaluations[key] = Task {
            let outcomes = await gates.evaluate(definition)
            guard !Task.isCancelled else { return }
            await self.gatesDone(key, stage: stage, revision: revision, outcomes: outcomes)
        }
    }

    private func gatesDone(_ key: String, stage: Int, revision: String, outcomes: [GateOutcome]) async {
        evaluations[key] = nil
        await feed(.gatesEvaluated(stage: stage, revision: revision, outcomes: outcomes))
    }

    /// Stops the gate evaluations under way (their requests stay saved for the next start).
    func stopGates() {
        for task in evaluations.values { task.cancel() }
        evaluations.removeAll()
    }

    /// Reads the branch head and the environment refs (one trip to the repository) and takes
    /// what it finds (`observe`).
    func observeRefs(takingHead: Bool = true) async throws {
        let epoch = moveEpoch
        var found = try await refs.store.references(watchedRefs).mapValues(\.hex)
        if !takingHead { found[GitStore.fullRefName(pipeline.repo.branch)] = nil }
        await observe(found, environmentRefsRead: true, epoch: epoch)
    }

    /// What the refs were seen at (full ref name → commit; an absent ref is left out), read
    /// while `moveEpoch` was `epoch`. A new head is fed in. An environment ref that is not where
    /// the machine has it, with no move of Baton's under way or made since the read, was moved
    /// outside Baton and is taken as the stage's revision (a read from before one of Baton's own
    /// moves is not evidence of anything: it is dropped).
    /// Environment refs are taken before the head: a first promotion moves from where a ref
    /// already is. `environmentRefsRead` false: only the source branch was read, and an
    /// environment ref missing from `found` says nothing (taking it for deleted set back every
    /// environment ref of every pipeline at each new commit, each recorded as a move outside
    /// Baton: 500 false records per commit with 500 pipelines on one repository).
    public func observe(_ found: [String: String], environmentRefsRead: Bool, epoch: Int) async {
        for stage in machine.stages.indices where environmentRefsRead {
            if let environment = environments[machine.stages[stage].environment], found[environment.fullRef] == nil,
               let recorded = machine.stages[stage].deployed, epoch == moveEpoch, moving.isEmpty,
               machine.stages[stage].candidate?.phase != .promoting {
                // Deleted outside Baton: made again where the pipeline put it.
                await setBack(stage, environment, foreign: nil, recorded: recorded)
                continue
            }
            guard let environment = environments[machine.stages[stage].environment], let current = found[environment.fullRef],
                  epoch == moveEpoch, moving.isEmpty, current != machine.stages[stage].deployed,
                  machine.stages[stage].candidate?.phase != .promoting else { continue }
            if let recorded = machine.stages[stage].deployed {
                // Moved by someone else: reported and set back. The environment keeps running
                // what Baton recorded there (its reconciler reads that, not the ref).
                await setBack(stage, environment, foreign: current, recorded: recorded)
                continue
            }
            // A stage that requires signed commits takes no ref it finds unless its commits are.
            if let signers = commitSigners[environment.name] {
                let checks = await refs.commitSignatures(from: nil, to: current, signers: signers, at: now())
                if checks.contains(where: { $0.signer == nil }) {
                    if unsignedRefSeen[environment.name] != current {
                        unsignedRefSeen[environment.name] = current  // said once per revision
                        let why = "\(environment.ref) points at \(current.prefix(8)) whose commits are not all signed by a key in \(signers.file); not taken"
                        logger.warning("\(why)", metadata: ["environment": .string(environment.name)])
                    }
                    continue
                }
            }
            let authors = await refs.authors(from: machine.stages[stage].deployed, to: current)
            // Read again after the await: a move of Baton's may have begun or ended meanwhile.
            guard epoch == moveEpoch, moving.isEmpty, current != machine.stages[stage].deployed else { continue }
            await feed(.refMoved(stage: stage, revision: current, authors: authors))
            wakeups[environment.name]?.signal()
        }
        if let head = found[GitStore.fullRefName(pipeline.repo.branch)] { await offer(head) }
    }

    /// A new head of the source branch. With `repo.paths`, a head whose commits since the last
    /// one promoted change nothing under those paths is passed over (once: it is remembered);
    /// its changes come with the next head that does. A range that cannot be read is promoted.
    func offer(_ head: String) async {
        guard head != machine.head, head != passedOver else { return }
        if !pipeline.repo.paths.isEmpty, let last = machine.head {
            do {
                // The same trees and files under every path: nothing there changed.
                let paths = pipeline.repo.paths
                if try await refs.store.entryIDs(at: last, paths: paths) == refs.store.entryIDs(at: head, paths: paths) {
                    passedOver = head
                    return
                }
            } catch {
                logger.warning("cannot read what \(head.prefix(8)) changes, so it is promoted whatever it touches: \(error)")
            }
            guard head != machine.head else { return }
        }
        await feed(.commit(head))
    }

    /// On start: carries out what was saved as intended and may not have been done (ref moves
    /// decided, gate evaluations asked for), learns where the refs are, and applies decisions
    /// waiting in the inbox. The only place the driver looks for work in the saved state.
    ///
    /// `takingHead: false` (a CLI command driving for a moment) leaves a new head of the source
    /// branch for `baton run`: a decision about production does not also promote into dev.
    public func recover(takingHead: Bool = true) async {
        await retryMoves()
        do {
            try await observeRefs(takingHead: takingHead)
        } catch {
            logger.warning("cannot read the environment refs yet: \(error)")
        }
        for (stage, state) in machine.stages.enumerated() {
            guard let candidate = state.candidate, candidate.phase == .verifying, candidate.checksRequestedAt != nil,
                  candidate.checks == nil else { continue }
            startGates(stage: stage, revision: candidate.revision)
        }
        do {
            await handle(try ledger.audit.waitingInbox(pipeline: pipeline.name))
        } catch {
            logger.warning("cannot read the inbox: \(error)")
        }
    }
}
