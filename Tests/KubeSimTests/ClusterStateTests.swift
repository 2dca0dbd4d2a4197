import BatonCore
import Foundation
@testable import KubeSim
import Testing

/// The store's rules without HTTP: server-side apply ownership, generation, validation, watch.
@Suite("KubeSim: object store rules")
struct ClusterStateTests {
    static let deployments = ResourceType.builtIn.first { $0.kind == "Deployment" }!
    static let configMaps = ResourceType.builtIn.first { $0.kind == "ConfigMap" }!

    static func deployment(replicas: Int64 = 2, image: String = "nginx:1", labels: [String: JSONValue] = ["app": "web"],
                           extraEnv: Bool = false) -> Data {
        var container: [String: JSONValue] = ["name": "web", "image": .string(image)]
        if extraEnv { container["env"] = [.object(["name": "MODE", "value": "fast"])] }
        let object: JSONValue = .object([
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": .object(["name": "web", "labels": .object(labels)]),
            "spec": .object(["replicas": .int(replicas), "selector": .object(["matchLabels": ["app": "web"]]),
                             "template": .object(["metadata": .object(["labels": ["app": "web"]]),
                                                  "spec": .object(["containers": [.object(container)]])])]),
        ])
        return object.encoded()
    }

    @Test("apply creates, re-apply of the same config changes nothing, a spec change bumps generation")
    func applyIdempotent() async throws {
        let state = ClusterState()
        let first = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(), manager: "baton", force: false)
        #expect(first[path: ["metadata", "generation"]] == .int(1))
        let again = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(), manager: "baton", force: false)
        #expect(again[path: ["metadata", "resourceVersion"]] == first[path: ["metadata", "resourceVersion"]])
        let relabelled = try await state.apply(Self.deployments, namespace: "default", name: "web",
                                               body: Self.deployment(labels: ["app": "web", "team": "a"]), manager: "baton", force: false)
        #expect(relabelled[path: ["metadata", "generation"]] == .int(1))
        let scaled = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(replicas: 3), manager: "baton", force: false)
        #expect(scaled[path: ["metadata", "generation"]] == .int(2))
        #expect(scaled[path: ["spec", "replicas"]] == .int(3))
    }

    @Test("fields a manager stops applying are removed unless another manager owns them")
    func removal() async throws {
        let state = ClusterState()
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web",
                                  body: Self.deployment(labels: ["app": "web", "team": "a", "tier": "x"], extraEnv: true), manager: "baton", force: false)
        // Another manager also applies the "tier" label with the same value: shared ownership.
        let other: JSONValue = .object(["apiVersion": "apps/v1", "kind": "Deployment",
                                        "metadata": .object(["name": "web", "labels": ["tier": "x"]])])
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: other.encoded(), manager: "other", force: false)
        let after = try await state.apply(Self.deployments, namespace: "default", name: "web",
                                          body: Self.deployment(labels: ["app": "web"]), manager: "baton", force: false)
        #expect(after[path: ["metadata", "labels"]] == .object(["app": "web", "tier": "x"]))
        #expect(after[path: ["spec", "template", "spec", "containers"]]?.array?.first?["env"] == nil)
    }

    @Test("keyed lists merge by key: two managers own different containers' fields")
    func keyedLists() async throws {
        let state = ClusterState()
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(), manager: "baton", force: false)
        let sidecar: JSONValue = .object(["apiVersion": "apps/v1", "kind": "Deployment", "metadata": .object(["name": "web"]),
                                          "spec": .object(["template": .object(["spec": .object(["containers": [.object(["name": "proxy", "image": "envoy:1"])]])])])])
        let merged = try await state.apply(Self.deployments, namespace: "default", name: "web", body: sidecar.encoded(), manager: "mesh", force: false)
        let names = merged[path: ["spec", "template", "spec", "containers"]]?.array?.compactMap { $0["name"]?.string }
        #expect(names == ["web", "proxy"])
    }

    @Test("a conflicting apply is a 409 naming the field and manager; force takes the field over")
    func conflict() async throws {
        let state = ClusterState()
        _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(), manager: "baton", force: false)
        do {
            _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(image: "nginx:2"), manager: "ci", force: false)
            Issue.record("no conflict")
        } catch {
            #expect(error.code == 409)
            #expect(error.message == #"Apply failed with 1 conflict: conflict with "baton" using apps/v1: .spec.template.spec.containers[name="web"].image"#)
        }
        let forced = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(image: "nginx:2"), manager: "ci", force: true)
        #expect(forced[path: ["spec", "template", "spec", "containers"]]?.array?.first?["image"] == "nginx:2")
        // baton no longer owns the image, so its next apply with the old image conflicts with ci.
        await #expect(throws: APIError.self) {
            _ = try await state.apply(Self.deployments, namespace: "default", name: "web", body: Self.deployment(), manager: "baton", force: false)
        }
    }

    @Test("invalid names, unknown namespaces, wrong kinds and stale versions are refused with the right status")
    func validation() async throws {
        let state = ClusterState()
        func create(_ object: JSONValue, namespace: String = "default") async -> APIError? {
            do {
                _ = try await state.create(Self.configMaps, namespace: namespace, body: object, manager: "t")
                return nil
            } catch { return error }
        }
        let bad = await create(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "Bad_Name"])]))
        #expect(bad?.code == 422)
        #expect(bad?.reason == "Invalid")
        #expect(bad?.details?["causes"]?.array?.first?["field"] == "metadata.name")
        #expect(await create(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "a"])]), namespace: "nope")?.code == 404)
        #expect(await create(.object(["apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": .object(["name": "a"])]))?.code == 400)
        let ok = try await state.create(Self.configMaps, namespace: "default",
                                        body: .object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "a"])]), manager: "t")
        #expect(await create(.object(["apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": "a"])]))?.reason == "AlreadyExists")
        var stale = ok
        stale[path: ["metadata", "resourceVersion"]] = "1"
        stale["data"] = .object(["k": "v"])
        await #expect(throws: APIError.self) {
            _ = try await state.replace(Self.configMaps, namespace: "default", name: "a", body: stale, manager: "t")
        }
        var current = ok
        current["data"] = .object(["k": "v"])
        let replaced = try await state.replace(Self.configMaps, namespace: "default", name: "a", body: current, manager: "t")
        #expect(replaced["data"] == .object(["k": "v"]))
        #expect(replaced[path: ["metadata", "resourceVersion"]] != ok[path: ["metadata", "resourceVersion"]])
    }

    @Test("lists page with limit and continue; watches resume from a version and say Gone when it is too old")
    func pagingAndWatch() async throws {
        let state = ClusterState(historyLimit: 50)
        for i in 0..<120 {
            _ = try await state.create(Self.configMaps, namespace: "default", body: .object([
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": .object(["name": .string("cm-\(1000 + i)"), "labels": ["odd": .string(i % 2 == 1 ? "yes" : "no")]]),
            ]), manager: "t")
        }
        var names: [String] = []
        var token: String?
        repeat {
            let page = try await state.list(Self.configMaps, namespace: "default", labels: .everything, fields: nil, limit: 50, continueToken: token)
            names += page.items.compactMap { $0[path: ["metadata", "name"]]?.string }
            token = page.next
        } while token != nil
        #expect(names == (0..<120).map { "cm-\(1000 + $0)" })
        let odd = try await state.list(Self.configMaps, namespace: nil, labels: try LabelSelector(parsing: "odd=yes"), fields: nil, limit: nil, continueToken: nil)
        #expect(odd.items.count == 60)

        let revision = await state.revision
        let stream = try await state.watch(Self.configMaps, namespace: "default", labels: .everything, fields: nil, since: String(revision))
        _ = try await state.delete(Self.configMaps, namespace: "default", name: "cm-1000")
        var iterator = stream.makeAsyncIterator()
        let event = await iterator.next()
        #expect(event?.kind == .deleted)
        #expect(event?.object[path: ["metadata", "name"]] == "cm-1000")
        await #expect(throws: APIError.self) {
            _ = try await state.watch(Self.configMaps, namespace: "default", labels: .everything, fields: nil, since: "5")
        }
    }
}

@Suite("KubeSim: state that survives a restart")
struct SnapshotTests {
    @Test("a snapshot restores objects, field owners, the version counter and custom kinds")
    func roundTrip() async throws {
        let state = ClusterState()
        _ = try await state.apply(ClusterStateTests.deployments, namespace: "default", name: "web",
                                  body: ClusterStateTests.deployment(), manager: "baton", force: false)
        let crds = ResourceType.builtIn.first { $0.kind == "CustomResourceDefinition" }!
        let crd: JSONValue = ["apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                              "metadata": ["name": "widgets.example.com"],
                              "spec": ["group": "example.com", "scope": "Namespaced",
                                       "names": ["plural": "widgets", "kind": "Widget"], "versions": [["name": "v1", "served": true, "storage": true]]]]
        _ = try await state.create(crds, namespace: "", body: crd, manager: "t")
        let restored = ClusterState()
        try await restored.restore(await state.snapshot())
        #expect(await restored.revision == state.revision)
        #expect(try await restored.get(ClusterStateTests.deployments, namespace: "default", name: "web")
            == state.get(ClusterStateTests.deployments, namespace: "default", name: "web"))
        #expect(await restored.type(plural: "widgets", group: "example.com")?.kind == "Widget")
        // Ownership came along: another manager changing baton's image conflicts.
        await #expect(throws: APIError.self) {
            _ = try await restored.apply(ClusterStateTests.deployments, namespace: "default", name: "web",
                                         body: ClusterStateTests.deployment(image: "other:1"), manager: "ci", force: false)
        }
        await #expect(throws: (any Error).self) { try await restored.restore(Data("not json".utf8)) }
    }

    @Test("a server-side apply without apiVersion is refused as kube-apiserver refuses it; a POST without TypeMeta is typed from the URL")
    func typeMeta() async throws {
        let state = ClusterState()
        let bare: JSONValue = ["metadata": ["name": "bare"], "data": ["a": "1"]]
        let created = try await state.create(ClusterStateTests.configMaps, namespace: "default", body: bare, manager: "typed-client")
        #expect(created["apiVersion"] == "v1" && created["kind"] == "ConfigMap")
        do {
            _ = try await state.apply(ClusterStateTests.configMaps, namespace: "default", name: "bare", body: bare.encoded(), manager: "m", force: false)
            Issue.record("an apply without apiVersion was accepted")
        } catch {
            #expect(error.code == 400)
            #expect(error.message == "Incorrect version specified in apply patch. Specified patch version: , expected: v1", "\(error.message)")
        }
    }

    @Test("a deleted namespace is Terminating until the namespace controller has removed what is in it; nothing new may be created meanwhile")
    func terminatingNamespace() async throws {
        let state = ClusterState()
        let namespaces = ResourceType.builtIn.first { $0.kind == "Namespace" }!
        _ = try await state.create(namespaces, namespace: "", body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "py"]], manager: "t")
        _ = try await state.create(ClusterStateTests.configMaps, namespace: "py", body: ["metadata": ["name": "old"]], manager: "t")
        let deleted = try await state.delete(namespaces, namespace: "", name: "py")
        #expect(deleted[path: ["status", "phase"]] == "Terminating" && deleted[path: ["metadata", "deletionTimestamp"]] != nil)
        #expect(try await state.get(namespaces, namespace: "", name: "py")[path: ["status", "phase"]] == "Terminating")
        do {
            _ = try await state.create(ClusterStateTests.configMaps, namespace: "py", body: ["metadata": ["name": "new"]], manager: "t")
            Issue.record("an object was created in a terminating namespace")
        } catch {
            #expect(error.code == 403 && error.reason == "Forbidden")
            #expect(error.message == "configmaps \"new\" is forbidden: unable to create new content in namespace py because it is being terminated")
        }
        // What is there may still change until it goes.
        _ = try await state.patch(ClusterStateTests.configMaps, namespace: "py", name: "old", contentType: "application/merge-patch+json",
                                  body: Data(#"{"data": {"a": "1"}}"#.utf8), manager: "t")
        await state.finishTerminatingNamespaces()
        await #expect(throws: APIError.self) { _ = try await state.get(ClusterStateTests.configMaps, namespace: "py", name: "old") }
        await #expect(throws: APIError.self) { _ = try await state.get(namespaces, namespace: "", name: "py") }
    }
}
