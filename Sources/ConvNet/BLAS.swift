import COpenBLAS
import CWinograd
import Foundation

/// Row-major single-precision GEMM: C[M×N] = alpha·op(A)·op(B) + beta·C, through OpenBLAS.
/// `lda`, `ldb`, `ldc` are row strides of the matrices as stored.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                  c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    SgemmClock.count(sgemm: 2 * Double(m) * Double(n) * Double(k))
    SgemmClock.measure {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// What OpenBLAS runs on: its core type (the kernels chosen, or forced by OPENBLAS_CORETYPE)
/// and whether the environment forces it.
public enum BLASInfo {
    public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
    public static func describe() -> String {
        let env = ProcessInfo.processInfo.environment
        let forced = env["OPENBLAS_CORETYPE"].map { "forced by OPENBLAS_CORETYPE=\($0)" } ?? "OpenBLAS's own choice"
        let l2 = env["OPENBLAS_L2_SIZE"].map { ", OPENBLAS_L2_SIZE=\($0)" } ?? ""
        return "OpenBLAS core \(coreName) (\(forced)\(l2)), Winograd kernels \(String(cString: ldct_winograd_isa()))"
    }
}

/// OpenBLAS thread count (both cores by default).
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}

/// Optional accounting of the time spent inside sgemm, summed over the threads that call it
/// (for `ldct bench`: the share of core-time in GEMM is nanoseconds / (wall time × workers)).
public enum SgemmClock {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var total: UInt64 = 0
    private static let lock = NSLock()

    public static var nanoseconds: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return total
    }

    @inline(__always)
    static func measure(_ body: () -> Void) {
        guard enabled else { body(); return }
        var t0 = timespec(), t1 = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t0)
        body()
        clock_gettime(CLOCK_MONOTONIC, &t1)
        let ns = UInt64((t1.tv_sec - t0.tv_sec) * 1_000_000_000 + (t1.tv_nsec - t0.tv_nsec))
        lock.lock()
        total &+= ns
        lock.unlock()
    }

    public static func reset() {
        lock.lock()
        total = 0
        sgemmFlops = 0
        transformFlops = 0
        lock.unlock()
    }

    nonisolated(unsafe) private static var sgemmFlops = 0.0
    nonisolated(unsafe) private static var transformFlops = 0.0

    /// Floating-point operations actually done since `reset` (when enabled): in sgemm, and in the
    /// Winograd transforms (counted as the kernels do them: dense, 2 per multiply-add).
    public static var operations: (sgemm: Double, transforms: Double) {
        lock.lock()
        defer { lock.unlock() }
        return (sgemmFlops, transformFlops)
    }

    @inline(__always)
    static func count(sgemm: Double = 0, transforms: Double = 0) {
        guard enabled else { return }
        lock.lock()
        sgemmFlops += sgemm
        transformFlops += transforms
        lock.unlock()
    }
}
