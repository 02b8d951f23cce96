import Foundation

/// How ConvNet uses the cores: layers split their work (bands of output rows for one image,
/// whole images for a batch) across one worker per core, and every worker calls a
/// single-threaded sgemm on its own column buffer.
///
/// Measured on the 2-core machine (docs/benchmarks.md): letting OpenBLAS thread each GEMM while
/// im2col ran on other threads spent ~13 % of a 512² restore in OpenBLAS's busy-wait
/// (sched_yield) and left the column copy serial; one band per core removes both.
public enum Parallelism {
    nonisolated(unsafe) private static var requested: Int?

    /// Sets the worker count (`--threads N`); only before the first parallel call, later calls
    /// have no effect.
    public static func request(workers n: Int) { requested = max(1, n) }

    /// Worker count: as requested, else the cores shared among the ranks of an MPI job on this
    /// node (OMPI_COMM_WORLD_LOCAL_SIZE), else all cores. The first use sets OpenBLAS to one
    /// thread per call.
    public static let workers: Int = {
        BLASThreads.set(1)
        if let requested { return requested }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        if let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap({ Int($0) }), local > 1 {
            return max(1, cores / local)
        }
        return cores
    }()

    /// Runs body(worker, index) for index in 0..<count on up to `workers` threads, handing out
    /// indices as workers free up; worker ids are 0..<workers, one thread each at a time (use
    /// them to pick private buffers).
    public static func run(_ count: Int, _ body: (_ worker: Int, _ index: Int) -> Void) {
        schedule(count, dynamic: true, body)
    }

    /// Like `run`, but index i always goes to worker i mod workers, in increasing order: sums a
    /// worker accumulates are then the same from run to run (bit-identical training and resume).
    public static func runStatic(_ count: Int, _ body: (_ worker: Int, _ index: Int) -> Void) {
        schedule(count, dynamic: false, body)
    }

    private static func schedule(_ count: Int, dynamic: Bool, _ body: (_ worker: Int, _ index: Int) -> Void) {
        guard count > 0 else { return }
        let n = min(workers, count)
        if n == 1 {
            for i in 0..<count { body(0, i) }
            return
        }
        let next = AtomicCounter()
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: n) { w in
                var i = dynamic ? next.increment() : w
                while i < count {
                    box.value(w, i)
                    i = dynamic ? next.increment() : i + n
                }
            }
        }
    }
}

final class AtomicCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        let v = value
        value += 1
        return v
    }
}
