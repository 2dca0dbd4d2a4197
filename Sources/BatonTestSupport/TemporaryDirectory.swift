import Foundation

/// A fresh directory under the system's temp folder, removed by `remove()` (call it in a
/// `defer`). Each test gets its own, so tests running in parallel never share files.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "baton-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let path = base + "/" + label + "-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        self.path = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    /// Writes `text` to `relativePath`, creating folders on the way.
    public func write(_ relativePath: String, _ text: String) throws {
        try write(relativePath, bytes: Array(text.utf8))
    }

    public func write(_ relativePath: String, bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + "/" + relativePath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
