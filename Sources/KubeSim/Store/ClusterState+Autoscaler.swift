import BatonCore
import Foundation

/// The horizontal pod autoscaler controller, as far as it acts without metrics (KubeSim serves
/// no metrics API). kube-controller-manager's `reconcileAutoscaler` checks the bounds before
/// it reads any metric: a target above `maxReplicas` is scaled down to it, one below
/// `minReplicas` (default 1) up to it, one at 0 replicas is left alone (scaling disabled), all
/// through the target's `scale` subresource. So an HPA with `minReplicas: 2` takes its new
/// Deployment from 1 to 2 replicas, as on a real cluster, and a GitOps tool that resets
/// `spec.replicas` fights it.
extension ClusterState {
    /// "namespace/Kind/name" of the workload an HPA's `scaleTargetRef` names.
    static func autoscalerTarget(_ hpa: JSONValue?, namespace: String) -> String? {
        guard let ref = hpa?[path: ["spec", "scaleTargetRef"]], let kind = ref["kind"]?.string, let name = ref["name"]?.string else { return nil }
        return namespace + "/" + kind + "/" + name
    }

    /// One pass over the HPAs `work` names (changed, or whose target changed).
    func runAutoscalerController(_ work: ControllerWork) {
        for key in pending(work, group: "autoscaling", plural: "horizontalpodautoscalers") {
            guard let hpa = objects[key], let ref = hpa[path: ["spec", "scaleTargetRef"]],
                  let kind = ref["kind"]?.string, let name = ref["name"]?.string else { continue }
            let apiVersion = ref["apiVersion"]?.string ?? ""
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            guard let type = type(plural: kind.lowercased() + "s", group: group), type.kind == kind, type.hasScale else { continue }
            let targetKey = self.key(type, key.namespace, name)
            guard let target = objects[targetKey] else { continue }
            let current = target[path: ["spec", "replicas"]]?.int ?? 1
            let minimum = hpa[path: ["spec", "minReplicas"]]?.int ?? 1
            let maximum = hpa[path: ["spec", "maxReplicas"]]?.int ?? current
            var desired = current
            if current == 0, minimum != 0 {
                desired = 0
            } else if current > maximum {
                desired = maximum
            } else if current < minimum {
                desired = minimum
            }
            var status: [String: JSONValue] = ["currentReplicas": .int(current), "desiredReplicas": .int(desired)]
            if desired != current {
                var scaled = target
                scaled[path: ["spec", "replicas"]] = .int(desired)
                guard (try? commitUpdate(type, targetKey, live: target, new: scaled, manager: Self.controllerManager, operation: "Update",
                                         dryRun: false)) != nil else { continue }
                status["lastScaleTime"] = .string(timestamp)
            } else if let last = hpa[path: ["status", "lastScaleTime"]] {
                status["lastScaleTime"] = last
            }
            setStatus(key, .object(status))
        }
    }
}
