import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `baton sim up`, run as the real binary.
@Suite("baton sim up")
struct SimCommandTests {
    @Test("SIGTERM stops the three clusters within a second, with a kubectl watch open on one")
    func stopsOnSignal() async throws {
        let dir = try TemporaryDirectory("sim-up")
        defer { dir.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandRun.batonPath)
        process.arguments = ["sim", "up", "--kubeconfig", dir.path + "/kubeconfig"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Up once its kubeconfig is written (the servers listen by then).
        var up = false
        for _ in 0..<300 where !up {
            try await Task.sleep(for: .milliseconds(100))
            up = FileManager.default.fileExists(atPath: dir.path + "/kubeconfig")
        }
        #expect(up, "baton sim up did not start")
        try await Task.sleep(for: .milliseconds(300))
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: "/usr/bin/kubectl")
        watch.arguments = ["--kubeconfig", dir.path + "/kubeconfig", "--context", "baton-dev", "get", "configmaps", "-A", "-w"]
        watch.standardOutput = FileHandle.nullDevice
        watch.standardError = FileHandle.nullDevice
        watch.environment = ["HOME": dir.path, "PATH": "/usr/bin:/bin"]
        try watch.run()
        defer { if watch.isRunning { watch.terminate() } }
        try await Task.sleep(for: .seconds(1))

        let signalled = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        while process.isRunning, ContinuousClock.now - signalled < .seconds(10) { try await Task.sleep(for: .milliseconds(10)) }
        let took = ContinuousClock.now - signalled
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
        #expect(took < .seconds(1), "baton sim up took \(took) to stop")
        let printed = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        #expect(printed.contains("clusters stopped"), "\(printed)")
    }
}
