import BatonCore
import Foundation

/// One request on `/api/v1/...` or `/apis/GROUP/VERSION/...`: objects, lists, watches.
struct ResourceHandler {
    let state: ClusterState
    let request: SimRequest

    func handle(prefix: String, rest: [String], path: String) async throws -> SimResponse {
        var rest = rest
        var namespace: String?
        if rest.count >= 3, rest[0] == "namespaces", let type = await state.type(prefix: prefix, resource: rest[2]), type.namespaced {
            namespace = rest[1]
            rest = Array(rest.dropFirst(2))
        }
        guard let type = await state.type(prefix: prefix, resource: rest[0]), rest.count <= 3 else { throw APIError.notFoundPath(path) }
        let name = rest.count > 1 ? rest[1] : nil
        let subresource = rest.count > 2 ? rest[2] : nil
        if let subresource, !(subresource == "status" && type.hasStatus || subresource == "scale" && type.hasScale) {
            throw APIError.notFoundPath(path)
        }
        let ns = namespace ?? (type.namespaced ? nil : "")
        if type.namespaced, name != nil || request.method == "POST", namespace == nil {
            throw APIError.notFoundPath(path)
        }

        if subresource == "scale", let name {
            return try await scale(type, namespace: ns ?? "", name: name)
        }
        switch (request.method, name) {
        case ("GET", nil):
            return try await list(type, namespace: type.namespaced ? namespace : nil)
        case ("GET", let name?):
            return await single(type, try await state.get(type, namespace: ns ?? "", name: name))
        case ("POST", nil):
            let body = try parseBody()
            return .json(201, try await state.create(type, namespace: ns ?? "", body: body, manager: request.manager, dryRun: request.dryRun,
                                                           strict: request.strictFields))
        case ("PUT", let name?):
            let body = try parseBody()
            return .json(200, try await state.replace(type, namespace: ns ?? "", name: name, body: body, manager: request.manager,
                                                      subresource: subresource, dryRun: request.dryRun, strict: request.strictFields))
        case ("PATCH", let name?):
            let contentType = (request.headers["content-type"] ?? "").split(separator: ";").first.map(String.init) ?? ""
            if contentType == "application/apply-patch+yaml" || contentType == "application/apply-patch+json" {
                return .json(200, try await state.apply(type, namespace: ns ?? "", name: name, body: request.body,
                                                        manager: request.query["fieldManager"], force: request.flag("force"),
                                                        dryRun: request.dryRun, strict: request.strictFields))
            }
            return .json(200, try await state.patch(type, namespace: ns ?? "", name: name, contentType: contentType, body: request.body,
                                                    manager: request.manager, subresource: subresource, dryRun: request.dryRun,
                                                    strict: request.strictFields))
        case ("DELETE", let name?):
            var propagation = request.query["propagationPolicy"]
            var dryRun = request.dryRun
            var options: JSONValue = .null
            if !request.body.isEmpty, let parsed = try? JSONValue.parse(request.body) {
                options = parsed
                propagation = options["propagationPolicy"]?.string ?? propagation
                if (options["dryRun"]?.array ?? []).contains("All") { dryRun = true }
            }
            return .json(200, try await state.delete(type, namespace: ns ?? "", name: name, propagation: propagation, dryRun: dryRun,
                                                     uid: options[path: ["preconditions", "uid"]]?.string,
                                                     resourceVersion: options[path: ["preconditions", "resourceVersion"]]?.string))
        default:
            throw APIError.methodNotAllowed(request.method)
        }
    }

    /// `.../NAME/scale`: read, replace or patch the replicas as an `autoscaling/v1` Scale.
    private func scale(_ type: ResourceType, namespace: String, name: String) async throws -> SimResponse {
        switch request.method {
        case "GET":
            return .json(200, try await state.scale(type, namespace: namespace, name: name))
        case "PUT":
            return .json(200, try await state.replaceScale(type, namespace: namespace, name: name, body: try parseBody(), manager: request.manager,
                                                           dryRun: request.dryRun))
        case "PATCH":
            let contentType = (request.headers["content-type"] ?? "").split(separator: ";").first.map(String.init) ?? ""
            return .json(200, try await state.patchScale(type, namespace: namespace, name: name, contentType: contentType, body: request.body,
                                                         manager: request.manager, dryRun: request.dryRun))
        default:
            throw APIError.methodNotAllowed(request.method)
        }
    }

    /// A watch from a version too old, as kube-apiserver answers it: the watch opens (200) and
    /// its one event is an ERROR carrying the 410 Status; the client lists again.
    static func expired(_ error: APIError) -> SimResponse {
        var line = JSONValue.object(["type": "ERROR", "object": error.status]).encoded()
        line.append(UInt8(ascii: "\n"))
        let (stream, continuation) = AsyncStream<Data>.makeStream()
        continuation.yield(line)
        continuation.finish()
        return .watch(stream)
    }

    private func parseBody() throws -> JSONValue {
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw APIError.badRequest("the body of the request could not be decoded: \(error)")
        }
    }

    private func selectors() throws -> (LabelSelector, FieldSelector?) {
        do {
            let labels = try LabelSelector(parsing: request.query["labelSelector"] ?? "")
            let fields = try request.query["fieldSelector"].map { try FieldSelector(parsing: $0) }
            return (labels, fields)
        } catch let error as SelectorError {
            throw APIError.badRequest("unable to parse requirement: \(error.message)")
        }
    }

    private func single(_ type: ResourceType, _ object: JSONValue) async -> SimResponse {
        guard request.wantsTable else { return .json(200, object) }
        return .json(200, TableRenderer.table(type, [object], revision: await state.revision, now: Date()))
    }

    private func list(_ type: ResourceType, namespace: String?) async throws -> SimResponse {
        let (labels, fields) = try selectors()
        if request.flag("watch") {
            return try await self.watch(type, namespace: namespace, labels: labels, fields: fields)
        }
        let limit = request.query["limit"].flatMap { Int($0) }
        let page = try await state.list(type, namespace: namespace, labels: labels, fields: fields, limit: limit,
                                        continueToken: request.query["continue"])
        if request.wantsTable {
            var table = TableRenderer.table(type, page.items, revision: page.revision, now: Date())
            if let next = page.next { table[path: ["metadata", "continue"]] = .string(next) }
            return .json(200, table)
        }
        var metadata: [String: JSONValue] = ["resourceVersion": .string(String(page.revision))]
        if let next = page.next { metadata["continue"] = .string(next) }
        return .json(200, .object(["kind": .string(type.kind + "List"), "apiVersion": .string(type.apiVersion),
                                   "metadata": .object(metadata), "items": .array(page.items)]))
    }

    private func watch(_ type: ResourceType, namespace: String?, labels: LabelSelector, fields: FieldSelector?) async throws -> SimResponse {
        let bookmarks = request.flag("allowWatchBookmarks")
        let events: AsyncStream<WatchEvent>
        do {
            events = try await state.watch(type, namespace: namespace, labels: labels, fields: fields,
                                           since: request.query["resourceVersion"], bookmarks: bookmarks)
        } catch {
            let failure: APIError = error
            if failure.code == 410 { return Self.expired(failure) }
            throw failure
        }
        let timeout = request.query["timeoutSeconds"].flatMap { Double($0) } ?? 1_800
        let table = request.wantsTable
        let (stream, continuation) = AsyncStream<Data>.makeStream()
        let pump = Task {
            for await event in events {
                let object = table && event.kind != .bookmark
                    ? TableRenderer.table(type, [event.object], revision: event.revision, now: Date()) : event.object
                var line = JSONValue.object(["type": .string(event.kind.rawValue), "object": object]).encoded()
                line.append(UInt8(ascii: "\n"))
                continuation.yield(line)
            }
            continuation.finish()
        }
        let timer = Task {
            try? await Task.sleep(for: .seconds(timeout))
            pump.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in
            pump.cancel()
            timer.cancel()
        }
        return .watch(stream)
    }
}
