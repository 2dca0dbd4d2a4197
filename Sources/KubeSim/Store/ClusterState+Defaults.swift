import BatonCore
import Foundation

/// What kube-apiserver does to a body before it stores it, for the kinds KubeSim serves: the
/// conversion that folds a Secret's `stringData` into `data`, quantities in canonical form, the
/// built-in kinds' defaulting functions (`pkg/apis/*/v1/defaults.go`) and registry strategies
/// (Service cluster IPs, Job selectors), and a CRD's structural-schema defaults and pruning.
extension ClusterState {
    /// Everything above, in the server's order: decode (stringData, quantities), default.
    /// `strict` (`fieldValidation=Strict`) refuses fields a custom resource's schema does not
    /// declare instead of dropping them.
    func prepare(_ type: ResourceType, _ object: inout JSONValue, strict: Bool = false) throws(APIError) {
        try decode(type, &object, strict: strict)
        if type.custom, let schema = schemas[type.group + "/" + type.plural] {
            try Self.applySchema(schema, to: &object, at: [], strict: false, defaults: true)
        }
        Self.applyDefaults(type, &object)
    }

    /// The decoding half of `prepare`: what happens to a body before defaulting. Fields the
    /// kind does not declare refuse a server-side apply, as kube-apiserver 1.36 does whatever
    /// the field validation (a 500: "failed to create typed patch object (NS/NAME; apps/v1,
    /// Kind=Deployment): .spec.x: field not declared in schema"); a create or update drops them,
    /// or with `strict` refuses them as the strict JSON decoder does (`strict decoding error:
    /// unknown field "spec.template.spec.containers[0].x"`).
    func decode(_ type: ResourceType, _ object: inout JSONValue, strict: Bool, applying: Bool = false) throws(APIError) {
        if type.custom {
            if let schema = schemas[type.group + "/" + type.plural] {
                try Self.applySchema(schema, to: &object, at: [], strict: strict, defaults: false)
            }
        } else if applying {
            // kube-apiserver cannot build the typed patch: a 500, whatever the field validation.
            // A value of the wrong shape reads ".data: expected map, got &{5}" (checked on
            // ../shared/realkube for a map, a struct and a list).
            let (unknown, mismatched) = BuiltInSchemas.check(type, &object)
            if !unknown.isEmpty || !mismatched.isEmpty {
                let errors = mismatched.map { "\($0.path): expected \($0.expected), got &{\(BuiltInSchemas.goValue($0.value))}" }
                    + unknown.map { "\($0): field not declared in schema" }
                let namespace = object[path: ["metadata", "namespace"]]?.string ?? ""
                throw APIError(code: 500, reason: "", message: "failed to create typed patch object (\(namespace)/\(Self.name(of: object)); "
                    + "\(type.group)/\(type.version), Kind=\(type.kind)): " + (errors.count == 1 ? errors[0] : "errors:\n  " + errors.joined(separator: "\n  ")))
            }
        } else {
            let (unknown, mismatched) = BuiltInSchemas.check(type, &object, byIndex: true)
            // Go's JSON decoder stops at the first value it cannot put in its field (a 400 whatever
            // the field validation): "json: cannot unmarshal string into Go struct field
            // ConfigMap.data of type map[string]string".
            if let first = mismatched.first {
                throw APIError.badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): json: cannot unmarshal "
                    + "\(BuiltInSchemas.jsonKind(first.value)) into Go struct field \(first.goField) of type \(first.goType)")
            }
            if strict, !unknown.isEmpty {
                let fields = unknown.map { "unknown field \"\($0.dropFirst())\"" }.joined(separator: ", ")
                throw APIError.badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): strict decoding error: \(fields)")
            }
        }
        Self.foldStringData(type, &object)
        Self.canonicalizeQuantities(type, &object)
    }

    // MARK: Decoding

    /// `stringData` merged into `data` (base64), as the v1 → internal conversion does.
    static func foldStringData(_ type: ResourceType, _ object: inout JSONValue) {
        guard type.group.isEmpty, type.kind == "Secret", let strings = object["stringData"]?.object else { return }
        var data = object["data"]?.object ?? [:]
        for (key, value) in strings { data[key] = .string(Data((value.string ?? "").utf8).base64EncodedString()) }
        object["data"] = .object(data)
        object["stringData"] = nil
    }

    /// Quantities written as the server writes them back, wherever the built-in kinds have them.
    static func canonicalizeQuantities(_ type: ResourceType, _ object: inout JSONValue) {
        func fix(_ value: inout JSONValue, _ path: [String]) {
            guard var map = value[path: path]?.object else { return }
            for (key, quantity) in map {
                let text: String? = switch quantity {
                case .string(let text): text
                case .int(let number): String(number)
                case .double(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
                default: nil
                }
                if let text, let canonical = Quantity.canonical(text) { map[key] = .string(canonical) }
            }
            value[path: path] = .object(map)
        }
        func fixPod(_ value: inout JSONValue, _ podPath: [String]) {
            guard var pod = value[path: podPath], pod.object != nil else { return }
            for list in ["containers", "initContainers", "ephemeralContainers"] {
                guard var containers = pod[list]?.array else { continue }
                for index in containers.indices {
                    fix(&containers[index], ["resources", "requests"])
                    fix(&containers[index], ["resources", "limits"])
                }
                pod[list] = .array(containers)
            }
            fix(&pod, ["resources", "requests"])
            fix(&pod, ["resources", "limits"])
            fix(&pod, ["overhead"])
            if var volumes = pod["volumes"]?.array {
                for index in volumes.indices {
                    if let limit = volumes[index][path: ["emptyDir", "sizeLimit"]] {
                        var holder: JSONValue = .object(["q": limit])
                        fix(&holder, [])
                        volumes[index][path: ["emptyDir", "sizeLimit"]] = holder["q"]
                    }
                }
                pod["volumes"] = .array(volumes)
            }
            value[path: podPath] = pod
        }
        switch (type.group, type.kind) {
        case ("", "Pod"): fixPod(&object, ["spec"])
        case ("", "PersistentVolumeClaim"):
            fix(&object, ["spec", "resources", "requests"])
            fix(&object, ["spec", "resources", "limits"])
        case ("", "ResourceQuota"): fix(&object, ["spec", "hard"])
        case ("", "LimitRange"):
            guard var limits = object[path: ["spec", "limits"]]?.array else { return }
            for index in limits.indices {
                for key in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] { fix(&limits[index], [key]) }
            }
            object[path: ["spec", "limits"]] = .array(limits)
        case ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "DaemonSet"), ("batch", "Job"):
            fixPod(&object, ["spec", "template", "spec"])
        case ("apps", "StatefulSet"):
            fixPod(&object, ["spec", "template", "spec"])
            if var claims = object[path: ["spec", "volumeClaimTemplates"]]?.array {
                for index in claims.indices {
                    fix(&claims[index], ["spec", "resources", "requests"])
                    fix(&claims[index], ["spec", "resources", "limits"])
                }
                object[path: ["spec", "volumeClaimTemplates"]] = .array(claims)
            }
        case ("batch", "CronJob"): fixPod(&object, ["spec", "jobTemplate", "spec", "template", "spec"])
        default: break
        }
    }

    // MARK: Built-in defaults

    /// The defaults kube-apiserver fills in for the built-in kinds KubeSim serves.
    static func applyDefaults(_ type: ResourceType, _ object: inout JSONValue) {
        func setIfAbsent(_ path: [String], _ value: JSONValue) {
            if object[path: path] == nil || object[path: path] == .null { object[path: path] = value }
        }
        switch (type.group, type.kind) {
        case ("", "Namespace"):
            var labels = object[path: ["metadata", "labels"]]?.object ?? [:]
            labels["kubernetes.io/metadata.name"] = object[path: ["metadata", "name"]]
            object[path: ["metadata", "labels"]] = .object(labels)
            setIfAbsent(["spec", "finalizers"], ["kubernetes"])
        case ("", "Secret"):
            setIfAbsent(["type"], "Opaque")
        case ("", "Service"):
            defaultService(&object)
        case ("", "PersistentVolumeClaim"):
            setIfAbsent(["spec", "volumeMode"], "Filesystem")
        case ("", "Pod"):
            defaultPodSpec(&object, ["spec"])
            setIfAbsent(["spec", "enableServiceLinks"], true)
        case ("apps", "Deployment"):
            setIfAbsent(["spec", "replicas"], 1)
            setIfAbsent(["spec", "strategy", "type"], "RollingUpdate")
            if object[path: ["spec", "strategy", "type"]]?.string == "RollingUpdate" {
                setIfAbsent(["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
                setIfAbsent(["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
            }
            setIfAbsent(["spec", "revisionHistoryLimit"], 10)
            setIfAbsent(["spec", "progressDeadlineSeconds"], 600)
            defaultPodSpec(&object, ["spec", "template", "spec"])
        case ("apps", "StatefulSet"):
            setIfAbsent(["spec", "replicas"], 1)
            setIfAbsent(["spec", "podManagementPolicy"], "OrderedReady")
            setIfAbsent(["spec", "updateStrategy", "type"], "RollingUpdate")
            if object[path: ["spec", "updateStrategy", "type"]]?.string == "RollingUpdate" {
                setIfAbsent(["spec", "updateStrategy", "rollingUpdate", "partition"], 0)
            }
            setIfAbsent(["spec", "revisionHistoryLimit"], 10)
            setIfAbsent(["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], "Retain")
            setIfAbsent(["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], "Retain")
            if var claims = object[path: ["spec", "volumeClaimTemplates"]]?.array {
                for index in claims.indices where claims[index][path: ["spec", "volumeMode"]] == nil {
                    claims[index][path: ["spec", "volumeMode"]] = "Filesystem"
                }
                object[path: ["spec", "volumeClaimTemplates"]] = .array(claims)
            }
            defaultPodSpec(&object, ["spec", "template", "spec"])
        case ("apps", "DaemonSet"):
            setIfAbsent(["spec", "updateStrategy", "type"], "RollingUpdate")
            if object[path: ["spec", "updateStrategy", "type"]]?.string == "RollingUpdate" {
                setIfAbsent(["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
                setIfAbsent(["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
            }
            setIfAbsent(["spec", "revisionHistoryLimit"], 10)
            defaultPodSpec(&object, ["spec", "template", "spec"])
        case ("apps", "ReplicaSet"):
            setIfAbsent(["spec", "replicas"], 1)
            defaultPodSpec(&object, ["spec", "template", "spec"])
        case ("batch", "Job"):
            if object[path: ["spec", "completions"]] == nil && object[path: ["spec", "parallelism"]] == nil {
                object[path: ["spec", "completions"]] = 1
            }
            setIfAbsent(["spec", "parallelism"], 1)
            setIfAbsent(["spec", "backoffLimit"], 6)
            setIfAbsent(["spec", "completionMode"], "NonIndexed")
            setIfAbsent(["spec", "suspend"], false)
            setIfAbsent(["spec", "podReplacementPolicy"], object[path: ["spec", "podFailurePolicy"]] == nil ? "TerminatingOrFailed" : "Failed")
            setIfAbsent(["spec", "manualSelector"], false)
            defaultPodSpec(&object, ["spec", "template", "spec"])
        case ("batch", "CronJob"):
            setIfAbsent(["spec", "concurrencyPolicy"], "Allow")
            setIfAbsent(["spec", "suspend"], false)
            setIfAbsent(["spec", "successfulJobsHistoryLimit"], 3)
            setIfAbsent(["spec", "failedJobsHistoryLimit"], 1)
            defaultPodSpec(&object, ["spec", "jobTemplate", "spec", "template", "spec"])
        case ("autoscaling", "HorizontalPodAutoscaler"):
            setIfAbsent(["spec", "minReplicas"], 1)
            if (object[path: ["spec", "metrics"]]?.array ?? []).isEmpty {
                object[path: ["spec", "metrics"]] = [.object(["type": "Resource", "resource": .object([
                    "name": "cpu", "target": .object(["type": "Utilization", "averageUtilization": 80]),
                ])])]
            }
            if object[path: ["spec", "behavior"]] != nil {
                let up: JSONValue = .object(["stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                    .object(["type": "Pods", "value": 4, "periodSeconds": 15]),
                    .object(["type": "Percent", "value": 100, "periodSeconds": 15]),
                ]])
                let down: JSONValue = .object(["selectPolicy": "Max", "policies": [.object(["type": "Percent", "value": 100, "periodSeconds": 15])]])
                for (direction, defaults) in [("scaleUp", up), ("scaleDown", down)] {
                    var rules = object[path: ["spec", "behavior", direction]]?.object ?? [:]
                    for (key, value) in defaults.object ?? [:] where rules[key] == nil { rules[key] = value }
                    object[path: ["spec", "behavior", direction]] = .object(rules)
                }
            }
        case ("networking.k8s.io", "NetworkPolicy"):
            if object[path: ["spec", "policyTypes"]] == nil {
                object[path: ["spec", "policyTypes"]] = object[path: ["spec", "egress"]] == nil ? ["Ingress"] : ["Ingress", "Egress"]
            }
            for direction in ["ingress", "egress"] {
                guard var rules = object[path: ["spec", direction]]?.array else { continue }
                for index in rules.indices {
                    guard var ports = rules[index]["ports"]?.array else { continue }
                    for port in ports.indices where ports[port]["protocol"] == nil { ports[port]["protocol"] = "TCP" }
                    rules[index]["ports"] = .array(ports)
                }
                object[path: ["spec", direction]] = .array(rules)
            }
        case ("policy", "PodDisruptionBudget"):
            break
        default:
            break
        }
    }

    /// `SetDefaults_PodSpec`, `SetDefaults_Container`, probes, ports and volume sources.
    static func defaultPodSpec(_ object: inout JSONValue, _ path: [String]) {
        guard var pod = object[path: path], pod.object != nil else { return }
        func setIfAbsent(_ value: inout JSONValue, _ key: [String], _ fallback: JSONValue) {
            if value[path: key] == nil { value[path: key] = fallback }
        }
        setIfAbsent(&pod, ["dnsPolicy"], "ClusterFirst")
        setIfAbsent(&pod, ["restartPolicy"], "Always")
        setIfAbsent(&pod, ["terminationGracePeriodSeconds"], 30)
        setIfAbsent(&pod, ["securityContext"], .object([:]))
        setIfAbsent(&pod, ["schedulerName"], "default-scheduler")
        for list in ["containers", "initContainers"] {
            guard var containers = pod[list]?.array else { continue }
            for index in containers.indices {
                var container = containers[index]
                setIfAbsent(&container, ["terminationMessagePath"], "/dev/termination-log")
                setIfAbsent(&container, ["terminationMessagePolicy"], "File")
                setIfAbsent(&container, ["resources"], .object([:]))
                if container["imagePullPolicy"] == nil {
                    let image = container["image"]?.string ?? ""
                    let name = image.split(separator: "/").last.map(String.init) ?? image
                    let tag = name.contains("@") ? "digest" : (name.split(separator: ":").dropFirst().first.map(String.init) ?? "latest")
                    container["imagePullPolicy"] = tag == "latest" ? "Always" : "IfNotPresent"
                }
                if var ports = container["ports"]?.array {
                    for port in ports.indices where ports[port]["protocol"] == nil { ports[port]["protocol"] = "TCP" }
                    container["ports"] = .array(ports)
                }
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] where container[probe]?.object != nil {
                    setIfAbsent(&container, [probe, "timeoutSeconds"], 1)
                    setIfAbsent(&container, [probe, "periodSeconds"], 10)
                    setIfAbsent(&container, [probe, "successThreshold"], 1)
                    setIfAbsent(&container, [probe, "failureThreshold"], 3)
                    if container[path: [probe, "httpGet"]]?.object != nil { setIfAbsent(&container, [probe, "httpGet", "scheme"], "HTTP") }
                }
                if var env = container["env"]?.array {
                    for entry in env.indices where env[entry][path: ["valueFrom", "fieldRef"]]?.object != nil {
                        setIfAbsent(&env[entry], ["valueFrom", "fieldRef", "apiVersion"], "v1")
                    }
                    container["env"] = .array(env)
                }
                containers[index] = container
            }
            pod[list] = .array(containers)
        }
        if var volumes = pod["volumes"]?.array {
            for index in volumes.indices {
                for source in ["configMap", "secret", "projected", "downwardAPI"] where volumes[index][source]?.object != nil {
                    setIfAbsent(&volumes[index], [source, "defaultMode"], 420)
                }
                let sources = (volumes[index].object ?? [:]).keys.filter { $0 != "name" }
                if sources.isEmpty { volumes[index]["emptyDir"] = .object([:]) }
            }
            pod["volumes"] = .array(volumes)
        }
        object[path: path] = pod
    }

    /// A Service as the defaulting and the registry leave it: type, session affinity, port
    /// protocols and target ports, traffic policies, IP families (cluster IPs are allocated on
    /// create, in `allocateServiceAddresses`).
    static func defaultService(_ object: inout JSONValue) {
        var spec = object["spec"]?.object ?? [:]
        let type = spec["type"]?.string ?? "ClusterIP"
        spec["type"] = .string(type)
        if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = "None" }
        if var ports = spec["ports"]?.array {
            for index in ports.indices {
                if ports[index]["protocol"] == nil { ports[index]["protocol"] = "TCP" }
                let target = ports[index]["targetPort"]
                if target == nil || target == .int(0) || target == .string("") { ports[index]["targetPort"] = ports[index]["port"] }
            }
            spec["ports"] = .array(ports)
        }
        if type != "ExternalName" {
            if spec["internalTrafficPolicy"] == nil { spec["internalTrafficPolicy"] = "Cluster" }
            if spec["ipFamilies"] == nil { spec["ipFamilies"] = ["IPv4"] }
            if spec["ipFamilyPolicy"] == nil { spec["ipFamilyPolicy"] = "SingleStack" }
        }
        if type == "NodePort" || type == "LoadBalancer", spec["externalTrafficPolicy"] == nil { spec["externalTrafficPolicy"] = "Cluster" }
        if type == "LoadBalancer", spec["allocateLoadBalancerNodePorts"] == nil { spec["allocateLoadBalancerNodePorts"] = true }
        object["spec"] = .object(spec)
    }

    // MARK: Registry strategies (on create)

    /// What the registry adds to a new object once it has its uid: a Service's cluster IP and
    /// node ports, a Job's generated selector and template labels.
    func prepareForCreate(_ type: ResourceType, _ object: inout JSONValue) {
        switch (type.group, type.kind) {
        case ("", "Service"):
            let serviceType = object[path: ["spec", "type"]]?.string ?? "ClusterIP"
            guard serviceType != "ExternalName" else { return }
            if object[path: ["spec", "clusterIP"]] == nil || object[path: ["spec", "clusterIP"]]?.string == "" {
                object[path: ["spec", "clusterIP"]] = .string(nextClusterIP())
            }
            object[path: ["spec", "clusterIPs"]] = [object[path: ["spec", "clusterIP"]] ?? "None"]
            if serviceType == "NodePort" || serviceType == "LoadBalancer", var ports = object[path: ["spec", "ports"]]?.array {
                for index in ports.indices where ports[index]["nodePort"] == nil { ports[index]["nodePort"] = .int(nextNodePort()) }
                object[path: ["spec", "ports"]] = .array(ports)
            }
        case ("batch", "Job"):
            guard object[path: ["spec", "manualSelector"]]?.bool != true, let uid = object[path: ["metadata", "uid"]]?.string,
                  let name = object[path: ["metadata", "name"]]?.string else { return }
            var labels = object[path: ["spec", "template", "metadata", "labels"]]?.object ?? [:]
            for key in ["job-name", "batch.kubernetes.io/job-name"] where labels[key] == nil { labels[key] = .string(name) }
            for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] where labels[key] == nil { labels[key] = .string(uid) }
            object[path: ["spec", "template", "metadata", "labels"]] = .object(labels)
            var match = object[path: ["spec", "selector", "matchLabels"]]?.object ?? [:]
            if match["batch.kubernetes.io/controller-uid"] == nil { match["batch.kubernetes.io/controller-uid"] = .string(uid) }
            object[path: ["spec", "selector", "matchLabels"]] = .object(match)
        default:
            break
        }
    }

    func nextClusterIP() -> String {
        allocatedAddresses += 1
        let n = allocatedAddresses
        return "10.96.\((n / 250) % 256).\(n % 250 + 2)"
    }

    func nextNodePort() -> Int64 {
        allocatedAddresses += 1
        return 30000 + Int64(allocatedAddresses % 2768)
    }
}
