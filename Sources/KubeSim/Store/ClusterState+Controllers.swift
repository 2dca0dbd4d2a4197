import BatonCore
import Foundation

/// The controllers of kube-controller-manager whose objects a GitOps tool meets next to its own:
/// the endpoints and EndpointSlice controllers (which copy a Service's labels, so a label never
/// tells who created an object) and the part of the Deployment controller that makes a
/// ReplicaSet per pod template (which copies the Deployment's annotations).
extension ClusterState {
    static let controllerManager = "kube-controller-manager"

    /// One pass of the endpoints and EndpointSlice controllers over the Services `work` names
    /// (changed, or whose Endpoints or EndpointSlice changed).
    func runEndpointControllers(_ work: ControllerWork) {
        let endpointsType = ResourceType.core("Endpoints", "endpoints", status: false)
        let sliceType = ResourceType.grouped("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", status: false)
        var services = Set(pending(work, group: "", plural: "services"))
        if work.isFull {
            // Endpoints left behind by a Service deleted before this pass.
            for key in keys(group: "", plural: "endpoints") {
                services.insert(ObjectKey(group: "", plural: "services", namespace: key.namespace, name: key.name))
            }
        }
        for key in services.sorted() {
            let endpointsKey = ObjectKey(group: "", plural: "endpoints", namespace: key.namespace, name: key.name)
            guard let service = objects[key], let selector = service[path: ["spec", "selector"]]?.object, !selector.isEmpty else {
                // Endpoints whose Service is gone (or lost its selector) are removed by their controller;
                // its EndpointSlice goes with the Service (its owner).
                if objects[endpointsKey]?[path: ["metadata", "labels", "endpoints.kubernetes.io/managed-by"]]?.string == "endpoint-controller" {
                    _ = try? delete(endpointsType, namespace: key.namespace, name: key.name)
                }
                continue
            }
            var labels = service[path: ["metadata", "labels"]]?.object ?? [:]
            if service[path: ["spec", "clusterIP"]]?.string == "None" { labels["service.kubernetes.io/headless"] = "" }
            let trigger: JSONValue = .object(["endpoints.kubernetes.io/last-change-trigger-time": .string(timestamp)])
            // Endpoints: named after the Service, its labels plus the controller's own, no owner.
            var endpointLabels = labels
            endpointLabels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
            if objects[endpointsKey]?[path: ["metadata", "labels"]]?.object != endpointLabels {
                upsert(endpointsType, endpointsKey, .object([
                    "apiVersion": "v1", "kind": "Endpoints",
                    "metadata": .object(["name": .string(key.name), "namespace": .string(key.namespace), "labels": .object(endpointLabels),
                                         "annotations": trigger]),
                ]))
            }
            // EndpointSlice: a generated name, the Service's labels plus two of its own, and a
            // controller reference to the Service.
            var sliceLabels = labels
            sliceLabels["kubernetes.io/service-name"] = .string(key.name)
            sliceLabels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io"
            let existing = sliceByService[key.namespace + "/" + key.name].flatMap { slice in objects[slice].map { (key: slice, value: $0) } }
            if existing?.value[path: ["metadata", "labels"]]?.object == sliceLabels { continue }
            let name = existing?.key.name ?? key.name + "-" + String(UUID().uuidString.lowercased().filter(\.isLetter).prefix(5))
            // No pods run in KubeSim, so the slice has no endpoints and, as on a real cluster then, no ports.
            upsert(sliceType, ObjectKey(group: "discovery.k8s.io", plural: "endpointslices", namespace: key.namespace, name: name), .object([
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "endpoints": .null, "ports": .null,
                "metadata": .object([
                    "name": .string(name), "generateName": .string(key.name + "-"), "namespace": .string(key.namespace),
                    "labels": .object(sliceLabels), "annotations": trigger,
                    "ownerReferences": [.object(["apiVersion": "v1", "kind": "Service", "name": .string(key.name),
                                                 "uid": service[path: ["metadata", "uid"]] ?? "", "controller": true,
                                                 "blockOwnerDeletion": true])],
                ]),
            ]))
        }
    }

    /// One pass of the Deployment controller's ReplicaSet bookkeeping over the Deployments
    /// `work` names (changed, or one of their ReplicaSets did): the ReplicaSet of the current
    /// pod template exists with the Deployment's annotations, older ones scaled to zero.
    func runDeploymentController(_ work: ControllerWork) {
        let replicaSetType = ResourceType.grouped("apps", "v1", "ReplicaSet", "replicasets", short: ["rs"])
        for key in pending(work, group: "apps", plural: "deployments") {
            guard let deployment = objects[key], let uid = deployment[path: ["metadata", "uid"]]?.string,
                  let template = deployment[path: ["spec", "template"]] else { continue }
            // The hash is recomputed only when the template changed (a new generation).
            let generation = deployment[path: ["metadata", "generation"]]?.int ?? 0
            let hash: String
            if let known = templateHashes[uid], known.generation == generation {
                hash = known.hash
            } else {
                hash = Self.podTemplateHash(template)
                templateHashes[uid] = (generation, hash)
            }
            var owned: [ObjectKey: JSONValue] = [:]
            for replicaSet in dependentsByOwner[uid] ?? [] where replicaSet.group == "apps" && replicaSet.plural == "replicasets" {
                owned[replicaSet] = objects[replicaSet]
            }
            let name = key.name + "-" + hash
            let revisions = owned.compactMap { Int($0.value[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]?.string ?? "") }
            let current = owned.first { $0.key.name == name }
            let revision = current?.value[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]?.string
                ?? String((revisions.max() ?? 0) + 1)
            let replicas = deployment[path: ["spec", "replicas"]]?.int ?? 1
            var annotations = deployment[path: ["metadata", "annotations"]]?.object ?? [:]
            annotations["kubectl.kubernetes.io/last-applied-configuration"] = nil
            annotations["deployment.kubernetes.io/desired-replicas"] = .string(String(replicas))
            annotations["deployment.kubernetes.io/max-replicas"] = .string(String(replicas + max(1, (replicas + 3) / 4)))
            var labels = template[path: ["metadata", "labels"]]?.object ?? [:]
            labels["pod-template-hash"] = .string(hash)
            if deployment[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]]?.string != revision {
                // The controller records the current revision on the Deployment too.
                var marked = deployment
                marked[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] = .string(revision)
                upsert(ResourceType.grouped("apps", "v1", "Deployment", "deployments", short: ["deploy"]), key, marked)
            }
            annotations["deployment.kubernetes.io/revision"] = .string(revision)
            if let current, current.value[path: ["metadata", "annotations"]]?.object == annotations,
               current.value[path: ["spec", "replicas"]]?.int == replicas {
                for (old, object) in owned where old.name != name && object[path: ["spec", "replicas"]]?.int != 0 {
                    var scaled = object
                    scaled[path: ["spec", "replicas"]] = 0
                    upsert(replicaSetType, old, scaled)
                }
                continue
            }
            var podTemplate = template
            podTemplate[path: ["metadata", "labels"]] = .object(labels)
            var selector = deployment[path: ["spec", "selector"]] ?? .object([:])
            selector[path: ["matchLabels", "pod-template-hash"]] = .string(hash)
            upsert(replicaSetType, ObjectKey(group: "apps", plural: "replicasets", namespace: key.namespace, name: name), .object([
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": .object([
                    "name": .string(name), "namespace": .string(key.namespace), "labels": .object(labels), "annotations": .object(annotations),
                    "ownerReferences": [.object(["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(key.name), "uid": .string(uid),
                                                 "controller": true, "blockOwnerDeletion": true])],
                ]),
                "spec": .object(["replicas": .int(replicas), "selector": selector, "template": podTemplate]),
            ]))
        }
    }

    /// Creates `object` or replaces the stored one, as the controller manager (an Update).
    private func upsert(_ type: ResourceType, _ key: ObjectKey, _ object: JSONValue) {
        guard objects[ObjectKey(group: "", plural: "namespaces", namespace: "", name: key.namespace)] != nil || key.namespace.isEmpty else { return }
        if let live = objects[key] {
            var updated = object
            if type.hasStatus { updated["status"] = live["status"] }
            _ = try? commitUpdate(type, key, live: live, new: updated, manager: Self.controllerManager, operation: "Update", dryRun: false)
        } else {
            _ = try? create(type, namespace: key.namespace, body: object, manager: Self.controllerManager)
        }
    }

    /// A short, stable hash of a pod template, as the `pod-template-hash` label.
    static func podTemplateHash(_ template: JSONValue) -> String {
        var value = FNV1a.hash(template.encoded())
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        var out = ""
        for _ in 0..<10 {
            out.append(alphabet[Int(value % UInt64(alphabet.count))])
            value /= UInt64(alphabet.count)
        }
        return out
    }
}
