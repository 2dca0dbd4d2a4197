import BatonTestSupport
import Foundation
@testable import Kube
import Testing

/// Query values and path segments as the client writes them into URLs, checked against
/// Foundation's percent-encoding with the same allowed characters (what the client used before).
@Suite("Kube: percent-encoding of query values and path segments")
struct PercentEncodingTests {
    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    @Test("label selectors, field selectors and names encode as Foundation encodes them")
    func examples() {
        #expect(KubeClient.queryComponent("app.kubernetes.io/managed-by=baton,tier in (web, api)")
            == "app.kubernetes.io%2Fmanaged-by%3Dbaton%2Ctier%20in%20%28web%2C%20api%29")
        #expect(KubeClient.queryComponent("metadata.name!=x") == "metadata.name%21%3Dx")
        #expect(KubeClient.queryComponent("plain-value_1.2~3") == "plain-value_1.2~3")
        #expect(KubeClient.queryComponent("é") == "%C3%A9")
        #expect(KubeClient.queryComponent("") == "")
        #expect(KubeClient.pathSegment("system:serviceaccount@x/y z") == "system:serviceaccount@x%2Fy%20z")
    }

    @Test("random text, ASCII and beyond, encodes byte for byte as Foundation does", arguments: [1, 2, 3])
    func random(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let alphabet = Array("aZ09-._~ !\"#$%&'()*+,/:;<=>?@[\\]^`{|}\u{7f}\u{1}é€😀")
        for _ in 0..<500 {
            let text = String((0..<Int.random(in: 0..<16, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            #expect(KubeClient.queryComponent(text) == text.addingPercentEncoding(withAllowedCharacters: Self.unreserved))
            #expect(KubeClient.pathSegment(text)
                == text.addingPercentEncoding(withAllowedCharacters: Self.unreserved.union(CharacterSet(charactersIn: ":@"))))
        }
    }
}
