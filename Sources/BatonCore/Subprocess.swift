import Foundation
import Spawn

/// Runs a program to the end without blocking Swift's cooperative pool: the waiting happens
/// on Dispatch threads. Used for `kubectl kustomize` and exec credential plugins.
public enum Subprocess {
    /// Runs `executable` (a path, or a name looked up in PATH through `/usr/bin/env`) with
    /// `arguments`; `environment` replaces the inherited one when given. Killed after
    /// `timeout` when one is given.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           timeout: Duration? = nil) async throws -> (status: Int32, output: Data, errors: Data) {
        let path = executable.contains("/") ? executable : "/usr/bin/env"
        let argv = executable.contains("/") ? arguments : [executable] + arguments
        let output = Pipe(), errors = Pipe()
        let child: ChildProcess
        do {
            child = try ChildProcess(path, argv, environment: environment, standardInput: .null,
                                     standardOutput: .descriptor(output.fileHandleForWriting.fileDescriptor),
                                     standardError: .descriptor(errors.fileHandleForWriting.fileDescriptor))
        } catch {
            try? output.fileHandleForWriting.close()
            try? errors.fileHandleForWriting.close()
            throw error
        }
        // The child has its own copies: without closing ours, the reads below never end.
        try? output.fileHandleForWriting.close()
        try? errors.fileHandleForWriting.close()
        let killer = DispatchWorkItem { child.signal(SIGTERM) }
        if let timeout {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.totalMilliseconds)), execute: killer)
        }
        let (outputData, errorData) = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let group = DispatchGroup()
                nonisolated(unsafe) var errorData = Data()
                group.enter()
                DispatchQueue.global().async {
                    errorData = errors.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                let outputData = output.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                continuation.resume(returning: (outputData, errorData))
            }
        }
        let termination = await child.wait()
        killer.cancel()
        return (termination.status, outputData, errorData)
    }
}
