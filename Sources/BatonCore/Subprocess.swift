import Foundation

/// Runs a program to the end without blocking Swift's cooperative pool: the waiting happens
/// on Dispatch threads. Used for `kubectl kustomize` and exec credential plugins.
public enum Subprocess {
    /// Runs `executable` (a path, or a name looked up in PATH through `/usr/bin/env`) with
    /// `arguments`; `environment` replaces the inherited one when given. Killed after
    /// `timeout` when one is given.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           timeout: Duration? = nil) async throws -> (status: Int32, output: Data, errors: Data) {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let environment { process.environment = environment }
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
                if let timeout {
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.totalMilliseconds)), execute: killer)
                }
                let group = DispatchGroup()
                nonisolated(unsafe) var errorData = Data()
                group.enter()
                DispatchQueue.global().async {
                    errorData = errors.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                let outputData = output.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                process.waitUntilExit()
                killer.cancel()
                continuation.resume(returning: (process.terminationStatus, outputData, errorData))
            }
        }
    }
}
