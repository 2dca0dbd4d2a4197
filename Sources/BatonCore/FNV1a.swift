import Foundation

/// FNV-1a, 64 bits: a fast, stable, non-cryptographic hash for names and cache keys (content
/// hashes of objects, mirror folder names, pod-template hashes). Never for anything an attacker
/// must not be able to collide.
public enum FNV1a {
    public static func hash<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        // Contiguous bytes (Data, arrays) are read through a pointer: Data's iterator costs
        // a call per byte.
        if let value = bytes.withContiguousStorageIfAvailable({ hash(buffer: $0) }) { return value }
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
        return value
    }

    public static func hash(_ data: Data) -> UInt64 {
        data.withUnsafeBytes { hash(buffer: $0.bindMemory(to: UInt8.self)) }
    }

    private static func hash(buffer: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in buffer {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
        return value
    }
}
