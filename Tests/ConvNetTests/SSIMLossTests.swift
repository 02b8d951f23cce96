@testable import ConvNet
import Foundation
import ImageQuality
import Testing

@Suite("ConvNet: the SSIM + L1 training loss")
struct SSIMLossTests {
    /// [n, c, h, w] of soft-tissue-like values in the network's units: (HU + 1024) / 4096 with HU
    /// `base` + `spread` × uniform(−1, 1) (inside the evaluation's window, so its clipping is a no-op).
    func tissue(_ shape: [Int], _ rng: inout SeededGenerator, base: Double = 40, spread: Double = 150) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in 0..<t.count {
            let u = 2 * Double(rng.uniform()) - 1
            let value: Double = base + spread * u + 1024
            t.data[i] = Float(value / 4096)
        }
        return t
    }

    func hu(_ t: Tensor) -> [Float] { t.data.map { $0 * 4096 - 1024 } }

    @Test("SSIM part = 1 − the evaluation's SSIM (ImageQuality, scikit-image's convention); identical images cost 0")
    func value() {
        var rng = SeededGenerator(seed: 720)
        let (h, w) = (23, 19)
        let r = tissue([1, 1, h, w], &rng, spread: 100)
        var y = r
        for i in 0..<y.count { y.data[i] += Float(25 * (2 * rng.uniform() - 1) / 4096) }   // ±25 HU of noise
        let pure = Losses.ssimL1(y, r, alpha: 1).loss
        let reference = Metrics.ssim(reference: hu(r), image: hu(y), rows: h, columns: w)
        #expect(abs((1 - pure) - reference) < 1e-5, "loss SSIM \(1 - pure) vs Metrics \(reference)")
        #expect(reference < 0.99, "the noise should cost SSIM")
        #expect(abs(Losses.ssimL1(r, r).loss) < 1e-12)
        // The L1 part alone: mean |y − r| over the evaluation's 400 HU range.
        let l1 = Losses.ssimL1(y, r, alpha: 0).loss
        let expected = zip(hu(y), hu(r)).map { Double(abs($0 - $1)) }.reduce(0, +) / Double(y.count) / 400
        #expect(abs(l1 - expected) < 1e-6 * max(1, expected))
        #expect(abs(Loss.ssim.evaluate(y, r).loss - (0.84 * pure + 0.16 * l1)) < 1e-9)
    }

    @Test("gradient: finite differences, two images per item and two items; per-sample weights as MSE's")
    func gradient() {
        var rng = SeededGenerator(seed: 721)
        let t = tissue([2, 2, 13, 14], &rng)
        let y = tissue([2, 2, 13, 14], &rng)
        let (_, g) = Losses.ssimL1(y, t)
        for alpha in [1.0, 0.84] {
            let (_, ga) = Losses.ssimL1(y, t, alpha: alpha)
            let direction = tissue([2, 2, 13, 14], &rng, base: -1024, spread: 1).data.map { $0 * 4096 }   // ±1 HU per unit step
            checkDirectional("ssim α \(alpha)", point: y.data, direction: direction, analytic: ga.data, epsilon: 2e-4) {
                Losses.ssimL1(Tensor(shape: y.shape, data: $0), t, alpha: alpha).loss
            }
        }
        // Weights of 1 are the plain loss; each item's terms scale by its weight.
        let plain = Losses.ssimL1(y, t), ones = Losses.ssimL1(y, t, sampleWeights: [1, 1])
        #expect(abs(plain.loss - ones.loss) < 1e-12 && plain.gradient.data == g.data && ones.gradient.data == g.data)
        let per = (0..<2).map { b in
            Losses.ssimL1(Tensor(shape: [1, 2, 13, 14], data: Array(y.data[b * 364..<(b + 1) * 364])),
                          Tensor(shape: [1, 2, 13, 14], data: Array(t.data[b * 364..<(b + 1) * 364]))).loss
        }
        let weights: [Float] = [0.25, 3]
        let weighted = Losses.ssimL1(y, t, sampleWeights: weights)
        let expected = zip(weights, per).map { Double($0) * $1 }.reduce(0, +) / 2
        #expect(abs(weighted.loss - expected) < 1e-9 * max(1, expected))
        let direction = tissue([2, 2, 13, 14], &rng, base: -1024, spread: 1).data.map { $0 * 4096 }
        checkDirectional("weighted ssim", point: y.data, direction: direction, analytic: weighted.gradient.data, epsilon: 2e-4) {
            Losses.ssimL1(Tensor(shape: y.shape, data: $0), t, sampleWeights: weights).loss
        }
    }

    @Test("psnr-ssim: −PSNR + 50 × (1 − SSIM) of the batch; finite differences; identical images give a finite loss")
    func psnrSSIM() {
        var rng = SeededGenerator(seed: 722)
        let t = tissue([2, 1, 13, 12], &rng)
        var y = t
        for i in 0..<y.count { y.data[i] += Float(20 * (2 * Double(rng.uniform()) - 1) / 4096) }
        let value = Loss.psnrSSIM.evaluate(y, t).loss
        let mse = Losses.mse(y, t).loss, ssim = 1 - Losses.ssimL1(y, t, alpha: 1).loss
        let psnr = 10 * log10(Losses.ssimRange * Losses.ssimRange / mse)
        #expect(abs(value - (-psnr + 50 * (1 - ssim))) < 1e-9)
        #expect(psnr > 20 && psnr < 40, "±20 HU of noise on a 400 HU range: \(psnr) dB")
        for weights in [nil, [Float(0.5), 2]] as [[Float]?] {
            let (_, g) = Losses.psnrSSIM(y, t, sampleWeights: weights)
            let direction = tissue(y.shape, &rng, base: -1024, spread: 1).data.map { $0 * 4096 }
            checkDirectional("psnr-ssim", point: y.data, direction: direction, analytic: g.data, epsilon: 2e-4) {
                Losses.psnrSSIM(Tensor(shape: y.shape, data: $0), t, sampleWeights: weights).loss
            }
        }
        let same = Losses.psnrSSIM(t, t)
        #expect(same.loss.isFinite && same.gradient.data.allSatisfy { $0 == 0 })
    }
}
