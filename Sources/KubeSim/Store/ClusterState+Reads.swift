import BatonCore
import Foundation

extension ClusterState {
    public func get(_ type: ResourceType, namespace: String, name: String) throws(APIError) -> JSONValue {
        guard let object = objects[key(type, namespace, name)] else { throw APIError.notFound(type, name) }
        return object
    }

    /// A page of objects, in namespace and name order. `continueToken` is what the previous
    /// page returned.
    func list(_ type: ResourceType, namespace: String?, labels: LabelSelector, fields: FieldSelector?,
              limit: Int?, continueToken: String?) throws(APIError) -> (items: [JSONValue], revision: Int64, next: String?) {
        var after: ObjectKey?
        if let continueToken, !continueToken.isEmpty {
            guard let data = Data(base64Encoded: continueToken), let text = String(data: data, encoding: .utf8) else {
                throw APIError.badRequest("continue key is not valid: illegal base64 data")
            }
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 else { throw APIError.badRequest("continue key is not valid") }
            after = ObjectKey(group: type.group, plural: type.plural, namespace: parts[0], name: parts[1])
        }
        let keys = keys(group: type.group, plural: type.plural).filter { key in
            (namespace == nil || key.namespace == namespace)
                && (after == nil || after! < key)
                && (fields?.matches(name: key.name, namespace: key.namespace) ?? true)
        }.sorted()
        var items: [JSONValue] = []
        var next: String?
        for key in keys {
            guard let object = objects[key], labels.matches(Self.labels(of: object)) else { continue }
            if let limit, limit > 0, items.count == limit {
                let last = items.last.map { ($0[path: ["metadata", "namespace"]]?.string ?? "") + "/" + Self.name(of: $0) } ?? ""
                next = Data(last.utf8).base64EncodedString()
                break
            }
            items.append(object)
        }
        return (items, revision, next)
    }

    /// Events for objects of `type` after `resourceVersion`, then live ones until the stream
    /// is dropped. Without a version (or with "0") the current objects come first as ADDED
    /// events, as Kubernetes sends them. A version older than the kept history is 410 Gone.
    /// With `bookmarks`, `sendBookmarks(every:)` adds BOOKMARK events to it.
    func watch(_ type: ResourceType, namespace: String?, labels: LabelSelector, fields: FieldSelector?,
               since resourceVersion: String?, bookmarks: Bool = false) throws(APIError) -> AsyncStream<WatchEvent> {
        let (stream, continuation) = AsyncStream<WatchEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let watcher = Watcher(group: type.group, plural: type.plural, namespace: namespace, labels: labels, fields: fields,
                              continuation: continuation,
                              bookmarks: bookmarks ? (type.apiVersion, type.kind, ContinuousClock.now) : nil)
        if let text = resourceVersion, !text.isEmpty, text != "0" {
            guard let since = Int64(text) else { throw APIError.badRequest("invalid resourceVersion \"\(text)\"") }
            if since < compactedRevision || (since < revision && history.first.map { since < $0.revision - 1 } ?? false) {
                let oldest = max(compactedRevision, (history.first?.revision ?? revision + 1) - 1)
                throw APIError(code: 410, reason: "Expired", message: "too old resource version: \(since) (\(oldest))")
            }
            for event in history where event.revision > since && Self.matches(watcher, event) {
                continuation.yield(event)
            }
        } else {
            for (key, object) in objects.sorted(by: { $0.key < $1.key }) {
                let event = WatchEvent(kind: .added, object: object, key: key, revision: revision)
                if Self.matches(watcher, event) { continuation.yield(event) }
            }
        }
        let id = UUID()
        watchers[id] = watcher
        continuation.onTermination = { [weak self] _ in
            Task { await self?.stopWatching(id) }
        }
        return stream
    }

    /// Sends a BOOKMARK (the current resourceVersion) to each watch that asked for bookmarks and
    /// got none for `interval`, as kube-apiserver's watch cache does about once a minute
    /// (`defaultBookmarkFrequency`): a client that hears nothing for much longer knows its
    /// connection is dead. Sent in order with the events, so every change up to that version
    /// has gone before it.
    public func sendBookmarks(every interval: Duration) {
        let now = ContinuousClock.now
        for (id, watcher) in watchers {
            guard let bookmarks = watcher.bookmarks, now - bookmarks.last >= interval else { continue }
            let object: JSONValue = .object(["apiVersion": .string(bookmarks.apiVersion), "kind": .string(bookmarks.kind),
                                             "metadata": .object(["resourceVersion": .string(String(revision))])])
            watcher.continuation.yield(WatchEvent(kind: .bookmark, object: object,
                                                  key: ObjectKey(group: watcher.group, plural: watcher.plural, namespace: "", name: ""),
                                                  revision: revision))
            watchers[id]?.bookmarks?.last = now
        }
    }

    /// Forgets the watch history, as etcd's compaction does: a watch resuming from a version
    /// before now gets 410 Expired and must list again (the "410 on resume" fault).
    public func compact() {
        history.removeAll()
        compactedRevision = revision
    }

    /// Ends every open watch, as a restarting API server or a dropped connection does (the
    /// "watch drop" fault); clients resume from their last version.
    public func dropWatches() {
        for watcher in watchers.values { watcher.continuation.finish() }
        watchers.removeAll()
    }

    /// How many watches are open.
    public var watcherCount: Int { watchers.count }

    func stopWatching(_ id: UUID) {
        watchers[id] = nil
    }
}
