import BatonCore
import Foundation

/// `meta.k8s.io/v1` Tables, which `kubectl get` asks for and prints as they come.
enum TableRenderer {
    static func table(_ type: ResourceType, _ objects: [JSONValue], revision: Int64, now: Date) -> JSONValue {
        let columns = columns(type)
        return .object([
            "kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": .object(["resourceVersion": .string(String(revision))]),
            "columnDefinitions": .array(columns.map { name, _ in
                .object(["name": .string(name), "type": "string", "format": name == "Name" ? "name" : "", "description": "",
                         "priority": 0])
            }),
            "rows": .array(objects.map { object in
                .object(["cells": .array(columns.map { $0.1(object, now) }), "object": object])
            }),
        ])
    }

    private typealias Cell = (JSONValue, Date) -> JSONValue

    private static func columns(_ type: ResourceType) -> [(String, Cell)] {
        let name: (String, Cell) = ("Name", { object, _ in object[path: ["metadata", "name"]] ?? "" })
        let age: (String, Cell) = ("Age", { object, now in .string(Self.age(object, now)) })
        func int(_ path: [String]) -> (JSONValue) -> Int64 { { $0[path: path]?.int ?? 0 } }
        switch (type.group, type.kind) {
        case ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "ReplicaSet"):
            return [name,
                    ("Ready", { object, _ in .string("\(int(["status", "readyReplicas"])(object))/\(int(["spec", "replicas"])(object))") }),
                    ("Up-to-date", { object, _ in .int(int(["status", "updatedReplicas"])(object)) }),
                    ("Available", { object, _ in .int(int(["status", "availableReplicas"])(object)) }), age]
        case ("", "Namespace"):
            return [name, ("Status", { object, _ in object[path: ["status", "phase"]] ?? "Active" }), age]
        case ("", "Service"):
            return [name, ("Type", { object, _ in object[path: ["spec", "type"]] ?? "" }),
                    ("Cluster-IP", { object, _ in object[path: ["spec", "clusterIP"]] ?? "<none>" }), age]
        case ("", "ConfigMap"), ("", "Secret"):
            return [name, ("Data", { object, _ in .int(Int64(object["data"]?.object?.count ?? 0)) }), age]
        default:
            return [name, age]
        }
    }

    static func age(_ object: JSONValue, _ now: Date) -> String {
        guard let text = object[path: ["metadata", "creationTimestamp"]]?.string,
              let created = Timestamp.parse(text) else { return "<unknown>" }
        let seconds = max(0, Int(now.timeIntervalSince(created)))
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 3_600 * 3 { return "\(seconds / 60)m" }
        if seconds < 86_400 * 2 { return "\(seconds / 3_600)h" }
        return "\(seconds / 86_400)d"
    }
}
