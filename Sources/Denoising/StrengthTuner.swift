import DICOMIO
import Foundation
import ImageQuality

/// One paired slice, as the tuner sees it: the noise the network removed from it (blind, as
/// restore measures it) and the error against normal dose for every α of `StrengthTuner.alphaGrid`
/// (SSIM on the coarser `StrengthTuner.ssimGrid`).
public struct StrengthSample: Sendable {
    /// `NoiseEstimate.removed` of the slice; nil when it has too little soft tissue (not used).
    public var removedNoise: Float?
    /// Mean squared error (HU², in the PSNR window) of input + α·(network − input) against normal
    /// dose, one per grid α.
    public var mse: [Double]
    /// SSIM (window as the PSNR's) of input + α·(network − input) against normal dose, one per
    /// `ssimGrid` α; empty when not computed (the fit then scores PSNR alone).
    public var ssim: [Double]
    /// Σ (network − normal dose) over the uniform soft-tissue squares of the normal dose (HU), and
    /// how many pixels they hold (0: no such square): the network's CT-number shift, as the
    /// trainer's validation measures it.
    public var tissueShiftSum: Double
    public var tissuePixels: Int

    public init(removedNoise: Float?, mse: [Double], ssim: [Double] = [], tissueShiftSum: Double = 0, tissuePixels: Int = 0) {
        self.removedNoise = removedNoise
        self.mse = mse
        self.ssim = ssim
        self.tissueShiftSum = tissueShiftSum
        self.tissuePixels = tissuePixels
    }
}

/// What `StrengthTuner.fit` found, in the report's PSNR convention (window −160…240 HU, data range 400).
public struct StrengthFit: Sendable {
    public var curve: StrengthCurve
    public var slices: Int
    /// Mean PSNR (dB) of the low-dose input (α = 0), the network as it is (α = 1), the tuned curve,
    /// and the best α of each slice on its own (by the fit's score; what no blind rule can beat).
    public var psnrInput: Double
    public var psnrNetwork: Double
    public var psnrTuned: Double
    public var psnrOracle: Double
    /// Mean SSIM of the same four (nil when the samples carry no SSIM).
    public var ssimInput: Double?
    public var ssimNetwork: Double?
    public var ssimTuned: Double?
    public var ssimOracle: Double?
    /// The network's mean HU shift (output − normal dose at strength 1) in the uniform soft-tissue
    /// squares of all samples, and the slices that had such squares; nil when none had.
    public var networkShift: Double?
    public var shiftSlices: Int
}

/// Tunes the automatic strength of a model on paired low/normal-dose slices: picks the curve
/// α(removed noise σ̂) — piecewise linear in ln σ̂, each knot within 0…`maxAlpha` — that maximises
/// the mean score against normal dose, score = PSNR (dB) + `ssimWeight` × SSIM. Deterministic (no
/// random state).
///
/// The curve is not forced to rise with σ̂. On real anatomy the best strength falls again for the
/// noisiest inputs when they come from sharp kernels: their normal dose keeps its own strong noise,
/// which is in the low-dose input too, and a denoiser that removes it all moves away from the
/// reference (for a perfect denoiser the best blend is σ²added / (σ²added + σ²own), 0.75 at 25 %
/// dose). The default weight of SSIM, 50 dB per unit (1 dB ≙ 0.02 SSIM, the ratio of issue 16's
/// target), keeps the curve from buying PSNR with SSIM: PSNR alone prefers to remove the sharp
/// kernel's noise a little more than SSIM does.
public enum StrengthTuner {
    /// α values the error is tabulated at (0, 0.05, …, 2); between them it is interpolated linearly.
    public static let alphaGrid: [Float] = (0...40).map { Float($0) * 0.05 }
    /// α values SSIM is tabulated at (0, 0.1, …, 2: three blurs of the slice each); linear between.
    public static let ssimGrid: [Float] = (0...20).map { Float($0) * 0.1 }
    /// The default weight of SSIM in the score (dB per unit SSIM).
    public static let defaultSSIMWeight = 50.0
    /// The PSNR convention of the report and the model card ([−160, 240] HU, data range 400).
    public static let convention = MetricConvention.ldct

    /// The sample of one slice: `network` is the network's output in HU (α = 1; padding as in the
    /// input). `ssim: false` skips the SSIM table (PSNR-only tuning, ≈ 20× cheaper).
    public static func sample(low: SliceImage, network: [Float], normal: SliceImage, ssim withSSIM: Bool = true) -> StrengthSample {
        let n = low.hu.count
        let sigma = NoiseEstimate.removed(input: low.hu, output: network, rows: low.rows, columns: low.columns,
                                          paddingMask: low.paddingMask)
        var sums = [Double](repeating: 0, count: alphaGrid.count)
        let (lo, hi) = (Float(convention.clipLow), Float(convention.clipHigh))
        for i in 0..<n {
            let ref = min(max(normal.hu[i], lo), hi)
            let l = low.hu[i], d = network[i] - low.hu[i]
            for (k, a) in alphaGrid.enumerated() {
                let e = Double(min(max(l + a * d, lo), hi) - ref)
                sums[k] += e * e
            }
        }
        var ssims: [Double] = []
        if withSSIM {
            let reference = SSIMReference(normal.hu, rows: normal.rows, columns: normal.columns, convention: convention)
            ssims = ssimGrid.map { a in
                reference.ssim(zip(low.hu, network).map { $0 + a * ($1 - $0) })
            }
        }
        let rois = Regions.uniformROIs(guide: normal.hu, rows: normal.rows, columns: normal.columns)
        let (shift, pixels) = Regions.difference(network, from: normal.hu, columns: normal.columns, rois: rois)
        return StrengthSample(removedNoise: sigma, mse: sums.map { $0 / Double(max(n, 1)) }, ssim: ssims,
                              tissueShiftSum: shift, tissuePixels: pixels)
    }

    static func psnr(_ mse: Double) -> Double { 10 * log10(convention.dataRange * convention.dataRange / max(mse, 1e-12)) }

    /// PSNR of a sample at any α within the grid's range (MSE interpolated between grid points).
    static func psnr(_ s: StrengthSample, alpha: Float) -> Double {
        let step = alphaGrid[1] - alphaGrid[0]
        let x = Double(min(max(alpha, alphaGrid[0]), alphaGrid[alphaGrid.count - 1]) / step)
        let k = min(Int(x), alphaGrid.count - 2)
        let t = x - Double(k)
        return psnr(s.mse[k] * (1 - t) + s.mse[k + 1] * t)
    }

    /// SSIM of a sample at any α within the grid's range (interpolated between `ssimGrid` points).
    static func ssim(_ s: StrengthSample, alpha: Float) -> Double {
        let step = ssimGrid[1] - ssimGrid[0]
        let x = Double(min(max(alpha, ssimGrid[0]), ssimGrid[ssimGrid.count - 1]) / step)
        let k = min(Int(x), ssimGrid.count - 2)
        let t = x - Double(k)
        return s.ssim[k] * (1 - t) + s.ssim[k + 1] * t
    }

    /// Fits the curve. Knots sit at `knots` geometrically spaced σ̂ from the quietest to the noisiest
    /// usable slice (fewer when there are few slices: at least 6 slices per knot); their α values are
    /// found by coordinate descent in steps of 0.01 over 0…`maxAlpha`, maximising the mean of
    /// PSNR + `ssimWeight` × SSIM (SSIM only when every sample carries it; weight 0: PSNR alone).
    /// `monotone` keeps each knot between its neighbours (the curve of sessions before real anatomy).
    public static func fit(_ samples: [StrengthSample], knots requested: Int = 6, maxAlpha: Float = 1.5,
                           ssimWeight: Double = defaultSSIMWeight, monotone: Bool = false,
                           minimumSlices: Int = 6) throws -> StrengthFit {
        // A slice the network left untouched (σ̂ = 0) says nothing about how strong to be.
        let usable = samples.filter { ($0.removedNoise ?? 0) > 0 && $0.mse.count == alphaGrid.count }
        guard usable.count >= minimumSlices else { throw StrengthError.notEnoughPairs(found: usable.count, needed: minimumSlices) }
        guard maxAlpha > 0, maxAlpha <= StrengthCurve.alphaRange.upperBound else {
            throw StrengthError.invalidCurve(text: "\(maxAlpha)", reason: "the largest strength must be within 0…2")
        }
        let withSSIM = usable.allSatisfy { $0.ssim.count == ssimGrid.count }
        let weight = withSSIM && ssimWeight.isFinite ? max(0, ssimWeight) : 0
        func score(_ s: StrengthSample, _ alpha: Float) -> Double {
            weight > 0 ? psnr(s, alpha: alpha) + weight * ssim(s, alpha: alpha) : psnr(s, alpha: alpha)
        }
        let sigmas = usable.compactMap(\.removedNoise)
        let (smin, smax) = (sigmas.min() ?? 1, sigmas.max() ?? 1)
        var count = max(1, min(requested, usable.count / minimumSlices))
        if smax <= smin * 1.01 { count = 1 }
        let knotSigmas: [Float] = count == 1 ? [smin] : (0..<count).map {
            Float(exp(log(Double(smin)) + Double($0) / Double(count - 1) * (log(Double(smax)) - log(Double(smin)))))
        }
        var alphas = [Float](repeating: min(1, maxAlpha), count: count)
        func curve(_ a: [Float]) throws -> StrengthCurve {
            try StrengthCurve(knots: zip(knotSigmas, a).map { StrengthCurve.Knot(sigma: $0, alpha: $1) })
        }
        func objective(_ a: [Float]) throws -> Double {
            let c = try curve(a)
            return usable.reduce(0) { $0 + score($1, c.alpha($1.removedNoise ?? 0)) } / Double(usable.count)
        }
        var best = try objective(alphas)
        for _ in 0..<50 {
            var improved = false
            for k in 0..<count {
                let lower: Float = monotone && k > 0 ? alphas[k - 1] : 0
                let upper: Float = monotone && k < count - 1 ? alphas[k + 1] : maxAlpha
                var candidate = lower
                while candidate <= upper + 1e-6 {
                    var trial = alphas
                    trial[k] = (candidate * 100).rounded() / 100
                    let value = try objective(trial)
                    if value > best + 1e-9 {
                        best = value
                        alphas = trial
                        improved = true
                    }
                    candidate += 0.01
                }
            }
            if !improved { break }
        }
        let tuned = try curve(alphas)
        let bestAlpha = usable.map { s in
            (0...200).map { Float($0) * 0.01 }.max { score(s, $0) < score(s, $1) } ?? 1
        }
        func mean(_ f: (StrengthSample, Int) -> Double) -> Double {
            usable.enumerated().reduce(0) { $0 + f($1.element, $1.offset) } / Double(usable.count)
        }
        let alphaOf = { (s: StrengthSample) in tuned.alpha(s.removedNoise ?? 0) }
        let tissuePixels = samples.reduce(0) { $0 + $1.tissuePixels }
        return StrengthFit(
            curve: tuned, slices: usable.count,
            psnrInput: mean { s, _ in psnr(s, alpha: 0) }, psnrNetwork: mean { s, _ in psnr(s, alpha: 1) },
            psnrTuned: mean { s, _ in psnr(s, alpha: alphaOf(s)) }, psnrOracle: mean { s, i in psnr(s, alpha: bestAlpha[i]) },
            ssimInput: withSSIM ? mean { s, _ in ssim(s, alpha: 0) } : nil,
            ssimNetwork: withSSIM ? mean { s, _ in ssim(s, alpha: 1) } : nil,
            ssimTuned: withSSIM ? mean { s, _ in ssim(s, alpha: alphaOf(s)) } : nil,
            ssimOracle: withSSIM ? mean { s, i in ssim(s, alpha: bestAlpha[i]) } : nil,
            networkShift: tissuePixels > 0 ? samples.reduce(0) { $0 + $1.tissueShiftSum } / Double(tissuePixels) : nil,
            shiftSlices: samples.filter { $0.tissuePixels > 0 }.count)
    }
}
