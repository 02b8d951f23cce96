import Foundation

/// Losses with their gradients. Each returns (loss, dLoss/dInput).
public enum Loss: String, Sendable, CaseIterable, Codable {
    case mse
    case l1

    /// Restoration losses, mean over all elements (PyTorch's reduction='mean'). With
    /// `sampleWeights` (one per batch item), item b's terms are multiplied by its weight (the mean
    /// still divides by the element count, so weights of 1 give the unweighted loss exactly).
    public func evaluate(_ output: Tensor, _ target: Tensor, sampleWeights: [Float]? = nil) -> (loss: Double, gradient: Tensor) {
        switch self {
        case .mse: return Losses.mse(output, target, sampleWeights: sampleWeights)
        case .l1: return Losses.l1(output, target, sampleWeights: sampleWeights)
        }
    }
}

public enum Losses {
    /// L = mean((y − t)²); dL/dy = 2(y − t)/n. With `sampleWeights`, item b's terms × w_b.
    public static func mse(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil) -> (loss: Double, gradient: Tensor) {
        precondition(y.shape == t.shape, "mse shapes \(y.shape) vs \(t.shape)")
        var g = Tensor(zeros: y.shape)
        let n = Float(y.count)
        var sum = 0.0
        forEachItem(y, sampleWeights) { i, w in
            let d = y.data[i] - t.data[i]
            sum += Double(w) * Double(d) * Double(d)
            g.data[i] = 2 * d * w / n
        }
        return (sum / Double(y.count), g)
    }

    /// L = mean|y − t|; dL/dy = sign(y − t)/n (0 where equal, as PyTorch). With `sampleWeights`,
    /// item b's terms × w_b.
    public static func l1(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil) -> (loss: Double, gradient: Tensor) {
        precondition(y.shape == t.shape, "l1 shapes \(y.shape) vs \(t.shape)")
        var g = Tensor(zeros: y.shape)
        let n = Float(y.count)
        var sum = 0.0
        forEachItem(y, sampleWeights) { i, w in
            let d = y.data[i] - t.data[i]
            sum += Double(w) * Double(abs(d))
            g.data[i] = d > 0 ? w / n : (d < 0 ? -w / n : 0)
        }
        return (sum / Double(y.count), g)
    }

    /// Calls `body(element index, weight of its batch item)` for every element; weight 1 without
    /// weights (so the unweighted losses are unchanged bit for bit).
    static func forEachItem(_ y: Tensor, _ weights: [Float]?, _ body: (Int, Float) -> Void) {
        guard let weights else {
            for i in 0..<y.count { body(i, 1) }
            return
        }
        precondition(weights.count == y.n, "\(weights.count) sample weights for a batch of \(y.n)")
        let per = y.count / max(y.n, 1)
        for b in 0..<y.n { for i in b * per..<(b + 1) * per { body(i, weights[b]) } }
    }

    /// Softmax over the channel axis of [N, K, H, W] (numerically stable).
    public static func softmax(_ logits: Tensor) -> Tensor {
        var p = Tensor(zeros: logits.shape)
        let (n, k, hw) = (logits.n, logits.c, logits.h * logits.w)
        for b in 0..<n {
            for j in 0..<hw {
                var m = -Float.infinity
                for c in 0..<k { m = max(m, logits.data[(b * k + c) * hw + j]) }
                var s: Float = 0
                for c in 0..<k {
                    let e = Foundation.exp(logits.data[(b * k + c) * hw + j] - m)
                    p.data[(b * k + c) * hw + j] = e
                    s += e
                }
                for c in 0..<k { p.data[(b * k + c) * hw + j] /= s }
            }
        }
        return p
    }

    /// Backward of softmax over channels: dz = p ⊙ (dp − Σ_c p·dp).
    public static func softmaxBackward(_ p: Tensor, _ dp: Tensor) -> Tensor {
        var dz = Tensor(zeros: p.shape)
        let (n, k, hw) = (p.n, p.c, p.h * p.w)
        for b in 0..<n {
            for j in 0..<hw {
                var dot: Float = 0
                for c in 0..<k { dot += p.data[(b * k + c) * hw + j] * dp.data[(b * k + c) * hw + j] }
                for c in 0..<k {
                    let i = (b * k + c) * hw + j
                    dz.data[i] = p.data[i] * (dp.data[i] - dot)
                }
            }
        }
        return dz
    }

    /// Pixel-wise softmax cross-entropy: L = −(1/(N·H·W)) Σ_pixels Σ_k t_k · log softmax(z)_k, with
    /// `target` as per-pixel class probabilities [N, K, H, W] (one-hot for hard labels).
    /// dL/dz = (softmax(z) − t)/(N·H·W) when Σ_k t_k = 1.
    public static func softmaxCrossEntropy(logits z: Tensor, target t: Tensor) -> (loss: Double, gradient: Tensor) {
        precondition(z.shape == t.shape, "cross-entropy shapes \(z.shape) vs \(t.shape)")
        let p = softmax(z)
        let (n, k, hw) = (z.n, z.c, z.h * z.w)
        let pixels = Float(n * hw)
        var g = Tensor(zeros: z.shape)
        var loss = 0.0
        for b in 0..<n {
            for j in 0..<hw {
                var m = -Float.infinity
                for c in 0..<k { m = max(m, z.data[(b * k + c) * hw + j]) }
                var s: Double = 0
                for c in 0..<k { s += Foundation.exp(Double(z.data[(b * k + c) * hw + j] - m)) }
                let logSum = Double(m) + Foundation.log(s)
                var tSum: Float = 0
                for c in 0..<k {
                    let i = (b * k + c) * hw + j
                    loss -= Double(t.data[i]) * (Double(z.data[i]) - logSum)
                    tSum += t.data[i]
                }
                for c in 0..<k {
                    let i = (b * k + c) * hw + j
                    g.data[i] = (p.data[i] * tSum - t.data[i]) / pixels
                }
            }
        }
        return (loss / Double(pixels), g)
    }

    /// Soft Dice loss on probabilities p and targets t, [N, K, H, W]: per class
    /// L_c = 1 − 2Σ t·p / (Σ t² + Σ p²) over batch and pixels, summed over classes (the lecture's form).
    /// `epsilon` guards an empty class (0 by default: exact formula).
    public static func dice(probabilities p: Tensor, target t: Tensor, epsilon: Double = 0) -> (loss: Double, gradient: Tensor) {
        precondition(p.shape == t.shape, "dice shapes \(p.shape) vs \(t.shape)")
        let (n, k, hw) = (p.n, p.c, p.h * p.w)
        var g = Tensor(zeros: p.shape)
        var loss = 0.0
        for c in 0..<k {
            var inter = 0.0, tt = 0.0, pp = 0.0
            for b in 0..<n {
                for j in 0..<hw {
                    let i = (b * k + c) * hw + j
                    inter += Double(t.data[i]) * Double(p.data[i])
                    tt += Double(t.data[i]) * Double(t.data[i])
                    pp += Double(p.data[i]) * Double(p.data[i])
                }
            }
            let den = tt + pp + epsilon
            guard den > 0 else { continue }
            loss += 1 - 2 * inter / den
            // dL/dp = −2t/den + 2·inter·2p/den²
            for b in 0..<n {
                for j in 0..<hw {
                    let i = (b * k + c) * hw + j
                    g.data[i] = Float(-2 * Double(t.data[i]) / den + 4 * inter * Double(p.data[i]) / (den * den))
                }
            }
        }
        return (loss, g)
    }
}
