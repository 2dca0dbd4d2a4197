import BatonCore

/// Health of one live object, by the rules Argo CD users know (DESIGN.md §6).
public enum Health {
    public static func assess(_ object: JSONValue) -> (status: HealthStatus, message: String) {
        let kind = object["kind"]?.string ?? ""
        let status = object["status"]
        switch kind {
        case "Deployment": return deployment(object)
        case "StatefulSet": return statefulSet(object)
        case "DaemonSet": return daemonSet(object)
        case "ReplicaSet": return replicaSet(object)
        case "Pod": return pod(status)
        case "Job": return job(object)
        case "PersistentVolumeClaim":
            switch status?["phase"]?.string {
            case "Bound": return (.healthy, "bound")
            case "Lost": return (.degraded, "the volume was lost")
            default: return (.progressing, "waiting to be bound")
            }
        case "Service":
            guard object[path: ["spec", "type"]]?.string == "LoadBalancer" else { return (.healthy, "") }
            return hasIngress(status) ? (.healthy, "") : (.progressing, "waiting for a load balancer address")
        case "Ingress":
            return hasIngress(status) ? (.healthy, "") : (.progressing, "waiting for an address")
        default:
            return generic(object)
        }
    }

    static func hasIngress(_ status: JSONValue?) -> Bool {
        !(status?[path: ["loadBalancer", "ingress"]]?.array ?? []).isEmpty
    }

    static func int(_ value: JSONValue?, _ path: [String]) -> Int64 { value?[path: path]?.int ?? 0 }

    static func condition(_ object: JSONValue, _ type: String) -> JSONValue? {
        (object[path: ["status", "conditions"]]?.array ?? []).first { $0["type"]?.string == type }
    }

    /// Whether the controller has seen the latest spec.
    static func observed(_ object: JSONValue) -> Bool {
        guard let generation = object[path: ["metadata", "generation"]]?.int,
              let observed = object[path: ["status", "observedGeneration"]]?.int else { return object[path: ["metadata", "generation"]] == nil }
        return observed >= generation
    }

    static func deployment(_ object: JSONValue) -> (HealthStatus, String) {
        if object[path: ["spec", "paused"]]?.bool == true { return (.suspended, "rollout paused") }
        guard observed(object) else { return (.progressing, "waiting for the rollout to be observed") }
        if let progressing = condition(object, "Progressing"), progressing["reason"]?.string == "ProgressDeadlineExceeded" {
            return (.degraded, "deployment \"\(object[path: ["metadata", "name"]]?.string ?? "")\" exceeded its progress deadline")
        }
        let replicas = object[path: ["spec", "replicas"]]?.int ?? 1
        let updated = int(object, ["status", "updatedReplicas"]), total = int(object, ["status", "replicas"])
        let available = int(object, ["status", "availableReplicas"])
        if updated < replicas { return (.progressing, "\(updated) of \(replicas) updated replicas are available") }
        if total > updated { return (.progressing, "\(total - updated) old replicas are pending termination") }
        if available < updated { return (.progressing, "\(available) of \(updated) updated replicas are available") }
        return (.healthy, "")
    }

    static func statefulSet(_ object: JSONValue) -> (HealthStatus, String) {
        guard observed(object) else { return (.progressing, "waiting for the update to be observed") }
        let replicas = object[path: ["spec", "replicas"]]?.int ?? 1
        let ready = int(object, ["status", "readyReplicas"])
        if ready < replicas { return (.progressing, "\(ready) of \(replicas) pods ready") }
        if let current = object[path: ["status", "currentRevision"]]?.string, let update = object[path: ["status", "updateRevision"]]?.string,
           current != update {
            return (.progressing, "rolling update in progress")
        }
        return (.healthy, "")
    }

    static func daemonSet(_ object: JSONValue) -> (HealthStatus, String) {
        guard observed(object) else { return (.progressing, "waiting for the rollout to be observed") }
        let desired = int(object, ["status", "desiredNumberScheduled"])
        let updated = int(object, ["status", "updatedNumberScheduled"]), available = int(object, ["status", "numberAvailable"])
        if updated < desired { return (.progressing, "\(updated) of \(desired) updated pods scheduled") }
        if available < desired { return (.progressing, "\(available) of \(desired) pods available") }
        return (.healthy, "")
    }

    static func replicaSet(_ object: JSONValue) -> (HealthStatus, String) {
        if let failure = condition(object, "ReplicaFailure"), failure["status"]?.string == "True" {
            return (.degraded, failure["message"]?.string ?? "replica failure")
        }
        guard observed(object) else { return (.progressing, "waiting for the update to be observed") }
        let replicas = object[path: ["spec", "replicas"]]?.int ?? 1, available = int(object, ["status", "availableReplicas"])
        return available < replicas ? (.progressing, "\(available) of \(replicas) replicas available") : (.healthy, "")
    }

    static func pod(_ status: JSONValue?) -> (HealthStatus, String) {
        for container in status?["containerStatuses"]?.array ?? [] {
            if let reason = container[path: ["state", "waiting", "reason"]]?.string,
               ["CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "InvalidImageName"].contains(reason) {
                return (.degraded, reason)
            }
        }
        switch status?["phase"]?.string {
        case "Succeeded": return (.healthy, "completed")
        case "Failed": return (.degraded, status?["message"]?.string ?? "the pod failed")
        case "Running":
            let containers = status?["containerStatuses"]?.array ?? []
            return containers.allSatisfy({ $0["ready"]?.bool == true }) ? (.healthy, "") : (.progressing, "containers not ready")
        default: return (.progressing, "pending")
        }
    }

    static func job(_ object: JSONValue) -> (HealthStatus, String) {
        if let failed = condition(object, "Failed"), failed["status"]?.string == "True" {
            return (.degraded, failed["message"]?.string ?? "the job failed")
        }
        if let complete = condition(object, "Complete"), complete["status"]?.string == "True" { return (.healthy, "completed") }
        if object[path: ["spec", "suspend"]]?.bool == true { return (.suspended, "suspended") }
        return (.progressing, "running")
    }

    /// Everything else, custom resources included: `Ready` or `Available` conditions and
    /// `observedGeneration` when the object reports them; an object without status is healthy
    /// once it exists (ConfigMaps, Services of type ClusterIP, RBAC, …).
    static func generic(_ object: JSONValue) -> (HealthStatus, String) {
        if object[path: ["status", "observedGeneration"]] != nil, !observed(object) {
            return (.progressing, "waiting for the change to be observed")
        }
        for type in ["Ready", "Available"] {
            guard let condition = condition(object, type) else { continue }
            let message = condition["message"]?.string ?? condition["reason"]?.string ?? ""
            switch condition["status"]?.string {
            case "True": return (.healthy, message)
            case "False": return (.degraded, message.isEmpty ? "\(type) is False" : message)
            default: return (.progressing, message.isEmpty ? "\(type) is Unknown" : message)
            }
        }
        return (.healthy, "")
    }
}
