import BatonCore
import Foundation

/// The simulated controllers: they fill in `status` the way the real ones do, driven by a
/// clock the tests control.
///
/// - Deployments, StatefulSets, DaemonSets and ReplicaSets roll out `rolloutDelay` after each
///   new generation (annotation `sim.baton.dev/rollout-seconds` overrides it per object).
///   A container image whose tag ends in `-broken`, or the annotation
///   `sim.baton.dev/fail: "true"`, never becomes available, and after
///   `progressDeadlineSeconds` reports `Progressing=False, ProgressDeadlineExceeded`.
/// - Jobs complete after the delay; PersistentVolumeClaims bind; LoadBalancer Services get
///   the ingress IP 127.0.0.1; Namespaces are Active; Pods run.
struct Controllers {
    let rolloutDelay: Duration

    /// The status each workload should have at `now`, given when its current generation was
    /// first seen.
    func workloadStatus(kind: String, object: JSONValue, since started: Date, now: Date) -> JSONValue {
        let generation = object[path: ["metadata", "generation"]]?.int ?? 1
        let replicas = kind == "DaemonSet" ? 1 : (object[path: ["spec", "replicas"]]?.int ?? 1)
        let elapsed = now.timeIntervalSince(started)
        let delay = Self.delay(object, default: rolloutDelay)
        let broken = Self.isBroken(object)
        let deadline = Double(object[path: ["spec", "progressDeadlineSeconds"]]?.int ?? 600)
        let previous = object["status"]
        let wasAvailable = previous?["availableReplicas"]?.int ?? 0
        let transition = JSONValue.string(Self.format(started))
        let rolledOut = !broken && elapsed >= delay

        var status: [String: JSONValue] = ["observedGeneration": .int(generation), "replicas": .int(replicas)]
        switch kind {
        case "DaemonSet":
            status = ["observedGeneration": .int(generation), "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                      "updatedNumberScheduled": rolledOut ? 1 : 0, "numberReady": rolledOut ? 1 : 0,
                      "numberAvailable": rolledOut ? 1 : 0, "numberUnavailable": rolledOut ? 0 : 1]
            return .object(status)
        case "StatefulSet":
            status["currentReplicas"] = .int(rolledOut ? replicas : 0)
            status["updatedReplicas"] = .int(rolledOut ? replicas : 0)
            status["readyReplicas"] = .int(rolledOut ? replicas : 0)
            status["availableReplicas"] = .int(rolledOut ? replicas : 0)
            if rolledOut { status["currentRevision"] = .string("rev-\(generation)"); status["updateRevision"] = .string("rev-\(generation)") }
            return .object(status)
        case "ReplicaSet":
            status["readyReplicas"] = .int(rolledOut ? replicas : 0)
            status["availableReplicas"] = .int(rolledOut ? replicas : 0)
            status["fullyLabeledReplicas"] = .int(replicas)
            return .object(status)
        default:
            break
        }
        // Deployment
        let available = rolledOut ? replicas : (broken ? 0 : min(wasAvailable, replicas))
        status["updatedReplicas"] = .int(rolledOut ? replicas : 0)
        status["readyReplicas"] = .int(available)
        status["availableReplicas"] = .int(available)
        if available < replicas { status["unavailableReplicas"] = .int(replicas - available) }
        let availableCondition: JSONValue = .object([
            "type": "Available", "status": available >= replicas ? "True" : "False",
            "reason": available >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
            "message": available >= replicas ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
            "lastTransitionTime": transition, "lastUpdateTime": transition,
        ])
        let progressing: JSONValue
        if rolledOut {
            progressing = .object(["type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "message": "ReplicaSet has successfully progressed.", "lastTransitionTime": transition,
                                   "lastUpdateTime": transition])
        } else if broken && elapsed >= deadline {
            progressing = .object(["type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                   "message": "ReplicaSet has timed out progressing.", "lastTransitionTime": transition,
                                   "lastUpdateTime": transition])
        } else {
            progressing = .object(["type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                   "message": "ReplicaSet is progressing.", "lastTransitionTime": transition,
                                   "lastUpdateTime": transition])
        }
        status["conditions"] = [availableCondition, progressing]
        return .object(status)
    }

    static func delay(_ object: JSONValue, default value: Duration) -> TimeInterval {
        if let text = object[path: ["metadata", "annotations", "sim.baton.dev/rollout-seconds"]]?.string, let seconds = Double(text) {
            return seconds
        }
        let (seconds, attoseconds) = value.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    static func images(_ object: JSONValue) -> [String] {
        let pod = object[path: ["spec", "template", "spec"]] ?? object["spec"] ?? .null
        return ((pod["containers"]?.array ?? []) + (pod["initContainers"]?.array ?? [])).compactMap { $0["image"]?.string }
    }

    static func isBroken(_ object: JSONValue) -> Bool {
        object[path: ["metadata", "annotations", "sim.baton.dev/fail"]]?.string == "true"
            || images(object).contains { $0.hasSuffix("-broken") }
    }

    static func servesErrors(_ object: JSONValue) -> Bool {
        images(object).contains { $0.hasSuffix("-errors") }
    }

    static func format(_ date: Date) -> String { Timestamp.format(date) }
}
