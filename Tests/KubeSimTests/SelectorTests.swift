@testable import KubeSim
import Testing

@Suite("KubeSim: label and field selectors")
struct SelectorTests {
    @Test("label selectors match as Kubernetes matches them", arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app=db", false), ("tier", true), ("!tier", false),
        ("missing", false), ("!missing", true), ("env in (dev,staging)", true), ("env in (prod)", false),
        ("env notin (prod)", true), ("env notin (dev, prod)", false), ("app=web,env in (dev),!missing", true), ("", true),
        ("missing!=x", true),
    ])
    func labels(_ selector: String, _ expected: Bool) throws {
        let labels = ["app": "web", "tier": "front", "env": "dev"]
        #expect(try LabelSelector(parsing: selector).matches(labels) == expected)
    }

    @Test("malformed label selectors are errors", arguments: ["env in dev", "a b=c", "=x"])
    func malformed(_ selector: String) {
        #expect(throws: SelectorError.self) { try LabelSelector(parsing: selector) }
    }

    @Test("field selectors on name and namespace")
    func fields() throws {
        #expect(try FieldSelector(parsing: "metadata.name=web").matches(name: "web", namespace: "a"))
        #expect(try !FieldSelector(parsing: "metadata.name=web,metadata.namespace!=a").matches(name: "web", namespace: "a"))
        #expect(throws: SelectorError.self) { try FieldSelector(parsing: "spec.replicas=1") }
    }
}
