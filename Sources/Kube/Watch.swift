import BatonCore
import Foundation
import HTTP

/// What a watch reports.
public enum WatchEvent: Sendable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    /// The whole current set, after the watch (re)started from a list: at the start when no
    /// resourceVersion was given, and after the server said 410 Gone (the version resumed
    /// from was compacted away). Replace what you know with it.
    case relisted([JSONValue])
}

extension KubeClient {
    /// Watches objects of `kind` (in `namespace`, or all namespaces when nil). Starts from
    /// `resourceVersion`, or from a list (reported as `.relisted`) when nil. When the server
    /// ends the watch or the connection breaks, it resumes from the last version seen; after
    /// 410 Gone it lists again. Broken connections are retried under the client's
    /// `RetryPolicy`, counted afresh after every event; when that runs out the sequence throws.
    /// `serverTimeout` is how long each watch request may stay open.
    public func watch(apiVersion: String, kind: String, namespace: String? = nil, labelSelector: String? = nil,
                      resourceVersion: String? = nil, serverTimeout: Duration = .seconds(300)) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream()
        let task = Task { [self] in
            do throws(KubeError) {
                try await runWatch(apiVersion: apiVersion, kind: kind, namespace: namespace, labelSelector: labelSelector,
                                   resourceVersion: resourceVersion, serverTimeout: serverTimeout, continuation: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runWatch(apiVersion: String, kind: String, namespace: String?, labelSelector: String?, resourceVersion: String?,
                          serverTimeout: Duration, continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async throws(KubeError) {
        let resource = try await resource(apiVersion: apiVersion, kind: kind)
        let path = resource.path(namespace: resource.namespaced ? namespace : nil)
        func relist() async throws(KubeError) -> String {
            let list = try await list(apiVersion: apiVersion, kind: kind, namespace: namespace, labelSelector: labelSelector)
            continuation.yield(.relisted(list.items))
            return list.resourceVersion
        }
        var version = resourceVersion ?? ""
        if version.isEmpty { version = try await relist() }
        var failures = 0
        var failingSince = ContinuousClock.now
        while !Task.isCancelled {
            var query: [(String, String)] = [("watch", "1"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                                             ("timeoutSeconds", String(serverTimeout.components.seconds))]
            if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
            let response: HTTPStreamResponse
            do {
                response = try await openStream(path, query: query)
            } catch let error where error.statusCode == 410 {
                version = try await relist()
                continue
            }
            var buffer = Data()
            var gone = false
            var broken: HTTPError?
            do {
                reading: for try await chunk in response.body {
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        let line = buffer[buffer.startIndex..<newline]
                        buffer.removeSubrange(buffer.startIndex...newline)
                        guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { continue }
                        guard let event = try? JSONValue.parse(Data(line)), let type = event["type"]?.string, var object = event["object"] else {
                            throw KubeError.unexpectedResponse(path: path, detail: "a watch event that is not JSON")
                        }
                        if type == "ERROR" {
                            let status = KubeStatus(code: Int(object["code"]?.int ?? 500), body: object.encoded())
                            if status.code == 410 {
                                gone = true
                                break reading
                            }
                            throw KubeError.api(status, method: "WATCH", path: path)
                        }
                        if let next = object[path: ["metadata", "resourceVersion"]]?.string, !next.isEmpty { version = next }
                        failures = 0
                        object["apiVersion"] = .string(resource.apiVersion)
                        object["kind"] = .string(resource.kind)
                        switch type {
                        case "ADDED": continuation.yield(.added(object))
                        case "MODIFIED": continuation.yield(.modified(object))
                        case "DELETED": continuation.yield(.deleted(object))
                        default: break  // BOOKMARK only moves the version on
                        }
                    }
                }
            } catch let error as KubeError {
                throw error
            } catch let error as HTTPError {
                broken = error
            } catch {
                broken = .transfer(url: HTTPError.redacted(server + path), reason: "\(error)")
            }
            if Task.isCancelled { return }
            if gone {
                version = try await relist()
                continue
            }
            if let broken {
                if broken.isCancelledError { return }
                if failures == 0 { failingSince = .now }
                failures += 1
                guard let wait = retry.delay(afterAttempt: failures, elapsed: ContinuousClock.now - failingSince) else {
                    throw .transport(broken)
                }
                do { try await Task.sleep(for: wait) } catch { return }
            }
            // A watch the server ended on time is simply opened again from `version`.
        }
    }
}

extension HTTPError {
    var isCancelledError: Bool {
        if case .cancelled = self { return true }
        return false
    }
}
