import BatonCLI
#if canImport(Glibc)
import Glibc
#endif

/// The `baton` executable: the commands live in BatonCLI.
@main
struct Entrypoint {
    static func main() async {
        #if canImport(Glibc)
        // glibc gives each thread that allocates its own heap arena (up to 8 per core); with
        // the Dispatch, NIO and libcurl threads of `baton run` those arenas hold freed memory
        // that the process never uses again. Two arenas are enough for two-core machines and
        // the contention on them does not show in the benchmarks.
        // (mallopt is not in the Glibc module: found by name. M_ARENA_MAX is -8 in malloc.h.)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: Mallopt.self)(-8, 2)
        }
        #endif
        await Baton.runAndExit()
    }
}
