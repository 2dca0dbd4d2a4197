/// A place in a configuration file: 1-based line and column (columns count Unicode scalars).
public struct SourcePosition: Sendable, Hashable, Comparable, Codable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: SourcePosition, b: SourcePosition) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// One problem in the configuration, printed as `FILE:LINE:COLUMN: KEY.PATH: message`.
public struct ConfigIssue: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file as the user named it (relative to the working directory when they gave a
    /// relative folder), or the folder itself for problems that belong to no file.
    public var file: String
    /// Where in the file; nil for problems with the file as a whole (unreadable, missing).
    public var position: SourcePosition?
    /// The key path inside the document, such as `stages[2].gates[0].prometheus.max`; empty
    /// for problems with the document itself (syntax, encoding, several documents).
    public var keyPath: String
    public var message: String

    public init(file: String, position: SourcePosition?, keyPath: String, message: String) {
        self.file = file
        self.position = position
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var text = file
        if let position { text += ":\(position.line):\(position.column)" }
        text += ": "
        if !keyPath.isEmpty { text += keyPath + ": " }
        return text + message
    }
}

/// Every problem found in one load of the configuration, in file and position order.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public init(issues: [ConfigIssue]) {
        self.issues = issues.sorted {
            ($0.file, $0.position?.line ?? 0, $0.position?.column ?? 0) <
                ($1.file, $1.position?.line ?? 0, $1.position?.column ?? 0)
        }
    }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}
