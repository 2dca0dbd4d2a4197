import BatonCore
import Foundation
import Reconciler
import Testing

/// The one use of field ownership in a diff: differences in fields no manager owns are a
/// mutating webhook's and do not make an object OutOfSync. KubeSim runs no admission
/// webhooks, so these compare objects shaped as kube-apiserver returns them (its managedFields
/// in FieldsV1) rather than a sync through one; the end-to-end case is not tested here.
@Suite("Diff: what mutating webhooks add is discounted, nothing else")
struct OwnershipDiffTests {
    /// A dry run's answer: Baton owns replicas, the tracking annotation and its container's
    /// image; `kubectl edit` owns `paused`; a webhook added an annotation and a sidecar (owned
    /// by nobody).
    static func dryRun(injectedAt: String = "2026-12-03T08:00:02Z", proxy: String = "proxy:7") throws -> JSONValue {
        try JSONValue.parse(Data("""
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "41",
               "annotations": {"baton.dev/tracking": "dev:apps/Deployment:shop/web", "sidecar.example.com/injected-at": "\(injectedAt)"},
               "managedFields": [
                 {"manager": "baton", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": {
                   "f:metadata": {"f:annotations": {"f:baton.dev/tracking": {}}},
                   "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                     "k:{\\"name\\":\\"main\\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
                 {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
                  "fieldsV1": {"f:spec": {"f:paused": {}}}}]},
             "spec": {"replicas": 2, "paused": false, "template": {"spec": {"containers": [
               {"name": "main", "image": "shop:1", "imagePullPolicy": "IfNotPresent"},
               {"name": "proxy", "image": "\(proxy)"}]}}},
             "status": {"replicas": 2}}
            """.utf8))
    }

    /// The live object: what the dry run says, with the webhook's values of the last admission.
    static func live(_ change: (inout JSONValue) -> Void = { _ in }) throws -> JSONValue {
        var object = try dryRun(injectedAt: "2026-12-01T10:00:00Z", proxy: "proxy:6")
        object[path: ["metadata", "managedFields"]] = nil
        object[path: ["metadata", "resourceVersion"]] = "40"
        change(&object)
        return object
    }

    @Test("a webhook's new timestamp and sidecar image are not a difference")
    func webhookFieldsAreDiscounted() throws {
        #expect(!Diff.same(try Self.dryRun(), try Self.live()))
        #expect(Diff.differsOnlyInUnownedFields(try Self.dryRun(), try Self.live()))
    }

    @Test("an owned field that differs counts, whoever owns it")
    func ownedFieldsCount() throws {
        let image = try Self.live { $0[path: ["spec", "template", "spec", "containers"]] = [["name": "main", "image": "shop:0", "imagePullPolicy": "IfNotPresent"],
                                                                                       ["name": "proxy", "image": "proxy:6"]] }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), image))
        let paused = try Self.live { $0[path: ["spec", "paused"]] = true }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), paused))
        let tracking = try Self.live { $0[path: ["metadata", "annotations", "baton.dev/tracking"]] = "someone-else" }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), tracking))
    }

    @Test("what the dry run removed counts: a field or a list element taken out of git")
    func removalsCount() throws {
        let field = try Self.live { $0[path: ["spec", "minReadySeconds"]] = 5 }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), field))
        let element = try Self.live { object in
            var containers = object[path: ["spec", "template", "spec", "containers"]]?.array ?? []
            containers.append(["name": "old", "image": "old:1"])
            object[path: ["spec", "template", "spec", "containers"]] = .array(containers)
        }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), element))
        let annotation = try Self.live { $0[path: ["metadata", "annotations", "team"]] = "shop" }
        #expect(!Diff.differsOnlyInUnownedFields(try Self.dryRun(), annotation))
    }
}
