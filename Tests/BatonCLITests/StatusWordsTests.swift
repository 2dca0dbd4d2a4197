@testable import BatonCLI
import BatonCore
import Coordinator
import Foundation
import Testing

/// What `baton status` says of a revision's health soak, from the candidate as the driver saved it.
@Suite("CLI: the health soak in baton status")
struct StatusWordsTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a soak under way counts down; paused while the cluster does not answer, the time away does not count")
    func soakWords() {
        var candidate = Candidate(revision: "a1b2c3d4e5", phase: .verifying, since: start)
        candidate.healthySince = start
        #expect(PipelineStatusView.health(candidate, soak: .minutes(5), report: nil, now: start.addingTimeInterval(60))
                == "health (soak 5m): Healthy since \(start.formatted(.iso8601)), 4m left")
        candidate.soakPausedAt = start.addingTimeInterval(90)
        // Ten minutes later, still paused: 3m30s of soak are left, as at the pause.
        #expect(PipelineStatusView.health(candidate, soak: .minutes(5), report: nil, now: start.addingTimeInterval(690))
                == "health (soak 5m): paused since \(start.addingTimeInterval(90).formatted(.iso8601)), the cluster not answering (Unknown); 3m30s left once it does")
    }
}
