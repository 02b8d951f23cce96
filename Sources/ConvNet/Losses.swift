import Foundation

/// Losses with their gradients. Each returns (loss, dLoss/dInput).
public enum Loss: String, Sendable, CaseIterable, Codable {
    case mse
    case l1
    /// 0.84 · (1 − SSIM) + 0.16 · L1 / L (Zhao et al. 2017's mix; `Losses.ssimL1`).
    case ssim
    /// −PSNR + 50 · (1 − SSIM) of the batch: the score `ldct tune` maximises (`Losses.psnrSSIM`).
    case psnrSSIM = "psnr-ssim"

    /// Restoration losses, mean over all elements (PyTorch's reduction='mean'). With
    /// `sampleWeights` (one per batch item), item b's terms are multiplied by its weight (the mean
    /// still divides by the element count, so weights of 1 give the unweighted loss exactly). With
    /// `pixelWeights` (the output's shape), each pixel's term of the pixel-wise part (MSE, L1; not
    /// SSIM, whose terms are windows) is multiplied by its weight as well (`Losses.windowWeights`).
    /// `ssimWeight` is W of `psnr-ssim` (nil: 50); the other losses ignore it.
    public func evaluate(_ output: Tensor, _ target: Tensor, sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil,
                         ssimWeight: Double? = nil) -> (loss: Double, gradient: Tensor) {
        switch self {
        case .mse: return Losses.mse(output, target, sampleWeights: sampleWeights, pixelWeights: pixelWeights)
        case .l1: return Losses.l1(output, target, sampleWeights: sampleWeights, pixelWeights: pixelWeights)
        case .ssim: return Losses.ssimL1(output, target, sampleWeights: sampleWeights, pixelWeights: pixelWeights)
        case .psnrSSIM:
            return Losses.psnrSSIM(output, target, sampleWeights: sampleWeights, pixelWeights: pixelWeights,
                                   ssimWeight: ssimWeight ?? Losses.defaultSSIMWeight)
        }
    }
}

public enum Losses {
    /// L = mean((y − t)²); dL/dy = 2(y − t)/n. With `sampleWeights`, item b's terms × w_b; with
    /// `pixelWeights`, pixel i's term × p_i too.
    public static func mse(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil) -> (loss: Double, gradient: Tensor) {
        precondition(y.shape == t.shape, "mse shapes \(y.shape) vs \(t.shape)")
        var g = Tensor(zeros: y.shape)
        let n = Float(y.count)
        var sum = 0.0
        forEachItem(y, sampleWeights, pixelWeights) { i, w in
            let d = y.data[i] - t.data[i]
            sum += Double(w) * Double(d) * Double(d)
            g.data[i] = 2 * d * w / n
        }
        return (sum / Double(y.count), g)
    }

    /// L = mean|y − t|; dL/dy = sign(y − t)/n (0 where equal, as PyTorch). With `sampleWeights`,
    /// item b's terms × w_b; with `pixelWeights`, pixel i's term × p_i too.
    public static func l1(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil) -> (loss: Double, gradient: Tensor) {
        precondition(y.shape == t.shape, "l1 shapes \(y.shape) vs \(t.shape)")
        var g = Tensor(zeros: y.shape)
        let n = Float(y.count)
        var sum = 0.0
        forEachItem(y, sampleWeights, pixelWeights) { i, w in
            let d = y.data[i] - t.data[i]
            sum += Double(w) * Double(abs(d))
            g.data[i] = d > 0 ? w / n : (d < 0 ? -w / n : 0)
        }
        return (sum / Double(y.count), g)
    }

    /// SSIM's window and constants in the network's units ((HU + 1024) / 4096): the evaluation's
    /// (11 taps, Gaussian σ 1.5; K1 0.01, K2 0.03 of a 400 HU range; docs/quality.md).
    public static let ssimRange: Double = 400.0 / 4096
    /// W of `psnrSSIM` when none is given: 0.01 of SSIM is worth 0.5 dB (as `ldct tune`'s default).
    public static let defaultSSIMWeight: Double = 50
    /// SSIM's luminance term depends on the mean itself, not only on differences: the evaluation
    /// scores HU as they are (water at 0), so the loss removes the network's offset of 1024 HU first.
    public static let ssimOffset: Double = 1024.0 / 4096
    static let ssimKernel: [Double] = {
        let k = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let sum = k.reduce(0, +)
        return k.map { $0 / sum }
    }()

    /// L = 0.84 · (1 − mean SSIM) + 0.16 · mean|y − t| / `ssimRange` (the mix of Zhao et al., "Loss
    /// functions for image restoration with neural networks", 2017: SSIM for structure and local
    /// contrast, L1 to hold the mean). SSIM per channel image over the window positions that fit
    /// inside it ("valid": (H − 10) × (W − 10) values; no padding, so the gradient is exact), local
    /// statistics with population variance, on HU / 4096 (`ssimOffset`), as the evaluation's
    /// scikit-image SSIM on HU. With `sampleWeights`, item b's terms × w_b; with `pixelWeights`,
    /// pixel i's L1 term × p_i too (SSIM's windows keep weight 1). Needs H, W ≥ 11.
    public static func ssimL1(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil,
                              alpha: Double = 0.84) -> (loss: Double, gradient: Tensor) {
        precondition(y.shape == t.shape, "ssim shapes \(y.shape) vs \(t.shape)")
        if let pixelWeights { precondition(pixelWeights.shape == y.shape, "pixel weights \(pixelWeights.shape) for \(y.shape)") }
        precondition(y.h >= 11 && y.w >= 11, "ssim needs images of at least 11 × 11, not \(y.h) × \(y.w)")
        if let sampleWeights { precondition(sampleWeights.count == y.n, "\(sampleWeights.count) sample weights for a batch of \(y.n)") }
        let (h, w) = (y.h, y.w), (vh, vw) = (y.h - 10, y.w - 10)
        let c1 = (0.01 * ssimRange) * (0.01 * ssimRange), c2 = (0.03 * ssimRange) * (0.03 * ssimRange)
        let images = y.n * y.c, plane = h * w, windows = Double(images * vh * vw)
        var g = Tensor(zeros: y.shape)
        var ssimSum = 0.0, l1Sum = 0.0
        for m in 0..<images {
            let weight = Double(sampleWeights?[m / y.c] ?? 1)
            let x = (0..<plane).map { Double(y.data[m * plane + $0]) - ssimOffset }
            let r = (0..<plane).map { Double(t.data[m * plane + $0]) - ssimOffset }
            let ux = validFilter(x, h, w), ur = validFilter(r, h, w)
            let exx = validFilter(x.map { $0 * $0 }, h, w), err = validFilter(r.map { $0 * $0 }, h, w)
            let exr = validFilter(zip(x, r).map { $0 * $1 }, h, w)
            var dMean = [Double](repeating: 0, count: vh * vw), dSquare = dMean, dCross = dMean
            for i in 0..<(vh * vw) {
                let vx = exx[i] - ux[i] * ux[i], vr = err[i] - ur[i] * ur[i], cov = exr[i] - ux[i] * ur[i]
                let a1 = 2 * ux[i] * ur[i] + c1, a2 = 2 * cov + c2
                let b1 = ux[i] * ux[i] + ur[i] * ur[i] + c1, b2 = vx + vr + c2
                let s = a1 * a2 / (b1 * b2)
                ssimSum += weight * s
                // ∂S/∂μx, ∂S/∂E[x²], ∂S/∂E[xr] (σ² and covariance written through them).
                dMean[i] = s * (2 * ur[i] / a1 - 2 * ux[i] / b1 - 2 * ur[i] / a2 + 2 * ux[i] / b2)
                dSquare[i] = -s / b2
                dCross[i] = 2 * s / a2
            }
            let gMean = validFilterAdjoint(dMean, h, w), gSquare = validFilterAdjoint(dSquare, h, w)
            let gCross = validFilterAdjoint(dCross, h, w)
            let scale = -alpha * weight / windows
            let l1Scale = (1 - alpha) * weight / (Double(y.count) * ssimRange)
            for p in 0..<plane {
                let d = x[p] - r[p], pw = Double(pixelWeights?.data[m * plane + p] ?? 1)
                l1Sum += weight * pw * abs(d)
                let dS = gMean[p] + 2 * x[p] * gSquare[p] + r[p] * gCross[p]
                g.data[m * plane + p] = Float(scale * dS + l1Scale * pw * (d > 0 ? 1 : (d < 0 ? -1 : 0)))
            }
        }
        let totalWeight = sampleWeights.map { ws in Double(ws.reduce(0, +)) * Double(y.c) / Double(images) } ?? 1
        // (1 − SSIM) with weights: Σ_b w_b (1 − S_b) / count = mean weight − Σ w S / count.
        let loss = alpha * (totalWeight - ssimSum / windows) + (1 - alpha) * l1Sum / (Double(y.count) * ssimRange)
        return (loss, g)
    }

    /// L = −PSNR + W · (1 − mean SSIM), PSNR = 10 · log10(R² / MSE) of the whole batch (R = the 400 HU
    /// range, `ssimRange`; MSE with the per-sample weights as `mse`), SSIM as in `ssimL1`. With W = 50
    /// (the default of `ldct tune --ssim-weight`) 0.01 of SSIM is worth 0.5 dB. The log keeps MSE's
    /// hold on the noisiest pairs (they dominate the batch's MSE) while SSIM adds the local means and
    /// contrast of the quiet ones; dL/dy = (10 / ln 10) · dMSE / MSE − W · dSSIM. `pixelWeights`
    /// weigh the MSE's pixels (as `mse`).
    public static func psnrSSIM(_ y: Tensor, _ t: Tensor, sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil,
                                ssimWeight: Double = defaultSSIMWeight) -> (loss: Double, gradient: Tensor) {
        let (mseValue, mseGradient) = mse(y, t, sampleWeights: sampleWeights, pixelWeights: pixelWeights)
        let (ssimValue, ssimGradient) = ssimL1(y, t, sampleWeights: sampleWeights, alpha: 1)
        let floor = 1e-14   // (≈ 4e-4 HU)²: identical images give a finite loss
        let m = max(mseValue, floor)
        let psnr = 10 * log10(ssimRange * ssimRange / m)
        let k = mseValue > floor ? Float(10 / (log(10.0) * m)) : 0
        var g = Tensor(zeros: y.shape)
        for i in 0..<g.count { g.data[i] = k * mseGradient.data[i] + Float(ssimWeight) * ssimGradient.data[i] }
        return (-psnr + ssimWeight * ssimValue, g)
    }

    /// Correlation with `ssimKernel` along both axes over the positions where it fits: H × W → (H − 10) × (W − 10).
    static func validFilter(_ v: [Double], _ h: Int, _ w: Int) -> [Double] {
        let k = ssimKernel, (vh, vw) = (h - 10, w - 10)
        var tmp = [Double](repeating: 0, count: h * vw)
        for r in 0..<h { for c in 0..<vw { var s = 0.0; for j in 0..<11 { s += k[j] * v[r * w + c + j] }; tmp[r * vw + c] = s } }
        var out = [Double](repeating: 0, count: vh * vw)
        for r in 0..<vh { for c in 0..<vw { var s = 0.0; for j in 0..<11 { s += k[j] * tmp[(r + j) * vw + c] }; out[r * vw + c] = s } }
        return out
    }

    /// The adjoint of `validFilter`: (H − 10) × (W − 10) → H × W (each value spread back over its window).
    static func validFilterAdjoint(_ u: [Double], _ h: Int, _ w: Int) -> [Double] {
        let k = ssimKernel, (vh, vw) = (h - 10, w - 10)
        var tmp = [Double](repeating: 0, count: h * vw)
        for r in 0..<vh { for c in 0..<vw { let v = u[r * vw + c]; for j in 0..<11 { tmp[(r + j) * vw + c] += k[j] * v } } }
        var out = [Double](repeating: 0, count: h * w)
        for r in 0..<h { for c in 0..<vw { let v = tmp[r * vw + c]; for j in 0..<11 { out[r * w + c + j] += k[j] * v } } }
        return out
    }

    /// Calls `body(i, w)` for every element i with its weight: the item's sample weight times the
    /// pixel's weight; 1 without weights (so the unweighted losses are unchanged bit for bit).
    static func forEachItem(_ y: Tensor, _ weights: [Float]?, _ pixelWeights: Tensor? = nil, _ body: (Int, Float) -> Void) {
        if let pixelWeights { precondition(pixelWeights.shape == y.shape, "pixel weights \(pixelWeights.shape) for \(y.shape)") }
        guard let weights else {
            if let pixelWeights { for i in 0..<y.count { body(i, pixelWeights.data[i]) } } else { for i in 0..<y.count { body(i, 1) } }
            return
        }
        precondition(weights.count == y.n, "\(weights.count) sample weights for a batch of \(y.n)")
        let per = y.count / max(y.n, 1)
        for b in 0..<y.n { for i in b * per..<(b + 1) * per { body(i, weights[b] * (pixelWeights?.data[i] ?? 1)) } }
    }

    /// Pixel weights for a target batch: 1 where the target lies within `window` (in the target's
    /// units), `outside` elsewhere. With the evaluation's soft-tissue window (−160…240 HU, which
    /// PSNR and SSIM clip to) and `outside` < 1 the loss spends less of itself on lung, air and bone,
    /// whose errors the evaluation does not see, while still holding them (`outside` > 0).
    public static func windowWeights(target t: Tensor, window: ClosedRange<Float>, outside: Float) -> Tensor {
        var w = Tensor(zeros: t.shape)
        for i in 0..<t.count { w.data[i] = window.contains(t.data[i]) ? 1 : outside }
        return w
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
