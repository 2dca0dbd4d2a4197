/// What one revision of an environment's source may hold before it is refused unread: a
/// commit is what an attacker with push access controls, and `baton run` renders every
/// pipeline's commits in one process. The defaults sit far above ordinary apps (the largest
/// CRD bundles in common use included); `source.limits` raises or lowers them per environment.
public struct SourceLimits: Sendable, Hashable, Codable {
    /// Bytes of one manifest file (plain rendering).
    public var fileBytes: Int
    /// Bytes of the whole revision: the files read, or Kustomize's output.
    public var revisionBytes: Int
    /// Objects the revision renders.
    public var objects: Int
    /// YAML nodes one file may expand to (aliases included: a few hundred kilobytes of them can
    /// stand for billions of nodes).
    public var fileNodes: Int
    /// YAML nodes the whole revision may expand to.
    public var revisionNodes: Int

    public init(fileBytes: Int = 8 << 20, revisionBytes: Int = 64 << 20, objects: Int = 10_000,
                fileNodes: Int = 250_000, revisionNodes: Int = 1_000_000) {
        self.fileBytes = fileBytes
        self.revisionBytes = revisionBytes
        self.objects = objects
        self.fileNodes = fileNodes
        self.revisionNodes = revisionNodes
    }

    private static let units = [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)]

    /// A byte count for people, in the configuration's largest unit that divides it (`8Mi`),
    /// else `N bytes`.
    public static func text(bytes count: Int) -> String {
        for (suffix, factor) in units.reversed() where count % factor == 0 { return "\(count / factor)\(suffix)" }
        return "\(count) bytes"
    }

    /// `4096`, `512Ki`, `8Mi`, `1Gi`: a byte count as written in the configuration.
    public static func bytes(_ text: String) -> Int? {
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let count = Int(text.dropLast(2)), count > 0, count <= Int.max / factor else { return nil }
            return count * factor
        }
        guard let count = Int(text), count > 0 else { return nil }
        return count
    }
}
