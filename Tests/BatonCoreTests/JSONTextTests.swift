@testable import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// JSON reading and writing of `JSONValue`.
@Suite("BatonCore: JSON text")
struct JSONTextTests {
    @Test("reads every JSON construct, escapes and surrogate pairs included")
    func reads() throws {
        let text = #"  {"a": [1, -2, 3.5, 1e3, -0.25E-2, true, false, null, "x\"y\\z\/\u00e9\ud83d\ude00\n\t"], "b": {}, "c": [], "d": "plain é"} "#
        let value = try JSONValue.parse(Data(text.utf8))
        #expect(value == .object([
            "a": .array([.int(1), .int(-2), .double(3.5), .double(1000), .double(-0.0025), .bool(true), .bool(false), .null,
                         .string("x\"y\\z/é😀\n\t")]),
            "b": .object([:]), "c": .array([]), "d": .string("plain é"),
        ]))
        #expect(try JSONValue.parse(Data("9223372036854775807".utf8)) == .int(Int64.max))
        #expect(try JSONValue.parse(Data("92233720368547758070".utf8)) == .double(9.2233720368547758e19))
    }

    @Test("writes compact JSON with sorted keys that Foundation reads back the same", arguments: [1, 2, 3, 4, 5])
    func roundTrip(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        func make(_ depth: Int) -> JSONValue {
            let pick = depth > 3 ? Int.random(in: 0..<5, using: &random) : Int.random(in: 0..<7, using: &random)
            switch pick {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &random))
            case 2: return .int(Int64.random(in: -1_000_000_000_000...1_000_000_000_000, using: &random))
            // Not integral: an integral double is written without a fraction and reads back as an int.
            case 3: return .double(Double(Int.random(in: -100_000...100_000, using: &random)) / 64 + 1.0 / 128)
            case 4:
                let alphabet = Array("ab\"\\/\n\t\u{1}é😀 {}[],:")
                return .string(String((0..<Int.random(in: 0..<12, using: &random)).map { _ in alphabet.randomElement(using: &random)! }))
            case 5: return .array((0..<Int.random(in: 0..<5, using: &random)).map { _ in make(depth + 1) })
            default:
                var members: [String: JSONValue] = [:]
                for index in 0..<Int.random(in: 0..<5, using: &random) { members["k\(index)\(["", "\"", "é"].randomElement(using: &random)!)"] = make(depth + 1) }
                return .object(members)
            }
        }
        for _ in 0..<200 {
            let value = make(0)
            let data = value.encoded()
            #expect(try JSONValue.parse(data) == value, "\(String(decoding: data, as: UTF8.self))")
            #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) }
        }
        #expect(String(decoding: JSONValue.object(["b": 1, "a": ["x/y", .double(2.5), .double(3.0)]]).encoded(), as: UTF8.self) == #"{"a":["x/y",2.5,3],"b":1}"#)
    }

    @Test("malformed JSON is a syntax error naming the byte; what is not YAML either fails to parse", arguments: [
        (#"{"a": }"#, 6), (#"[1, 2"#, 5), (#"{"a" 1}"#, 5), ("\"unterminated", 13), (#"{"a": 1} x"#, 9), (#"[01.]"#, 4),
    ])
    func malformed(_ text: String, _ offset: Int) {
        #expect { try JSONText.parse(Data(text.utf8)) } throws: { ($0 as? JSONText.SyntaxError)?.offset == offset }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect { try JSONText.parse(Data(deep.utf8)) } throws: { ($0 as? JSONText.SyntaxError)?.message == "nested more than 512 deep" }
        #expect(throws: (any Error).self) { try JSONValue.parse(Data("[1, 2".utf8)) }
    }

    @Test("YAML manifests parse through the same entry point, typed as Kubernetes reads them")
    func yaml() throws {
        let value = try JSONValue.parse(Data("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: x, labels: {index: "7"}}
            data:
              replicas: 3
              ratio: 0.5
              on: true
              empty:
              quoted: "3"
            """.utf8))
        #expect(value[path: ["metadata", "labels", "index"]] == .string("7"))
        #expect(value[path: ["data", "replicas"]] == .int(3))
        #expect(value[path: ["data", "ratio"]] == .double(0.5))
        #expect(value[path: ["data", "on"]] == .bool(true))
        #expect(value[path: ["data", "empty"]] == .null)
        #expect(value[path: ["data", "quoted"]] == .string("3"))
    }
}
