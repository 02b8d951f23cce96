import Foundation

/// Runs `body` for 0..<count on all cores and returns the results in index order.
/// The work items must be independent (each opens its own files).
public func parallelMap<T: Sendable>(_ count: Int, maxThreads: Int = ProcessInfo.processInfo.activeProcessorCount,
                                     _ body: @Sendable (Int) -> T) -> [T] {
    guard count > 0 else { return [] }
    let results = ResultSlots<T>(count: count)
    let next = Counter()
    let workers = max(1, min(maxThreads, count))
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let i = next.increment()
            if i >= count { break }
            results.set(i, body(i))
        }
    }
    return results.values()
}

private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: T) { lock.lock(); slots[i] = v; lock.unlock() }
    func values() -> [T] { lock.lock(); defer { lock.unlock() }; return slots.compactMap { $0 } }
}

private final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; let v = value; value += 1; return v }
}
