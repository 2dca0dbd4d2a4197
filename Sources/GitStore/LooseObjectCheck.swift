internal import CGit2
import Foundation

/// Guards against a libgit2 1.5 bug: reading a loose object whose zlib stream is truncated
/// loops forever inside inflate, whichever libgit2 call reads it (a lookup, a revision
/// walk, `HEAD~2`). Before each operation the store checks every loose object file it has
/// not seen yet (new files are found through the fan-out folders' modification times) and
/// refuses to work while one is damaged, naming it: a damaged config repository must not be
/// deployed from, and an error is better than a hung reconciler.
///
/// Confined to the owning store's queue.
final class LooseObjectCheck {
    private let objects: String
    private var folderStamps: [String: timespec] = [:]
    private var checked: Set<String> = []
    private var damaged: [String: String] = [:]

    init(gitDirectory: String) {
        objects = (gitDirectory.hasSuffix("/") ? gitDirectory : gitDirectory + "/") + "objects"
    }

    /// Throws `.corrupt` naming a damaged loose object, if the repository has one.
    func verify() throws {
        for byte in 0..<256 {
            let name = (byte < 16 ? "0" : "") + String(byte, radix: 16)
            let folder = objects + "/" + name
            var info = stat()
            guard stat(folder, &info) == 0 else { continue }
            if let seen = folderStamps[name], seen.tv_sec == info.st_mtim.tv_sec, seen.tv_nsec == info.st_mtim.tv_nsec {
                continue
            }
            folderStamps[name] = info.st_mtim
            for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where file.count == 38 {
                let id = name + file
                guard !checked.contains(id) else { continue }
                checked.insert(id)
                guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
                if !Self.inflatesCompletely(Array(data)) { damaged[id] = folder + "/" + file }
            }
        }
        if let (id, path) = damaged.min(by: { $0.key < $1.key }) {
            throw GitStoreError(.corrupt, "object \(id) is damaged (\(path) is truncated or not zlib data); repair the repository (git fsck) before Baton reads it",
                                function: "inflate")
        }
    }

    /// Whether `data` is one complete zlib stream.
    static func inflatesCompletely(_ data: [UInt8]) -> Bool {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return false }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: 16_384)
        return data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            while true {
                let rc = output.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                if rc == Z_STREAM_END { return true }
                // A data error, or the input ran out before the stream's end.
                if rc != Z_OK || (stream.avail_in == 0 && stream.avail_out != 0) { return false }
            }
        }
    }
}
