internal import CGit2
import Foundation

/// libgit2's process-wide setup, done once before the first repository is opened: the library
/// initialised, and its config search paths emptied so that no global, XDG or system git
/// configuration (here `/etc/gitconfig` rewrites github.com URLs) changes what Baton does.
public enum LibGit2 {
    private static let setUp: Bool = {
        git_libgit2_init()
        for level in [GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL] {
            _ = cgit2_set_search_path(level.rawValue, "")
        }
        _ = cgit2_set_user_agent("baton")
        // Every open repository's decoded objects count against one limit (libgit2's default is
        // 256 MiB); Baton keeps what it renders in caches of its own, and a coordinator with
        // hundreds of pipelines opens hundreds of handles.
        _ = cgit2_set_cache_max_size(4 << 20)
        return true
    }()

    static func ensureInitialised() {
        precondition(setUp)
    }

    /// Where libgit2 looks for the global, XDG, system and program-data configuration, in
    /// that order: all empty once GitStore has set libgit2 up.
    public static func configSearchPaths() -> [String] {
        ensureInitialised()
        return [GIT_CONFIG_LEVEL_GLOBAL, GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_SYSTEM, GIT_CONFIG_LEVEL_PROGRAMDATA].map { level in
            var buffer = git_buf()
            defer { git_buf_dispose(&buffer) }
            guard cgit2_get_search_path(level.rawValue, &buffer) == 0, let text = buffer.ptr else { return "?" }
            return String(cString: text)
        }
    }
}

extension ObjectID {
    init(_ oid: UnsafePointer<git_oid>) {
        self.init(bytes: withUnsafeBytes(of: oid.pointee.id) { Array($0) })
    }

    init(_ oid: git_oid) {
        self.init(bytes: withUnsafeBytes(of: oid.id) { Array($0) })
    }

    var oid: git_oid {
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { raw in
            for (i, byte) in bytes.enumerated() where i < raw.count { raw[i] = byte }
        }
        return oid
    }
}

/// Calls `body` with a C string array holding `strings`, valid for the call only.
func withStrArray<T>(_ strings: [String], _ body: (inout git_strarray) throws -> T) rethrows -> T {
    var cStrings = strings.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    return try cStrings.withUnsafeMutableBufferPointer { buffer in
        var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
        return try body(&array)
    }
}
