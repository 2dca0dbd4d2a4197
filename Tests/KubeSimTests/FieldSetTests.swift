import BatonCore
import Foundation
@testable import KubeSim
import Testing

/// `FieldSet.changes(from:to:)`, the one-walk differ every update goes through, against its
/// definition: the paths of one side filtered by looking each up on the other side.
@Suite("KubeSim: field paths an update changed")
struct FieldSetTests {
    static func byDefinition(_ before: JSONValue, _ after: JSONValue) -> (changed: Set<FieldPath>, removed: Set<FieldPath>) {
        (FieldSet.paths(of: after).filter { FieldSet.value(in: before, at: $0) != FieldSet.value(in: after, at: $0) },
         FieldSet.paths(of: before).filter { FieldSet.value(in: after, at: $0) == nil })
    }

    static func container(_ name: String, image: String, ports: [JSONValue] = [], env: [JSONValue]? = nil) -> JSONValue {
        var fields: [String: JSONValue] = ["name": .string(name), "image": .string(image)]
        if !ports.isEmpty { fields["ports"] = .array(ports) }
        if let env { fields["env"] = .array(env) }
        return .object(fields)
    }

    static func deployment(_ containers: [JSONValue], replicas: Int64 = 2, annotations: [String: JSONValue] = [:], extra: JSONValue? = nil) -> JSONValue {
        var metadata: [String: JSONValue] = ["name": "web", "labels": ["app": "web"]]
        if !annotations.isEmpty { metadata["annotations"] = .object(annotations) }
        var spec: [String: JSONValue] = ["replicas": .int(replicas), "selector": .object(["matchLabels": ["app": "web"]]),
                                         "template": .object(["spec": .object(["containers": .array(containers)])])]
        if let extra { spec["extra"] = extra }
        return .object(["metadata": .object(metadata), "spec": .object(spec)])
    }

    static let pairs: [(String, JSONValue, JSONValue)] = {
        let web = container("web", image: "nginx:1", ports: [.object(["containerPort": 80])], env: [.object(["name": "A", "value": "1"])])
        let base = deployment([web])
        return [
            ("identical", base, base),
            ("a scalar changed", base, deployment([web], replicas: 3)),
            ("an annotation added", base, deployment([web], annotations: ["deployment.kubernetes.io/revision": "1"])),
            ("an element's field changed", base, deployment([container("web", image: "nginx:2", ports: [.object(["containerPort": 80])],
                                                                       env: [.object(["name": "A", "value": "1"])])])),
            ("an element added and one removed", base, deployment([container("side", image: "busybox")])),
            ("a keyed list emptied", base, deployment([container("web", image: "nginx:1", ports: [.object(["containerPort": 80])], env: [])])),
            ("a port's protocol defaulted on one side", base,
             deployment([container("web", image: "nginx:1", ports: [.object(["containerPort": 80, "protocol": "TCP"])],
                                   env: [.object(["name": "A", "value": "1"])])])),
            ("a list keyed differently on each side", deployment([web], extra: .object(["ports": [.object(["port": 80])]])),
             deployment([web], extra: .object(["ports": [.object(["containerPort": 80])]]))),
            ("a map became a scalar", deployment([web], extra: .object(["a": .object(["b": 1])])), deployment([web], extra: .object(["a": 2]))),
            ("a scalar became a map", deployment([web], extra: .object(["a": 2])), deployment([web], extra: .object(["a": .object(["b": 1])]))),
            ("an atomic list changed", deployment([web], extra: .object(["args": ["a", "b"]])), deployment([web], extra: .object(["args": ["b"]]))),
            ("an empty map on one side", deployment([web], extra: .object([:])), deployment([web], extra: .object(["x": 1]))),
            ("duplicate keys in a list", deployment([web, web]), deployment([web, container("web", image: "nginx:3")])),
            ("everything removed", base, .object([:])),
        ]
    }()

    @Test("the changed and removed paths are those of the definition", arguments: pairs.indices)
    func sameAsDefinition(_ index: Int) {
        let (name, before, after) = Self.pairs[index]
        let fast = FieldSet.changes(from: before, to: after)
        let expected = Self.byDefinition(before, after)
        #expect(fast.changed == expected.changed, "\(name): changed")
        #expect(fast.removed == expected.removed, "\(name): removed")
    }

    @Test("a real change is seen: the paths name the field that moved")
    func namesTheField() {
        let before = Self.deployment([Self.container("web", image: "nginx:1")])
        let after = Self.deployment([Self.container("web", image: "nginx:2")], replicas: 5)
        let changes = FieldSet.changes(from: before, to: after)
        #expect(changes.changed.map(FieldSet.describe).sorted() == [".spec.replicas", ".spec.template.spec.containers[name=\"web\"]",
                                                                     ".spec.template.spec.containers[name=\"web\"].image"])
        #expect(changes.removed.isEmpty)
    }
}
