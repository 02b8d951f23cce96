import DICOMIO
import Foundation
import ImageQuality
import LowDoseSimulation

/// The grain of the inserted noise.
public enum TextureSetting: Sendable, Equatable {
    /// Fitted per series to the source image's own noise (TextureFit); the default with calibration.
    case auto
    case fixed(NoiseTexture)

    /// `auto`, `ram-lak`, `shepp-logan`, `hann`.
    public init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let f = ReconstructionFilter(rawValue: argument) else { return nil }
        self = .fixed(.filter(f))
    }
}

/// How each slice's full-dose photons per ray were chosen.
public enum ExposureModel: String, Sendable, Codable {
    /// The given I0 for every slice.
    case fixed
    /// The given I0 at the series' median tube current, each slice scaled by its own (modulation).
    case fixedTubeCurrent = "fixed, scaled by tube current"
    /// Each slice from its own measured noise (tags constant, copied or absent).
    case calibratedPerSlice = "calibrated per slice"
    /// I0 ∝ the slice's tube current (or exposure), the constant calibrated on the series' noise.
    case tubeCurrent = "per-slice tube current (modulation)"
}

/// The lower-dose noise plan of one series: texture, exposure model and the photons of each slice.
///
/// Physics (docs/simulation.md): a ray with line integral p at full-dose fluence I0 has
/// log-measurement variance e^p/I0; at dose fraction f the noise to add has variance
/// (1/f − 1)·e^p/I0. Noise thus grows with the attenuation along each ray, and σ ∝ 1/√I0, so one
/// reconstruction at I0 = 1 (`NoiseInserter.unitNoise`) serves every photon count. Per slice, I0
/// follows that slice's exposure: its X-Ray Tube Current (else Exposure) when these vary along
/// the series (tube-current modulation), I0_i = k·mA_i with k calibrated on the series' noise
/// (median over sampled slices); when they do not vary (constant, copied or absent), I0_i is
/// calibrated from slice i's own noise σ0_i: the added noise must have σ0_i·√(1/f − 1), both σ
/// measured the same way (median σ of 8×8 blocks in soft tissue) so that correlated noise is
/// compared like with like.
public struct NoisePlan: Sendable {
    public var texture: NoiseTexture
    public var exposure: ExposureModel
    /// For fixed / tube-current models: photons per ray of every slice; empty when calibrated per slice.
    public var photons: [Double]
    /// The texture fit, when the texture was fitted.
    public var fit: TextureFit?
    public var doseFraction: Double

    /// Plans the series. `image(i)` returns slice i in HU with padding as air.
    public static func make(series: SeriesInfo, grid: Grid, doseFraction f: Double, photons setting: PhotonSetting,
                            texture textureSetting: TextureSetting, seed: UInt64,
                            image: (Int) throws -> [Float]) throws -> NoisePlan {
        let n = series.slices.count
        // Texture first: calibration must measure the noise it will insert.
        var texture = NoiseTexture.filter(.ramLak)
        var fit: TextureFit?
        switch textureSetting {
        case .fixed(let t): texture = t
        case .auto:
            // Three slices for short series, up to six from 30 slices on: the NPS of a few 16-px
            // squares per slice scatters (A0001-B: mean frequency +10.9 % with 3 of 16 slices,
            // +7.5 % with 6).
            let picks = sample(n, count: min(6, max(3, n / 5)))
            var images: [[Float]] = []
            for i in picks { images.append(try image(i)) }
            let spacing = min(grid.dx, grid.dy)
            let result = try TextureFit.fit(images: images, grid: grid, spacing: spacing, seed: seed, doseFraction: f)
            texture = result.texture
            fit = result
        }
        // Exposure per slice.
        let current = series.slices.map { $0.dose.tubeCurrentMA ?? $0.dose.exposureMAs }
        let values = current.compactMap { $0 }
        let modulated: Bool = {
            guard values.count == n, let lo = values.min(), let hi = values.max(), lo > 0 else { return false }
            let median = values.sorted()[values.count / 2]
            return (hi - lo) / median > 0.05
        }()
        switch setting {
        case .fixed(let i0):
            if modulated {
                let median = values.sorted()[values.count / 2]
                return NoisePlan(texture: texture, exposure: .fixedTubeCurrent, photons: values.map { i0 * $0 / median },
                                 fit: fit, doseFraction: f)
            }
            return NoisePlan(texture: texture, exposure: .fixed, photons: Array(repeating: i0, count: n), fit: fit, doseFraction: f)
        case .calibrate:
            guard modulated else {
                return NoisePlan(texture: texture, exposure: .calibratedPerSlice, photons: [], fit: fit, doseFraction: f)
            }
            // k = I0 per mA, from up to 9 slices' own noise.
            let inserter = NoiseInserter(photonsPerRay: 1, texture: texture)
            var ratios: [Double] = []
            for i in sample(n, count: 9) {
                let hu = try image(i)
                let unit = try inserter.unitNoise(for: hu, grid: grid, doseFraction: f, seed: seed ^ 0x5EED ^ UInt64(i))
                if let i0 = try? calibratedPhotons(hu: hu, unitNoise: unit, grid: grid, doseFraction: f), let mA = current[i] {
                    ratios.append(i0 / mA)
                }
            }
            guard !ratios.isEmpty else { throw SimulationError.noUniformRegion(reason: "no sampled slice has uniform soft tissue to calibrate on") }
            let k = ratios.sorted()[ratios.count / 2]
            return NoisePlan(texture: texture, exposure: .tubeCurrent, photons: values.map { k * $0 }, fit: fit, doseFraction: f)
        }
    }

    /// The noise for slice `index` and the photons per ray it was made with.
    public func noise(index: Int, hu: [Float], grid: Grid, seed: UInt64) throws -> (noise: [Float], photons: Double) {
        let unit = try NoiseInserter(photonsPerRay: 1, texture: texture).unitNoise(for: hu, grid: grid, doseFraction: doseFraction, seed: seed)
        let i0 = photons.isEmpty ? try NoisePlan.calibratedPhotons(hu: hu, unitNoise: unit, grid: grid, doseFraction: doseFraction)
            : photons[index]
        let scale = Float(1 / i0.squareRoot())
        return (unit.map { $0 * scale }, i0)
    }

    /// I0 that gives the unit noise the σ dose f adds to this slice: (σ_unit / σ_target)², with
    /// σ_target = σ0·√(1/f − 1), both σ by the same 8×8-block estimate in the slice's soft tissue.
    static func calibratedPhotons(hu: [Float], unitNoise: [Float], grid: Grid, doseFraction f: Double) throws -> Double {
        let mask = try NoiseEstimate.tissueMask(hu, rows: grid.rows)
        let sigma0 = try NoiseEstimate.blockSigma(hu, mask: mask, grid: grid)
        let sigmaUnit = try NoiseEstimate.blockSigma(unitNoise, mask: mask, grid: grid)
        let target = sigma0 * (1 / f - 1).squareRoot()
        guard target > 0, sigmaUnit > 0 else { throw SimulationError.noUniformRegion(reason: "no noise measurable in soft tissue") }
        return pow(sigmaUnit / target, 2)
    }

    /// Up to `count` indices spread evenly over 0..<n (middle first when count is 1).
    static func sample(_ n: Int, count: Int) -> [Int] {
        guard n > count else { return Array(0..<n) }
        return (0..<count).map { (2 * $0 + 1) * n / (2 * count) }
    }

    public var photonRange: (Double, Double)? {
        guard let lo = photons.min(), let hi = photons.max() else { return nil }
        return (lo, hi)
    }

    /// One line for descriptions and logs (ASCII: it goes into DICOM text attributes).
    public var summary: String {
        var s = "exposure " + exposure.rawValue
        if let (lo, hi) = photonRange {
            s += lo == hi ? String(format: ", I0 %.4g photons/ray", lo) : String(format: ", I0 %.4g to %.4g photons/ray", lo, hi)
        }
        s += ", texture " + (fit == nil ? texture.description : "fitted " + texture.description)
        return s
    }
}

/// A ramp apodisation fitted to an image's own noise: the radial NPS of the image in its uniform
/// squares (target) against that of Ram-Lak-reconstructed noise in the same squares (the
/// projector's own blur included); W(f)² follows their ratio. W is `NoiseTexture.apodised`
/// (Gaussian roll-off × high-frequency lift), fitted in log space over the rings above the first.
public struct TextureFit: Sendable, Equatable {
    public var texture: NoiseTexture
    /// Radial NPS of the image's own noise (shape; HU²·mm²) and its mean frequency (mm⁻¹).
    public var target: NoisePowerSpectrum
    /// Predicted NPS of the inserted noise: Ram-Lak noise's NPS × W², scaled to the target.
    public var predicted: NoisePowerSpectrum

    public static func fit(images: [[Float]], grid: Grid, spacing: Double, seed: UInt64, doseFraction f: Double) throws -> TextureFit {
        var targetSum: [Double] = [], rampSum: [Double] = [], freqs: [Double] = []
        let ramp = NoiseInserter(photonsPerRay: 1, texture: .filter(.ramLak))
        for (k, hu) in images.enumerated() {
            let rois = Regions.uniformROIs(guide: hu, rows: grid.rows, columns: grid.columns)
            guard let t = Regions.nps(hu, columns: grid.columns, rois: rois, spacing: spacing) else { continue }
            let unit = try ramp.unitNoise(for: hu, grid: grid, doseFraction: f, seed: seed ^ 0x7E57 ^ UInt64(k))
            // The Ram-Lak noise has no anatomy: its spectrum's shape comes from every square of the
            // same size inside the body (hundreds, not six), so the ratio's scatter is the target's.
            let side = rois.first?.size ?? 16
            var body: [ROI] = []
            for r in stride(from: 0, through: grid.rows - side, by: side) {
                for c in stride(from: 0, through: grid.columns - side, by: side)
                where hu[r * grid.columns + c] > -500 && hu[(r + side - 1) * grid.columns + c + side - 1] > -500
                    && hu[r * grid.columns + c + side - 1] > -500 && hu[(r + side - 1) * grid.columns + c] > -500 {
                    body.append(ROI(row: r, column: c, size: side))
                }
            }
            guard let r = Regions.nps(unit, columns: grid.columns, rois: body.isEmpty ? rois : body, spacing: spacing),
                  r.power.count == t.power.count else { continue }
            if targetSum.isEmpty { targetSum = t.power; rampSum = r.power; freqs = t.frequencies; continue }
            guard t.power.count == targetSum.count else { continue }
            for i in targetSum.indices { targetSum[i] += t.power[i]; rampSum[i] += r.power[i] }
        }
        guard freqs.count >= 4 else { throw SimulationError.noUniformRegion(reason: "no uniform soft tissue to measure the noise texture in") }
        // Rings above the first (the mean removed per square empties it) up to the last full ring.
        let usable = (1..<freqs.count).filter { targetSum[$0] > 0 && rampSum[$0] > 0 }
        let logRatio = usable.map { log(targetSum[$0] / rampSum[$0]) }
        let cycles = usable.map { freqs[$0] * spacing }  // mm⁻¹ → cycles per detector sample
        // Weighted by each ring's share of the noise (power × ring area ∝ f): rings where the
        // noise lives decide the grain; near-empty rings (a smooth kernel at Nyquist) do not.
        let weights: [Double] = {
            let w = usable.map { targetSum[$0] * freqs[$0] }
            let total = w.reduce(0, +)
            return w.map { $0 / max(total, 1e-30) }
        }()
        var best = (err: Double.infinity, c: 0.5, b: 0.0)
        for ci in 0..<70 {
            let c = 0.03 * pow(1.06, Double(ci))  // 0.03 … 1.5 cycles/sample
            for bi in 0..<31 {
                let b = Double(bi) * 0.1
                let model = cycles.map { 2 * log(max(NoiseTexture.apodised(cutoff: c, boost: b).window($0), 1e-12)) }
                let residual = zip(logRatio, model).map { $0 - $1 }
                let offset = zip(residual, weights).map { $0 * $1 }.reduce(0, +)
                let err = zip(residual, weights).map { ($0 - offset) * ($0 - offset) * $1 }.reduce(0, +)
                if err < best.err { best = (err, c, b) }
            }
        }
        let texture = NoiseTexture.apodised(cutoff: best.c, boost: best.b)
        let shape = freqs.indices.map { i in rampSum[i] * pow(texture.window(freqs[i] * spacing), 2) }
        let scale = targetSum.reduce(0, +) / max(shape.reduce(0, +), 1e-30)
        func spectrum(_ p: [Double]) -> NoisePowerSpectrum {
            let total = p.reduce(0, +)
            // Rings weighted by their area (∝ f), as the 2-D mean frequency of Regions.nps.
            let area = zip(freqs, p).map { $0 * $1 }.reduce(0, +)
            let mean = total > 0 && area > 0 ? zip(freqs, p).map { $0 * $0 * $1 }.reduce(0, +) / area : 0
            return NoisePowerSpectrum(frequencies: freqs, power: p.map { $0 / Double(images.count) }, meanFrequency: mean, variance: 0)
        }
        return TextureFit(texture: texture, target: spectrum(targetSum), predicted: spectrum(shape.map { $0 * scale }))
    }
}
