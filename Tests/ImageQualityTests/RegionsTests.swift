import Foundation
import ImageQuality
import Testing

/// Seeded Gaussian noise (Box–Muller on SplitMix64) for region tests.
struct NoiseSource {
    var state: UInt64
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
    mutating func gaussian() -> Double {
        let u = max(next(), 1e-300), v = next()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

@Suite("regions: noise, NPS, CNR, Dice")
struct RegionsTests {
    /// A body-like image: water disc (40 HU) with a fat disc (−100 HU), air outside, white noise σ.
    func phantom(size n: Int = 128, sigma: Double, seed: UInt64 = 1) -> [Float] {
        var rng = NoiseSource(state: seed)
        var img = [Float](repeating: -1000, count: n * n)
        let c = Double(n) / 2
        for y in 0..<n {
            for x in 0..<n {
                let r = ((Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)).squareRoot()
                let fat = ((Double(x) - c * 0.6) * (Double(x) - c * 0.6) + (Double(y) - c) * (Double(y) - c)).squareRoot() < Double(n) / 10
                if r < Double(n) * 0.45 { img[y * n + x] = Float((fat ? -100 : 40) + sigma * rng.gaussian()) }
            }
        }
        return img
    }

    @Test("white noise: σ measured within 5 %, uniform regions avoid edges, air and padding")
    func noise() throws {
        let n = 128
        let img = phantom(sigma: 20)
        var padding = [UInt8](repeating: 0, count: n * n)
        for i in 0..<(n * 20) { padding[i] = 1 }
        let rois = Regions.uniformROIs(guide: img, rows: n, columns: n, paddingMask: padding)
        #expect(rois.count == 6)
        for r in rois {
            #expect(r.row >= 20, "a region overlaps padding")
            let m = Regions.stats(img, columns: n, roi: r).mean
            #expect(abs(m - 40) < 10, "region not in the water disc: mean \(m)")
        }
        let sigma = try #require(Regions.noise(img, columns: n, rois: rois))
        #expect(abs(sigma - 20) / 20 < 0.05, "σ \(sigma)")
    }

    @Test("NPS of white noise is flat, integrates to the variance, mean frequency near 2/3 of Nyquist·√2-disc")
    func nps() throws {
        let n = 128
        let img = phantom(sigma: 10)
        let rois = Regions.uniformROIs(guide: img, rows: n, columns: n, size: 16)
        let spectrum = try #require(Regions.nps(img, columns: n, rois: rois, spacing: 0.5))
        // Parseval: ∫NPS = variance of the mean-removed regions.
        let sigma = try #require(Regions.noise(img, columns: n, rois: rois))
        #expect(abs(spectrum.variance - sigma * sigma) / (sigma * sigma) < 1e-9)
        // White noise: NPS level σ²·Δ² away from 0 (the removed mean empties the DC bin).
        let level = 100 * 0.25
        let middle = spectrum.power[2..<spectrum.power.count - 1]
        #expect(abs(middle.reduce(0, +) / Double(middle.count) - level) / level < 0.35)
        #expect(spectrum.frequencies.last == 1.0, "Nyquist of 0.5 mm pixels is 1 mm⁻¹")
        // Smoothing lowers the mean frequency.
        let smooth = Regions.boxMean(img, rows: n, columns: n, radius: 1)
        let s2 = try #require(Regions.nps(smooth, columns: n, rois: rois, spacing: 0.5))
        #expect(s2.meanFrequency < spectrum.meanFrequency * 0.8)
    }

    @Test("quadratic detrending removes a tissue gradient and bowl exactly; on white noise it changes the spectrum only in the lowest rings")
    func detrend() throws {
        let n = 128
        let noise = phantom(sigma: 10)
        let rois = Regions.uniformROIs(guide: noise, rows: n, columns: n, size: 16)
        // Slow anatomy: a plane plus a bowl (HU per pixel), as a square across an organ's rim has.
        var slow = noise
        for y in 0..<n { for x in 0..<n where noise[y * n + x] > -500 {
            let (u, v) = (Double(x) - 64, Double(y) - 64)
            slow[y * n + x] += Float(0.8 * u - 0.5 * v + 0.01 * u * u + 0.006 * u * v - 0.008 * v * v)
        } }
        let plain = try #require(Regions.nps(noise, columns: n, rois: rois, spacing: 0.5, detrend: .quadratic))
        let trended = try #require(Regions.nps(slow, columns: n, rois: rois, spacing: 0.5, detrend: .quadratic))
        #expect(zip(plain.power, trended.power).allSatisfy { abs($0 - $1) <= 1e-6 * max($0, 1) }, "the trend is gone")
        let meanOnly = try #require(Regions.nps(slow, columns: n, rois: rois, spacing: 0.5))
        #expect(meanOnly.power[1] > 5 * plain.power[1], "mean removal leaves the trend in ring 1: \(meanOnly.power[1]) vs \(plain.power[1])")
        // White noise stays flat from ring 3 on (the six fitted functions take power from rings 0–2 only).
        let flat = try #require(Regions.nps(noise, columns: n, rois: rois, spacing: 0.5))
        for k in 3..<(plain.power.count - 1) {
            #expect(abs(plain.power[k] / flat.power[k] - 1) < 0.2, "ring \(k): \(plain.power[k]) vs \(flat.power[k])")
        }
    }

    @Test("Dice: identical 1, disjoint 0, known overlap; CNR ∝ 1/σ")
    func diceAndCNR() throws {
        let a: [Float] = [40, 40, 40, 40, -100, -100, 500, -1000]
        #expect(Regions.dice(a, a, tissue: .softTissue) == 1)
        let b: [Float] = [40, 40, -100, -100, 40, 40, 500, -1000]
        #expect(Regions.dice(a, b, tissue: .softTissue) == 0.5)
        #expect(Regions.dice(a, b, tissue: .bone) == 1)
        #expect(Regions.dice([-1000], [-1000], tissue: .bone) == nil)
        #expect(TissueClass.of(-401) == .airLung && TissueClass.of(-400) == .fat && TissueClass.of(-20) == .softTissue && TissueClass.of(300) == .bone)
        let n = 128
        let noisy = phantom(sigma: 20), quiet = phantom(sigma: 10)
        let guide = Regions.boxMean(quiet, rows: n, columns: n, radius: 2)
        let soft = Regions.erodedMask(guide, rows: n, columns: n, tissue: .softTissue)
        let fat = Regions.erodedMask(guide, rows: n, columns: n, tissue: .fat)
        #expect(!Regions.mask(guide, tissue: .fat).elementsEqual(fat), "erosion removes the skin's partial volume")
        let rois = Regions.uniformROIs(guide: quiet, rows: n, columns: n)
        let c1 = try #require(Regions.cnr(noisy, columns: n, soft: soft, fat: fat, rois: rois))
        let c2 = try #require(Regions.cnr(quiet, columns: n, soft: soft, fat: fat, rois: rois))
        #expect(abs(c2 / c1 - 2) < 0.2, "CNR \(c1) vs \(c2)")
        #expect(abs(c2 - 140.0 / 10) / 14 < 0.1)
    }
}
