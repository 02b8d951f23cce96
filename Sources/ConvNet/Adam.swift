import Foundation

/// Adam with PyTorch's semantics (torch.optim.Adam): bias-corrected moments, optional L2 weight
/// decay added to the gradient (or decoupled, as AdamW), all in Float32 on the contiguous buffer.
public struct Adam: Sendable, Equatable, Codable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    /// AdamW: decay the weights directly instead of adding wd·θ to the gradient.
    public var decoupledWeightDecay = false
    /// Steps taken so far (PyTorch's `state['step']`).
    public private(set) var step = 0
    public private(set) var m: [Float]
    public private(set) var v: [Float]

    public init(parameterCount: Int, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0, decoupledWeightDecay: Bool = false) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
    }

    /// Restores a saved state (checkpoints).
    public init(step: Int, m: [Float], v: [Float], beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float,
                decoupledWeightDecay: Bool) {
        self.step = step
        self.m = m
        self.v = v
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// One update: θ ← θ − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
    public mutating func update(_ params: inout [Float], gradients: [Float], learningRate lr: Float) {
        precondition(params.count == m.count && gradients.count == m.count, "Adam: buffer sizes differ")
        step += 1
        let bc1 = 1 - Float(Foundation.pow(Double(beta1), Double(step)))
        let bc2 = 1 - Float(Foundation.pow(Double(beta2), Double(step)))
        let stepSize = lr / bc1
        let bc2Root = bc2.squareRoot()
        let (b1, b2, eps, wd, decoupled) = (beta1, beta2, epsilon, weightDecay, decoupledWeightDecay)
        params.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                m.withUnsafeMutableBufferPointer { m in
                    v.withUnsafeMutableBufferPointer { v in
                        for i in 0..<p.count {
                            var grad = g[i]
                            if wd != 0 {
                                if decoupled { p[i] *= 1 - lr * wd } else { grad += wd * p[i] }
                            }
                            m[i] = b1 * m[i] + (1 - b1) * grad
                            v[i] = b2 * v[i] + (1 - b2) * grad * grad
                            let denom = v[i].squareRoot() / bc2Root + eps
                            p[i] -= stepSize * m[i] / denom
                        }
                    }
                }
            }
        }
    }
}

/// Learning rate as a pure function of the step (0-based), so resuming needs only the step.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant(Float)
    /// lr · γ^⌊step / every⌋
    case stepDecay(initial: Float, every: Int, gamma: Float)
    /// Exponential from `initial` to `final` over `steps` (the paper's 1e-4 → 1e-5), then `final`.
    case exponential(initial: Float, final: Float, steps: Int)
    /// Cosine from `initial` to `final` over `steps`.
    case cosine(initial: Float, final: Float, steps: Int)
    /// Linear warm-up over `warmup` steps to the inner schedule.
    indirect case warmup(steps: Int, then: LearningRateSchedule)

    public func rate(at step: Int) -> Float {
        switch self {
        case .constant(let lr): return lr
        case .stepDecay(let lr, let every, let gamma):
            return lr * Float(Foundation.pow(Double(gamma), Double(step / max(every, 1))))
        case .exponential(let a, let b, let steps):
            let t = min(Double(step) / Double(max(steps, 1)), 1)
            return Float(Double(a) * Foundation.pow(Double(b) / Double(a), t))
        case .cosine(let a, let b, let steps):
            let t = min(Double(step) / Double(max(steps, 1)), 1)
            return Float(Double(b) + 0.5 * Double(a - b) * (1 + cos(Double.pi * t)))
        case .warmup(let w, let inner):
            let base = inner.rate(at: step)
            return step < w ? base * Float(step + 1) / Float(w) : base
        }
    }
}
