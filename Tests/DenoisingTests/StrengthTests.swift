import ConvNet
import DICOMIO
import Denoising
import Foundation
import ImageQuality
import Testing

/// Standard normal numbers from the seeded generator (Box–Muller).
func gaussians(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
        let u = max(rng.uniform(), 1e-7), v = rng.uniform()
        return Float(sqrt(-2 * log(Double(u))) * cos(2 * Double.pi * Double(v)))
    }
}

@Suite("Restore strength: curve, blind noise estimate, blend, tuning")
struct StrengthTests {
    @Test("curve: parses and prints \"σ:α,…\", interpolates in ln σ, constant beyond the ends")
    func curve() throws {
        let c = try StrengthCurve(parsing: "5:0.2, 20:0.8,80:1.2")
        #expect(c.description == "5:0.2,20:0.8,80:1.2")
        #expect(try StrengthCurve(parsing: c.description) == c)
        #expect(c.alpha(5) == 0.2 && abs(c.alpha(20) - 0.8) < 1e-6 && c.alpha(80) == 1.2)
        #expect(abs(c.alpha(10) - 0.5) < 1e-5, "10 HU is halfway between 5 and 20 in ln σ")
        #expect(c.alpha(1) == 0.2 && c.alpha(500) == 1.2 && c.alpha(.nan) == 0.2)
        let single = try StrengthCurve(parsing: "12:0.7")
        #expect(single.alpha(3) == 0.7 && single.alpha(300) == 0.7)
    }

    @Test("invalid curves and strengths are refused with the reason", arguments: [
        "", "5", "5:0.2;20:0.8", "abc:1", "0:0.5", "-3:0.5", "5:2.5", "5:-0.1", "20:0.5,5:0.8", "5:0.5,5:0.6",
    ])
    func invalidCurve(_ text: String) {
        #expect(throws: StrengthError.self) { try StrengthCurve(parsing: text) }
    }

    @Test("--strength: numbers 0…2, auto needs the model's curve, default follows the model")
    func resolve() throws {
        let tuned = [StrengthCurve.metadataKey: "5:0.2,80:1.2"]
        #expect(try RestoreStrength.resolve(nil, metadata: [:], model: "m") == .fixed(1))
        #expect(try RestoreStrength.resolve(nil, metadata: tuned, model: "m") == .auto(try StrengthCurve(parsing: "5:0.2,80:1.2")))
        #expect(try RestoreStrength.resolve("0.5", metadata: tuned, model: "m") == .fixed(0.5))
        #expect(try RestoreStrength.resolve("AUTO", metadata: tuned, model: "m").description == "auto(5:0.2,80:1.2)")
        #expect(throws: StrengthError.noCurve(model: "m")) { try RestoreStrength.resolve("auto", metadata: [:], model: "m") }
        for bad in ["2.5", "-1", "strong", "nan"] {
            #expect(throws: StrengthError.self) { try RestoreStrength.resolve(bad, metadata: [:], model: "m") }
        }
        // A damaged curve in the model file names the file.
        do {
            _ = try RestoreStrength.resolve(nil, metadata: [StrengthCurve.metadataKey: "5:9"], model: "/x/m.safetensors")
            Issue.record("a damaged curve was accepted")
        } catch let StrengthError.invalidCurve(text, _) {
            #expect(text.contains("/x/m.safetensors"))
        }
    }

    @Test("blind noise estimate: σ of white noise on tissue within 3 %; edges, padding and non-tissue ignored")
    func noiseEstimate() throws {
        let (rows, cols) = (128, 128)
        // Network output: tissue (40 HU) on the left, fat (−100) on the right, a bright 300 HU block.
        var output = [Float](repeating: 40, count: rows * cols)
        for r in 0..<rows { for c in 64..<cols { output[r * cols + c] = -100 } }
        for r in 20..<40 { for c in 20..<40 { output[r * cols + c] = 300 } }
        let noise = gaussians(rows * cols, seed: 9)
        var input = zip(output, noise).map { $0 + 20 * $1 }
        // Structure the network removed at the tissue boundaries (±150 HU rings): excluded by the erosion.
        for r in 0..<rows { input[r * cols + 63] += 150; input[r * cols + 62] -= 150 }
        for c in 19..<41 { input[19 * cols + c] += 150; input[40 * cols + c] += 150 }
        let sigma = try #require(NoiseEstimate.removed(input: input, output: output, rows: rows, columns: cols))
        #expect(abs(sigma - 20) / 20 < 0.03, "estimated \(sigma) HU for 20 HU")
        // Padding is left out.
        var padded = input, mask = [UInt8](repeating: 0, count: rows * cols)
        for i in 0..<(rows * cols / 2) where i % cols < 64 { padded[i] += 500; mask[i] = 1 }
        let withPadding = try #require(NoiseEstimate.removed(input: padded, output: output, rows: rows, columns: cols, paddingMask: mask))
        #expect(abs(withPadding - 20) / 20 < 0.05)
        // Too little tissue: no estimate.
        let fat = [Float](repeating: -100, count: rows * cols)
        #expect(NoiseEstimate.removed(input: fat, output: fat, rows: rows, columns: cols) == nil)
        #expect(NoiseEstimate.removed(input: [1, 2], output: [1], rows: 1, columns: 2) == nil)
    }

    @Test("slice restoration at strength 0, 0.5, 1: the input, the midpoint, the network; padding kept")
    func blend() throws {
        let model = REDCNN(config: REDCNNConfig(width: 4), seed: 2)
        var image = SliceImage(rows: 40, columns: 30, hu: gaussians(1200, seed: 3).map { 40 + 25 * $0 })
        image.paddingMask = [UInt8](repeating: 0, count: 1200)
        for i in 0..<60 { image.paddingMask[i] = 1; image.hu[i] = -3024 }
        let network = SliceRestorer(model: model).restore(image)
        let zero = SliceRestorer(model: model, strength: .fixed(0)).restoreWithDetail(image)
        #expect(zero.image.hu == image.hu && zero.detail.alpha == 0)
        let half = SliceRestorer(model: model, strength: .fixed(0.5)).restore(image)
        for i in 60..<1200 { #expect(abs(half.hu[i] - (image.hu[i] + network.hu[i]) / 2) < 1e-3) }
        #expect(half.hu[0..<60].allSatisfy { $0 == -3024 })
        #expect(network.hu.enumerated().contains { $0.offset >= 60 && $0.element != image.hu[$0.offset] })
        // auto: α from the curve at the measured removed noise; where there is too little tissue to
        // measure it (this 40×30 slice), the network's output as it is.
        let curve = try StrengthCurve(parsing: "5:0.3,50:0.9")
        let auto = SliceRestorer(model: model, strength: .auto(curve)).restoreWithDetail(image)
        #expect(auto.detail.removedNoise == nil && auto.detail.alpha == 1 && auto.image.hu == network.hu)
        #expect(RestoreStrength.auto(curve).alpha(removedNoise: 5) == 0.3)
        #expect(RestoreStrength.auto(curve).alpha(removedNoise: nil) == 1)
        #expect(RestoreStrength.fixed(0.7).alpha(removedNoise: 5) == 0.7)
    }

    /// Slices whose network output removes all the noise (σ) and also a fixed amount of structure
    /// (S = 10 HU): the best α is σ²/(σ² + S²), small for quiet slices, near 1 for noisy ones.
    func syntheticSamples() -> [StrengthSample] {
        let (rows, cols) = (64, 64)
        var samples: [StrengthSample] = []
        for (k, sigma) in [3, 5, 8, 12, 18, 27, 40, 60].enumerated() {
            for rep in 0..<3 {
                let seed = UInt64(100 * k + rep)
                let normal = [Float](repeating: 40, count: rows * cols)
                let structure = gaussians(rows * cols, seed: seed).map { 10 * $0 }
                let noise = gaussians(rows * cols, seed: seed + 50_000).map { Float(sigma) * $0 }
                let low = SliceImage(rows: rows, columns: cols, hu: zip(normal, noise).map { $0 + $1 })
                let network = zip(normal, structure).map { $0 - $1 }
                samples.append(StrengthTuner.sample(low: low, network: network,
                                                    normal: SliceImage(rows: rows, columns: cols, hu: normal.enumerated().map { $0.element + structure[$0.offset] })))
            }
        }
        return samples
    }

    @Test("tuning: a monotone curve, gentle on quiet slices, near the per-slice best, better than the network as it is")
    func tuning() throws {
        let samples = syntheticSamples()
        let fit = try StrengthTuner.fit(samples, knots: 4, ssimWeight: 0, monotone: true)
        #expect(fit.slices == 24)
        let alphas = fit.curve.knots.map(\.alpha)
        #expect(alphas == alphas.sorted(), "monotone: \(fit.curve)")
        #expect(fit.curve.knots.count == 4)
        #expect(alphas.first! < 0.4 && alphas.last! > 0.8, "\(fit.curve)")
        #expect(fit.psnrTuned > fit.psnrNetwork + 1, "tuned \(fit.psnrTuned) vs network \(fit.psnrNetwork)")
        #expect(fit.psnrTuned > fit.psnrInput)
        #expect(fit.psnrOracle - fit.psnrTuned < 0.5, "tuned \(fit.psnrTuned) vs per-slice best \(fit.psnrOracle)")
        // The cap holds; few slices are refused.
        let capped = try StrengthTuner.fit(samples, knots: 4, maxAlpha: 0.5, ssimWeight: 0, monotone: true)
        #expect(capped.curve.knots.allSatisfy { $0.alpha <= 0.5 })
        #expect(throws: StrengthError.notEnoughPairs(found: 5, needed: 6)) { try StrengthTuner.fit(Array(samples.prefix(5))) }
        // Deterministic.
        #expect(try StrengthTuner.fit(samples, knots: 4, ssimWeight: 0, monotone: true).curve == fit.curve)
        #expect(try StrengthTuner.fit(samples, knots: 4).curve == StrengthTuner.fit(samples, knots: 4).curve)
        #expect(fit.ssimTuned != nil)
        // The SSIM table is the SSIM of the blend at each grid α; the tissue shift is the network's.
        let (rows, cols) = (64, 64)
        let normal = gaussians(rows * cols, seed: 7).map { 40 + 20 * $0 }
        let low = zip(normal, gaussians(rows * cols, seed: 8)).map { $0 + 30 * $1 }
        let network = normal.map { $0 + 3 }
        let s = StrengthTuner.sample(low: SliceImage(rows: rows, columns: cols, hu: low), network: network,
                                     normal: SliceImage(rows: rows, columns: cols, hu: normal))
        #expect(s.ssim.count == StrengthTuner.ssimGrid.count)
        for k in [0, 3, 10, 15] {
            let a = StrengthTuner.ssimGrid[k]
            let blend = zip(low, network).map { $0 + a * ($1 - $0) }
            let direct = Metrics.ssim(reference: normal, image: blend, rows: rows, columns: cols)
            #expect(abs(s.ssim[k] - direct) < 1e-9, "α \(a): table \(s.ssim[k]) vs \(direct)")
        }
        #expect(s.tissuePixels > 0)
        #expect(abs(s.tissueShiftSum / Double(max(s.tissuePixels, 1)) - 3) < 1e-3)
    }

    /// Sharp-kernel slices: the normal dose keeps its own noise (σ own 40 HU) and the low dose adds
    /// three times its power (25 % dose); the network returns the noise-free signal. The best blend
    /// is σ²added / (σ²added + σ²own) = 0.75, although these are the noisiest inputs.
    func sharpSamples() -> [StrengthSample] {
        let (rows, cols) = (64, 64)
        return (0..<8).map { k in
            let seed = UInt64(9_000 + k)
            let signal = gaussians(rows * cols, seed: seed).map { 40 + 30 * $0 }
            let own = gaussians(rows * cols, seed: seed + 1_000).map { 40 * $0 }
            let added = gaussians(rows * cols, seed: seed + 2_000).map { 40 * Float(3).squareRoot() * $0 }
            let normal = zip(signal, own).map { $0 + $1 }
            let low = zip(normal, added).map { $0 + $1 }
            return StrengthTuner.sample(low: SliceImage(rows: rows, columns: cols, hu: low), network: signal,
                                        normal: SliceImage(rows: rows, columns: cols, hu: normal))
        }
    }

    @Test("tuning: the curve falls again where the noisiest slices' reference keeps its own noise; --monotone cannot")
    func nonMonotone() throws {
        let samples = syntheticSamples() + sharpSamples()
        let fit = try StrengthTuner.fit(samples, knots: 5, ssimWeight: 0)
        let noisiest = try #require(fit.curve.knots.last)
        #expect(noisiest.sigma > 70, "\(fit.curve)")
        #expect(abs(noisiest.alpha - 0.75) < 0.1, "sharp slices want 0.75: \(fit.curve)")
        #expect(fit.curve.alpha(40) > 0.9, "smooth slices with 40 HU want nearly all: \(fit.curve)")
        let monotone = try StrengthTuner.fit(samples, knots: 5, ssimWeight: 0, monotone: true)
        let alphas = monotone.curve.knots.map(\.alpha)
        #expect(alphas == alphas.sorted())
        #expect(fit.psnrTuned > monotone.psnrTuned + 0.1, "free \(fit.psnrTuned) vs monotone \(monotone.psnrTuned)")
    }

    @Test("tuning: SSIM in the score moves the curve where PSNR and SSIM disagree; weight 0 is PSNR alone")
    func ssimWeight() throws {
        // PSNR best at α = 1, SSIM best at α = 0.6 (tabulated directly).
        let samples = (0..<12).map { k in
            StrengthSample(removedNoise: 20 + Float(k),
                           mse: StrengthTuner.alphaGrid.map { 100 + 400 * Double(($0 - 1) * ($0 - 1)) },
                           ssim: StrengthTuner.ssimGrid.map { 0.9 - 0.5 * Double(($0 - 0.6) * ($0 - 0.6)) })
        }
        let psnrOnly = try StrengthTuner.fit(samples, knots: 1, ssimWeight: 0)
        let both = try StrengthTuner.fit(samples, knots: 1)
        #expect(abs(psnrOnly.curve.knots[0].alpha - 1) < 0.02, "\(psnrOnly.curve)")
        let a = both.curve.knots[0].alpha
        #expect(a > 0.6 && a < 0.95, "\(both.curve)")
        #expect(try #require(both.ssimTuned) > #require(psnrOnly.ssimTuned))
        #expect(both.psnrTuned < psnrOnly.psnrTuned)
        // Samples without SSIM tables are scored by PSNR whatever the weight.
        let bare = samples.map { StrengthSample(removedNoise: $0.removedNoise, mse: $0.mse) }
        #expect(try StrengthTuner.fit(bare, knots: 1).curve == psnrOnly.curve)
    }
}
