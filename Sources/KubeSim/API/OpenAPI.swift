import BatonCore

/// Just enough OpenAPI v3 for kubectl to see that the server validates fields itself
/// (kubectl then sends `fieldValidation=Strict` instead of downloading schemas). KubeSim
/// accepts the parameter and does not check unknown fields: that is one of its
/// simplifications.
enum OpenAPI {
    static func root(_ types: [ResourceType]) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for type in types {
            let key = String(type.prefix.dropFirst())
            paths[key] = .object(["serverRelativeURL": .string("/openapi/v3/\(key)?hash=kubesim-\(types.count)")])
        }
        return .object(["paths": .object(paths)])
    }

    /// The document of one group version (`api/v1`, `apis/apps/v1`), or nil.
    static func groupVersion(_ types: [ResourceType], path: String) -> JSONValue? {
        let served = types.filter { String($0.prefix.dropFirst()) == path }
        guard !served.isEmpty else { return nil }
        var paths: [String: JSONValue] = [:]
        for type in served {
            let parameters: JSONValue = .array(["dryRun", "fieldManager", "fieldValidation", "force"].map {
                .object(["name": .string($0), "in": "query", "schema": .object(["type": "string"])])
            })
            let gvk: JSONValue = .object(["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)])
            let path = type.prefix + (type.namespaced ? "/namespaces/{namespace}/" : "/") + type.plural + "/{name}"
            paths[path] = .object(["patch": .object([
                "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch", "parameters": parameters,
                "responses": .object(["200": .object(["description": "OK"])]),
            ])])
        }
        return .object(["openapi": "3.0.0", "info": .object(["title": "KubeSim", "version": "v1.32.0"]), "paths": .object(paths)])
    }
}
