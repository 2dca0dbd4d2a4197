import BatonCore
import Foundation
import Testing

/// FNV-1a 64: the published test vectors, whichever way the bytes come.
@Suite("BatonCore: FNV-1a")
struct FNV1aTests {
    @Test("the reference vectors, from a string's UTF-8, Data, an array and a sequence that is not contiguous",
          arguments: [("", 0xcbf2_9ce4_8422_2325 as UInt64), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8)])
    func vectors(text: String, expected: UInt64) {
        #expect(FNV1a.hash(text.utf8) == expected)
        #expect(FNV1a.hash(Data(text.utf8)) == expected)
        #expect(FNV1a.hash(Array(text.utf8)) == expected)
        #expect(FNV1a.hash(text.utf8.lazy.map { $0 }) == expected)
        #expect(FNV1a.hash(Data(text.utf8).dropFirst(0)) == expected)
    }
}
