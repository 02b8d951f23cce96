/// A Float32 tensor in NCHW layout (or any row-major shape): a shape and a flat buffer.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// Contents undefined: for outputs that a GEMM overwrites completely (saves a memset).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        let n = shape.reduce(1, *)
        data = [Float](unsafeUninitializedCapacity: n) { _, count in count = n }
    }

    public var count: Int { data.count }
    /// NCHW accessors (4-D tensors).
    public var n: Int { shape[0] }
    public var c: Int { shape[1] }
    public var h: Int { shape[2] }
    public var w: Int { shape[3] }
}

/// Errors of the network stage: weights files, shapes, configuration. Each case carries evidence.
public enum ConvNetError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case missingTensor(file: String, name: String)
    case unexpectedTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    case unsupportedDType(file: String, name: String, dtype: String)
    case writeFailed(file: String, reason: String)
    case invalidConfiguration(reason: String)

    public var description: String {
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .malformed(let f, let r): return "\(f): not a valid safetensors file: \(r)"
        case .missingTensor(let f, let n): return "\(f): tensor '\(n)' is missing"
        case .unexpectedTensor(let f, let n): return "\(f): unexpected tensor '\(n)' (not part of this model)"
        case .shapeMismatch(let f, let n, let e, let found):
            return "\(f): tensor '\(n)' has shape \(found), expected \(e)"
        case .unsupportedDType(let f, let n, let d): return "\(f): tensor '\(n)' has dtype \(d) (F32, F16, BF16 or F64 expected)"
        case .writeFailed(let f, let r): return "\(f): write failed: \(r)"
        case .invalidConfiguration(let r): return "invalid configuration: \(r)"
        }
    }
}
