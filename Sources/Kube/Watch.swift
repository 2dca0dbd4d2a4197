import BatonCore
import Foundation
import HTTP
import Synchronization

/// What a watch reports.
public enum WatchEvent: Sendable {
    case added(JSONValue)
    case modified(JSONValue)
    case deleted(JSONValue)
    /// The whole current set, after the watch (re)started from a list: at the start when no
    /// resourceVersion was given, and after the server said 410 Gone (the version resumed
    /// from was compacted away). Replace what you know with it.
    case relisted([JSONValue])
    /// The connection broke or fell silent, or the server ended the watch well before its time
    /// (a restart): changes may be missed until `.resumed` or
    /// `.relisted`. Do not trust what you hold meanwhile.
    case interrupted
    /// The watch is open again from the last version it reached; the changes it missed follow.
    case resumed
}

extension KubeClient {
    /// How long a watch may hear nothing (no event, no bookmark) before its connection is taken
    /// for dead and replaced: kube-apiserver sends a bookmark about every minute to a watch
    /// that allows them.
    public static let defaultWatchSilence: Duration = .seconds(90)
    /// How long a watch may hear nothing once a request to the same server has failed to get
    /// through since its last byte: a network fault usually takes every connection with it.
    static let suspectSilence: Duration = .seconds(5)

    /// Watches objects of `kind` (in `namespace`, or all namespaces when nil). Starts from
    /// `resourceVersion`, or from a list (reported as `.relisted`) when nil. When the server
    /// ends the watch it resumes from the last version seen; when the connection breaks, or
    /// brings nothing for `silence` (nor for `suspectSilence` after another request to the
    /// server failed to get through), it reports `.interrupted`, resumes from there and reports
    /// `.resumed`; after 410 Gone it lists again. Broken connections and transient refusals
    /// (5xx, 429) are retried under the client's `RetryPolicy`, counted afresh after every
    /// event, and when that is spent every `outageDelay`, for as long as the outage lasts: the
    /// sequence throws only on a definite refusal (403, say). Each watch request stays open
    /// between `serverTimeout` and twice that (jittered, as client-go does).
    public func watch(apiVersion: String, kind: String, namespace: String? = nil, labelSelector: String? = nil,
                      resourceVersion: String? = nil, serverTimeout: Duration = .seconds(300),
                      silence: Duration = KubeClient.defaultWatchSilence) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream()
        let task = Task { [self] in
            do throws(KubeError) {
                try await runWatch(apiVersion: apiVersion, kind: kind, namespace: namespace, labelSelector: labelSelector,
                                   resourceVersion: resourceVersion, serverTimeout: serverTimeout, silence: silence,
                                   continuation: continuation)
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// How one watch request ended.
    private enum StreamEnd: Sendable {
        /// The server ended it (its timeout): open again from the version reached.
        case ended
        /// 410 Gone: list again.
        case gone
        case broken(HTTPError)
        case failed(KubeError)
    }

    private func runWatch(apiVersion: String, kind: String, namespace: String?, labelSelector: String?, resourceVersion: String?,
                          serverTimeout: Duration, silence: Duration,
                          continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async throws(KubeError) {
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
        var interrupted = false
        // After a failure the server may still keep `version`: the watch resumes from it, however
        // long the outage (a list comes only after 410 Gone), waiting between attempts first
        // under the retry policy, then up to `outageDelay` apart, with jitter.
        func backOff() async -> Bool {
            if !interrupted {
                continuation.yield(.interrupted)
                interrupted = true
            }
            if failures == 0 { failingSince = .now }
            failures += 1
            let wait = retry.delay(afterAttempt: failures, elapsed: ContinuousClock.now - failingSince) ?? Self.outageDelay(failures)
            do { try await Task.sleep(for: wait) } catch { return false }
            return true
        }
        // After 410 every watch of a restarted or compacted server lists again: spread those lists.
        func relistSpread() async throws(KubeError) -> String? {
            do { try await Task.sleep(for: .milliseconds(Int.random(in: 0...1000))) } catch { return nil }
            return try await relist()
        }
        while !Task.isCancelled {
            // Each request stays open between `serverTimeout` and twice that, as client-go's
            // reflector does, so that watches opened together do not all reopen together.
            let timeout = Int(Double(serverTimeout.components.seconds) * Double.random(in: 1.0...2.0))
            var query: [(String, String)] = [("watch", "1"), ("resourceVersion", version), ("allowWatchBookmarks", "true"),
                                             ("timeoutSeconds", String(max(1, timeout)))]
            if let labelSelector, !labelSelector.isEmpty { query.append(("labelSelector", labelSelector)) }
            let response: HTTPStreamResponse
            do {
                response = try await openStream(path, query: query)
            } catch let error where error.statusCode == 410 {
                guard let listed = try await relistSpread() else { return }
                version = listed
                interrupted = false
                continue
            } catch let error where error.isTransient {
                guard await backOff() else { return }
                continue
            }
            if interrupted {
                continuation.yield(.resumed)
                interrupted = false
            }
            let progress = WatchProgress(version: version), opened = ContinuousClock.now
            let end = await read(response, path: path, resource: resource, silence: silence, progress: progress, continuation: continuation)
            let reached = progress.state.withLock { $0 }
            version = reached.version
            if reached.heard { failures = 0 }
            if Task.isCancelled { return }
            switch end {
            case .ended:
                // A watch the server ended on time is simply opened again from `version`. One
                // ended well before its time is what a restarting (perhaps upgraded) server
                // does: reported as a break, so the reader distrusts what it holds until the
                // watch is back, and hears `.resumed` then.
                if ContinuousClock.now - opened < .seconds(timeout) - .seconds(1), !interrupted {
                    continuation.yield(.interrupted)
                    interrupted = true
                }
            case .gone:
                guard let listed = try await relistSpread() else { return }
                version = listed
            case .failed(let error):
                throw error
            case .broken(let broken):
                if broken.isCancelledError { return }
                guard await backOff() else { return }
            }
        }
    }

    /// The wait before attempt `failures + 1` to reopen a watch once the retry policy is spent:
    /// doubling from 1 s up to 30 s, somewhere in its upper half.
    static func outageDelay(_ failures: Int) -> Duration {
        let seconds = min(30.0, pow(2.0, Double(min(failures, 6)) - 1))
        return .milliseconds(Int(seconds * 1000 * Double.random(in: 0.5...1.0)))
    }

    /// Reads one watch response until it ends, breaks or falls silent (then it is abandoned,
    /// which closes its connection), yielding its events and keeping `progress`.
    private func read(_ response: HTTPStreamResponse, path: String, resource: APIResource, silence: Duration, progress: WatchProgress,
                      continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async -> StreamEnd {
        await withTaskGroup(of: StreamEnd?.self) { group in
            group.addTask {
                var buffer = Data()
                do {
                    for try await chunk in response.body {
                        progress.state.withLock { $0.lastByte = .now }
                        buffer.append(chunk)
                        while let newline = buffer.firstIndex(of: 0x0A) {
                            let line = buffer[buffer.startIndex..<newline]
                            buffer.removeSubrange(buffer.startIndex...newline)
                            guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { continue }
                            guard let event = try? JSONValue.parse(Data(line)), let type = event["type"]?.string, var object = event["object"] else {
                                return .failed(.unexpectedResponse(path: path, detail: "a watch event that is not JSON"))
                            }
                            if type == "ERROR" {
                                let status = KubeStatus(code: Int(object["code"]?.int ?? 500), body: object.encoded())
                                if status.code == 410 { return .gone }
                                return .failed(.api(status, method: "WATCH", path: path))
                            }
                            let next = object[path: ["metadata", "resourceVersion"]]?.string ?? ""
                            progress.state.withLock {
                                if !next.isEmpty { $0.version = next }
                                $0.heard = true
                            }
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
                } catch let error as HTTPError {
                    return .broken(error)
                } catch {
                    return .broken(.transfer(url: HTTPError.redacted(self.server + path), reason: "\(error)"))
                }
                if Task.isCancelled { return nil }  // abandoned by the silence check
                return .ended
            }
            group.addTask {
                // The silence check: a dead connection (a black hole, a middlebox that forgot it)
                // brings nothing and reports nothing.
                let step = min(silence / 4, .seconds(1))
                while !Task.isCancelled {
                    do { try await Task.sleep(for: step) } catch { return nil }
                    let quiet = progress.state.withLock { ContinuousClock.now - $0.lastByte }
                    let trouble = self.troubleSince.withLock { $0 }
                    let suspect = trouble.map { $0 > ContinuousClock.now - quiet } ?? false
                    if quiet >= silence || (suspect && quiet >= min(silence, Self.suspectSilence)) {
                        let seconds = Int(quiet.components.seconds)
                        return .broken(.timeout(url: HTTPError.redacted(self.server + path),
                                                reason: "the watch heard nothing for \(seconds) s (no event, no bookmark)"))
                    }
                }
                return nil
            }
            var end: StreamEnd = .ended
            if let first = await group.next(), let first { end = first }
            group.cancelAll()
            return end
        }
    }
}

/// Where one watch request got to: shared by its reader and its silence check.
private final class WatchProgress: Sendable {
    struct State {
        /// The last resourceVersion reached.
        var version: String
        /// Whether any event (bookmarks included) came.
        var heard = false
        var lastByte = ContinuousClock.now
    }

    let state: Mutex<State>

    init(version: String) {
        state = Mutex(State(version: version))
    }
}

extension HTTPError {
    var isCancelledError: Bool {
        if case .cancelled = self { return true }
        return false
    }
}
