import CMPI
import ConvNet
import Foundation

/// What can go wrong running data-parallel over MPI.
public enum DataParallelError: Error, CustomStringConvertible {
    /// Started by mpirun, but libmpi could not be opened or initialised.
    case unavailable(reason: String)
    /// The global batch must split evenly over the ranks (equal shares make the average of the
    /// ranks' mean gradients the mean gradient of the whole batch).
    case batchNotDivisible(batch: Int, ranks: Int)

    public var description: String {
        switch self {
        case .unavailable(let r): return "started by mpirun, but MPI is not usable: \(r)"
        case .batchNotDivisible(let b, let r): return "the batch (\(b)) must be a multiple of the number of ranks (\(r))"
        }
    }
}

/// The ranks of an `mpirun -n R ldct train …` job. Every rank draws the same global batch from the
/// same RNG, takes its share (rank k: items k·B/R ..< (k+1)·B/R), computes the mean gradient of its
/// share, and the shares are summed (MPI_Reduce to rank 0, MPI_Bcast back, so all ranks hold the
/// same bits) and divided by R; every rank then applies the same Adam update, so the weights stay
/// identical without being sent. Rank 0 alone writes logs, validation and checkpoints. libmpi is
/// opened at run time (dlopen), only under mpirun: an `ldct` without MPI installed is unaffected.
public final class Ranks: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public var isRoot: Bool { rank == 0 }

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// The MPI job this process belongs to when Open MPI's mpirun started it
    /// (OMPI_COMM_WORLD_SIZE is set), else nil: a plain single-process run.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Ranks? {
        guard environment["OMPI_COMM_WORLD_SIZE"] != nil else { return nil }
        var rank: Int32 = 0, size: Int32 = 0
        var message = [CChar](repeating: 0, count: 512)
        guard ldct_mpi_init(&rank, &size, &message, message.count) == 0 else {
            throw DataParallelError.unavailable(reason: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return Ranks(rank: Int(rank), size: Int(size))
    }

    /// The rows of a global batch that this rank computes.
    public func share(of batch: Int) -> Range<Int> {
        let part = batch / size
        return rank * part..<(rank + 1) * part
    }

    /// Mean over the ranks, in place; every rank gets the same bits. A failing MPI call ends the
    /// whole job (the other ranks would wait forever).
    public func average(_ values: inout [Float]) {
        let ok = values.withUnsafeMutableBufferPointer { ldct_mpi_allreduce_sum_float($0.baseAddress, $0.count) == 0 }
        if !ok { ldct_mpi_abort(70) }
        let scale = 1 / Float(size)
        for i in values.indices { values[i] *= scale }
    }

    public func average(_ value: Double) -> Double {
        var v = [value]
        let ok = v.withUnsafeMutableBufferPointer { ldct_mpi_allreduce_sum_double($0.baseAddress, 1) == 0 }
        if !ok { ldct_mpi_abort(70) }
        return v[0] / Double(size)
    }

    public func barrier() { _ = ldct_mpi_barrier() }
    public func abort(_ code: Int32) { ldct_mpi_abort(code) }
    public func finish() { _ = ldct_mpi_finalize() }
}

extension Tensor {
    /// Items `range` of an N×C×H×W tensor.
    func items(_ range: Range<Int>) -> Tensor {
        let per = count / shape[0]
        return Tensor(shape: [range.count] + shape.dropFirst(), data: Array(data[range.lowerBound * per..<range.upperBound * per]))
    }
}
