internal import CGit2
import Foundation
import Synchronization

/// Guards against a libgit2 1.5 bug: reading a loose object whose zlib stream is truncated
/// loops forever inside inflate, whichever libgit2 call reads it (a lookup, a revision
/// walk, `HEAD~2`). Before each operation the store checks every loose object file not seen
/// yet (new files are found through the fan-out folders' modification times) and refuses to
/// work while one is damaged, naming it: a damaged config repository must not be deployed
/// from, and an error is better than a hung reconciler.
///
/// One check per objects folder in the process, shared by every store open on it (`shared`):
/// 500 pipelines on one repository each kept the ids of all its loose objects (about 80 MiB
/// together) and inflated every new object 500 times.
final class LooseObjectCheck: Sendable {
    private struct Seen {
        var folderStamps: [UInt8: timespec] = [:]
        /// The loose objects checked, by fan-out folder: the 38 characters after it.
        var checked: [UInt8: Set<String>] = [:]
        var damaged: [String: String] = [:]
    }

    private let objects: String
    private let seen = Mutex(Seen())

    private init(objects: String) {
        self.objects = objects
    }

    private final class WeakCheck: Sendable {
        weak let check: LooseObjectCheck?
        init(_ check: LooseObjectCheck) { self.check = check }
    }

    private static let registry = Mutex<[String: WeakCheck]>([:])

    /// The check of the repository whose git folder is `gitDirectory`, made when no store
    /// open on it has one; released with the last store using it.
    static func shared(gitDirectory: String) -> LooseObjectCheck {
        let objects = (gitDirectory.hasSuffix("/") ? gitDirectory : gitDirectory + "/") + "objects"
        return registry.withLock { map in
            if let check = map[objects]?.check { return check }
            map = map.filter { $0.value.check != nil }
            let check = LooseObjectCheck(objects: objects)
            map[objects] = WeakCheck(check)
            return check
        }
    }

    /// Throws `.corrupt` naming a damaged loose object, if the repository has one. Stores on
    /// the same repository wait for each other here: the first after a change reads the new
    /// files, the others find the folders as it left them.
    func verify() throws {
        let problem: (String, String)? = seen.withLock { seen in
            // A damaged object is read again at every operation (there is rarely one): once
            // repaired or removed, it no longer stops the repository.
            for (id, path) in seen.damaged {
                let data = FileManager.default.contents(atPath: path)
                if data.map({ Self.inflatesCompletely(Array($0)) }) ?? true { seen.damaged[id] = nil }
            }
            for byte in 0..<256 {
                let fanOut = UInt8(byte)
                let name = (byte < 16 ? "0" : "") + String(byte, radix: 16)
                let folder = objects + "/" + name
                var info = stat()
                guard stat(folder, &info) == 0 else { continue }
                if let stamp = seen.folderStamps[fanOut], stamp.tv_sec == info.st_mtim.tv_sec, stamp.tv_nsec == info.st_mtim.tv_nsec {
                    continue
                }
                seen.folderStamps[fanOut] = info.st_mtim
                for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where file.utf8.count == 38 {
                    guard seen.checked[fanOut, default: []].insert(file).inserted else { continue }
                    guard let data = FileManager.default.contents(atPath: folder + "/" + file) else { continue }
                    if !Self.inflatesCompletely(Array(data)) { seen.damaged[name + file] = folder + "/" + file }
                }
            }
            return seen.damaged.min { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        if let (id, path) = problem {
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
