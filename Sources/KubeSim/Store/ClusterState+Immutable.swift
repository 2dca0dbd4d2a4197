import BatonCore
import Foundation

extension ClusterState {
    /// The update validation kube-apiserver does for fields that cannot change once set: a
    /// 422 `Invalid` naming the field, as the real server words it.
    static func checkImmutable(_ type: ResourceType, live: JSONValue, new: JSONValue) throws(APIError) {
        let name = Self.name(of: new)
        func same(_ path: [String]) -> Bool { (live[path: path] ?? .null) == (new[path: path] ?? .null) }
        func immutable(_ path: [String]) -> (field: String, message: String)? {
            same(path) ? nil : (path.joined(separator: "."), "Invalid value: \(Self.shown(new[path: path])): field is immutable")
        }
        var causes: [(field: String, message: String)] = []
        switch (type.group, type.kind) {
        case ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"):
            if let cause = immutable(["spec", "selector"]) { causes.append(cause) }
        case ("apps", "StatefulSet"):
            var before = live["spec"] ?? .null, after = new["spec"] ?? .null
            for field in ["replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit", "persistentVolumeClaimRetentionPolicy",
                          "minReadySeconds"] {
                before[field] = nil
                after[field] = nil
            }
            if before != after {
                causes.append(("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                    + "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
            }
        case ("batch", "Job"):
            for path in [["spec", "selector"], ["spec", "template"], ["spec", "completions"]] {
                if let cause = immutable(path) { causes.append(cause) }
            }
        case ("", "Service"):
            let before = live[path: ["spec", "clusterIPs"]] ?? .null, after = new[path: ["spec", "clusterIPs"]] ?? .null
            if before != .null, before != after {
                causes.append(("spec.clusterIPs[0]", "Invalid value: \(Self.shown(after)): may not change once set"))
            }
        case ("", "Secret"), ("", "ConfigMap"):
            if live["immutable"]?.bool == true {
                for field in ["data", "binaryData"] where !same([field]) {
                    causes.append((field, "Forbidden: field is immutable when `immutable` is set"))
                }
                if !same(["immutable"]) { causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set")) }
            }
        case ("", "PersistentVolumeClaim"):
            var before = live["spec"] ?? .null, after = new["spec"] ?? .null
            before[path: ["resources", "requests"]] = nil
            after[path: ["resources", "requests"]] = nil
            for field in ["volumeAttributesClassName", "volumeName"] {
                before[field] = nil
                after[field] = nil
            }
            if before != after {
                causes.append(("spec", "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
            }
        default:
            break
        }
        if !causes.isEmpty { throw APIError.invalid(type, name, causes) }
    }

    /// What the Service registry carries over from the stored object when an update leaves it
    /// out (`patchAllocatedValues`): cluster IPs and node ports.
    static func keepAllocated(_ type: ResourceType, live: JSONValue, new object: inout JSONValue) {
        guard type.group.isEmpty, type.kind == "Service" else { return }
        for field in ["clusterIP", "clusterIPs"] where object[path: ["spec", field]] == nil {
            object[path: ["spec", field]] = live[path: ["spec", field]]
        }
        // `normalizeClusterIPs`: the singular changed and the plural did not (an apply that
        // sets only `clusterIP`): the plural follows it, so validation sees the change there.
        let single = object[path: ["spec", "clusterIP"]], plural = object[path: ["spec", "clusterIPs"]]
        if single != live[path: ["spec", "clusterIP"]], plural == live[path: ["spec", "clusterIPs"]] {
            if let ip = single?.string, !ip.isEmpty, var ips = plural?.array, !ips.isEmpty {
                ips[0] = .string(ip)
                object[path: ["spec", "clusterIPs"]] = .array(ips)
            } else if single?.string?.isEmpty ?? true {
                object[path: ["spec", "clusterIPs"]] = nil
            }
        }
        guard var ports = object[path: ["spec", "ports"]]?.array, let old = live[path: ["spec", "ports"]]?.array else { return }
        for index in ports.indices where ports[index]["nodePort"] == nil {
            if let match = old.first(where: { $0["port"] == ports[index]["port"] && $0["protocol"] == ports[index]["protocol"] }),
               let nodePort = match["nodePort"] {
                ports[index]["nodePort"] = nodePort
            }
        }
        object[path: ["spec", "ports"]] = .array(ports)
    }

    private static func shown(_ value: JSONValue?) -> String {
        String(decoding: (value ?? .null).encoded(), as: UTF8.self)
    }
}
