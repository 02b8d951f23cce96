@testable import ConvNet
import Foundation
import Testing

@Suite("ConvNet: pixel weights (--outside-weight) and the psnr-ssim weight (--ssim-weight)")
struct WindowWeightTests {
    /// Network units, as the trainer: (HU + 1024) / 4096.
    func units(_ hu: Float) -> Float { (hu + 1024) / 4096 }

    /// A [2, 1, 12, 12] target half lung (−800 HU) and half soft tissue (40 HU), with an output off by
    /// seeded noise of ±30 HU.
    func pair(_ seed: UInt64) -> (y: Tensor, t: Tensor) {
        var rng = SeededGenerator(seed: seed)
        var t = Tensor(zeros: [2, 1, 12, 12]), y = t
        for i in 0..<t.count {
            let column = i % 12
            t.data[i] = units(column < 6 ? -800 : 40)
            let noise = 30 * (2 * rng.uniform() - 1)
            y.data[i] = t.data[i] + noise / 4096
        }
        return (y, t)
    }

    @Test("window weights: 1 inside the window (ends included), the outside weight elsewhere")
    func weights() {
        let t = Tensor(shape: [1, 1, 1, 5], data: [-1000, -160, 40, 240, 241].map(units))
        let w = Losses.windowWeights(target: t, window: units(-160)...units(240), outside: 0.2)
        #expect(w.data == [0.2, 1, 1, 1, 0.2])
        #expect(w.shape == t.shape)
    }

    @Test("MSE and L1: each pixel's term × its weight (times the item's weight); weights of 1 change nothing")
    func pixelWise() {
        let (y, t) = pair(31)
        let w = Losses.windowWeights(target: t, window: units(-160)...units(240), outside: 0.2)
        let n = Double(y.count)
        var mseSum = 0.0, l1Sum = 0.0, mseItems = 0.0
        for i in 0..<y.count {
            let d = Double(y.data[i] - t.data[i]), item = i < y.count / 2 ? 0.5 : 2.0
            mseSum += Double(w.data[i]) * d * d
            l1Sum += Double(w.data[i]) * abs(d)
            mseItems += item * Double(w.data[i]) * d * d
        }
        let mse = Losses.mse(y, t, pixelWeights: w), l1 = Losses.l1(y, t, pixelWeights: w)
        #expect(abs(mse.loss - mseSum / n) < 1e-12)
        #expect(abs(l1.loss - l1Sum / n) < 1e-10)
        #expect(abs(Losses.mse(y, t, sampleWeights: [0.5, 2], pixelWeights: w).loss - mseItems / n) < 1e-12)
        // The gradient of the lung half is the outside weight's share of the plain gradient.
        let plain = Losses.mse(y, t)
        for i in 0..<y.count {
            let expected = plain.gradient.data[i] * w.data[i]
            #expect(abs(mse.gradient.data[i] - expected) <= 1e-6 * abs(expected) + 1e-12)
        }
        let ones = Tensor(shape: t.shape, data: [Float](repeating: 1, count: t.count))
        #expect(Losses.mse(y, t, pixelWeights: ones).loss == plain.loss)
        #expect(Losses.l1(y, t, pixelWeights: ones).gradient.data == Losses.l1(y, t).gradient.data)
        // Down-weighting the lung half lowers the loss by about its share (the halves' noise is alike).
        #expect(mse.loss < 0.7 * plain.loss && mse.loss > 0.5 * plain.loss)
    }

    @Test("SSIM + L1: pixel weights weigh the L1 part only; finite differences hold")
    func ssim() {
        let (y, t) = pair(32)
        let w = Losses.windowWeights(target: t, window: units(-160)...units(240), outside: 0.2)
        // α = 1: SSIM alone, untouched by the weights.
        #expect(abs(Losses.ssimL1(y, t, pixelWeights: w, alpha: 1).loss - Losses.ssimL1(y, t, alpha: 1).loss) < 1e-12)
        let l1Part = Losses.l1(y, t, pixelWeights: w).loss / Losses.ssimRange
        let ssimPart = Losses.ssimL1(y, t, alpha: 1).loss
        #expect(abs(Losses.ssimL1(y, t, pixelWeights: w).loss - (0.84 * ssimPart + 0.16 * l1Part)) < 1e-9)
        var rng = SeededGenerator(seed: 33)
        let direction = (0..<y.count).map { _ in 2 * rng.uniform() - 1 }
        let g = Losses.ssimL1(y, t, pixelWeights: w).gradient
        checkDirectional("ssim+l1 weighted", point: y.data, direction: direction, analytic: g.data, epsilon: 2e-4) {
            Losses.ssimL1(Tensor(shape: y.shape, data: $0), t, pixelWeights: w).loss
        }
    }

    @Test("psnr-ssim: W sets the SSIM term's weight (0: −PSNR alone); pixel weights reach its MSE")
    func psnrSSIMWeight() {
        let (y, t) = pair(34)
        let ssim = 1 - Losses.ssimL1(y, t, alpha: 1).loss
        let psnr = 10 * log10(Losses.ssimRange * Losses.ssimRange / Losses.mse(y, t).loss)
        #expect(abs(Loss.psnrSSIM.evaluate(y, t, ssimWeight: 0).loss + psnr) < 1e-9)
        #expect(abs(Loss.psnrSSIM.evaluate(y, t, ssimWeight: 10).loss - (-psnr + 10 * (1 - ssim))) < 1e-9)
        #expect(Loss.psnrSSIM.evaluate(y, t).loss == Loss.psnrSSIM.evaluate(y, t, ssimWeight: 50).loss)
        let w = Losses.windowWeights(target: t, window: units(-160)...units(240), outside: 0.2)
        let weightedPSNR = 10 * log10(Losses.ssimRange * Losses.ssimRange / Losses.mse(y, t, pixelWeights: w).loss)
        #expect(abs(Loss.psnrSSIM.evaluate(y, t, pixelWeights: w, ssimWeight: 0).loss + weightedPSNR) < 1e-9)
        var rng = SeededGenerator(seed: 35)
        let direction = (0..<y.count).map { _ in 2 * rng.uniform() - 1 }
        let g = Loss.psnrSSIM.evaluate(y, t, pixelWeights: w, ssimWeight: 10).gradient
        checkDirectional("psnr-ssim W 10 weighted", point: y.data, direction: direction, analytic: g.data, epsilon: 2e-4) {
            Loss.psnrSSIM.evaluate(Tensor(shape: y.shape, data: $0), t, pixelWeights: w, ssimWeight: 10).loss
        }
    }
}
