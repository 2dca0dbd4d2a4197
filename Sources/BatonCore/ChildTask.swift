/// Runs `body` as a child task and returns what it returns. A task keeps the memory its
/// deepest chain of async calls needed until the task ends (Swift's task allocator keeps its
/// slabs for reuse), so a loop that lives as long as the process and makes one deep call per
/// pass (a sync, the promotion it leads to) would hold that much for good; a child's goes
/// when it returns. With a thousand such loops that is tens of megabytes.
public func inChildTask<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await withTaskGroup(of: T.self) { group in
        group.addTask(operation: body)
        guard let result = await group.next() else { preconditionFailure("a task group with one child returned none") }
        return result
    }
}
