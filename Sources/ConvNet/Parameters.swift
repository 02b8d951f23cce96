import Foundation

/// Names, shapes and offsets of all parameter tensors in one contiguous buffer (in the order
/// they were added). Gradients and optimiser moments use the same layout.
public struct ParameterLayout: Sendable, Equatable {
    public private(set) var views: [ParameterView] = []
    public private(set) var count = 0

    public init() {}

    public mutating func add(_ name: String, _ shape: [Int]) -> ParameterView {
        precondition(!views.contains { $0.name == name }, "duplicate parameter \(name)")
        let view = ParameterView(name: name, shape: shape, offset: count)
        views.append(view)
        count += view.count
        return view
    }

    public func view(_ name: String) -> ParameterView? { views.first { $0.name == name } }
}

/// How parameters start.
public enum Initialization: Sendable, Equatable {
    /// PyTorch's default for Conv2d/ConvTranspose2d: weight and bias uniform in ±1/√fan_in
    /// (kaiming_uniform with a = √5), fan_in = size(1)·k·k of the weight tensor.
    case pytorchDefault
    /// Weights N(0, σ²), biases 0 (the RED-CNN paper: σ = 0.01).
    case gaussian(sigma: Float)
}

/// SplitMix64: small, fast, seedable, identical on every platform; its state is one UInt64, so
/// checkpoints can store and restore it exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits (exactly representable in Float).
    public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }

    /// Standard normal (Box–Muller).
    public mutating func gaussian() -> Float {
        let u = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
        let v = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}

public enum ParameterInit {
    /// Fills each weight/bias pair of `layout` in `params`. A bias takes its bound from the
    /// weight that precedes it (same layer prefix).
    public static func initialize(_ params: inout [Float], layout: ParameterLayout, method: Initialization,
                                  rng: inout SeededGenerator) {
        var lastFanIn = 1
        for view in layout.views {
            let isWeight = view.shape.count == 4
            if isWeight { lastFanIn = view.shape[1] * view.shape[2] * view.shape[3] }
            for i in view.offset..<view.offset + view.count {
                switch method {
                case .pytorchDefault:
                    let bound = 1 / Float(lastFanIn).squareRoot()
                    params[i] = (2 * rng.uniform() - 1) * bound
                case .gaussian(let sigma):
                    params[i] = isWeight ? sigma * rng.gaussian() : 0
                }
            }
        }
    }
}
