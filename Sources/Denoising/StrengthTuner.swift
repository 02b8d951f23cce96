import DICOMIO
import Foundation
import ImageQuality

/// One paired slice, as the tuner sees it: the noise the network removed from it (blind, as
/// restore measures it) and the error against normal dose for every α of `StrengthTuner.alphaGrid`.
public struct StrengthSample: Sendable {
    /// `NoiseEstimate.removed` of the slice; nil when it has too little soft tissue (not used).
    public var removedNoise: Float?
    /// Mean squared error (HU², in the PSNR window) of input + α·(network − input) against normal
    /// dose, one per grid α.
    public var mse: [Double]
}

/// What `StrengthTuner.fit` found, in the report's PSNR convention (window −160…240 HU, data range 400).
public struct StrengthFit: Sendable {
    public var curve: StrengthCurve
    public var slices: Int
    /// Mean PSNR (dB) of the low-dose input (α = 0), the network as it is (α = 1), the tuned curve,
    /// and the best α of each slice on its own (what no blind rule can beat).
    public var psnrInput: Double
    public var psnrNetwork: Double
    public var psnrTuned: Double
    public var psnrOracle: Double
}

/// Tunes the automatic strength of a model on paired low/normal-dose slices: picks the curve
/// α(removed noise σ̂) — piecewise linear in ln σ̂, non-decreasing, within 0…`maxAlpha` — that
/// maximises the mean PSNR against normal dose. Deterministic (no random state).
public enum StrengthTuner {
    /// α values the error is tabulated at (0, 0.05, …, 2); between them it is interpolated linearly.
    public static let alphaGrid: [Float] = (0...40).map { Float($0) * 0.05 }
    /// The PSNR convention of the report and the model card ([−160, 240] HU, data range 400).
    public static let convention = MetricConvention.ldct

    /// The sample of one slice: `network` is the network's output in HU (α = 1; padding as in the input).
    public static func sample(low: SliceImage, network: [Float], normal: SliceImage) -> StrengthSample {
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
        return StrengthSample(removedNoise: sigma, mse: sums.map { $0 / Double(max(n, 1)) })
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

    /// Fits the curve. Knots sit at `knots` geometrically spaced σ̂ from the quietest to the noisiest
    /// usable slice (fewer when there are few slices: at least 6 slices per knot); their α values are
    /// found by coordinate descent in steps of 0.01, each knot between its neighbours (monotone).
    public static func fit(_ samples: [StrengthSample], knots requested: Int = 6, maxAlpha: Float = 1.5,
                           minimumSlices: Int = 6) throws -> StrengthFit {
        // A slice the network left untouched (σ̂ = 0) says nothing about how strong to be.
        let usable = samples.filter { ($0.removedNoise ?? 0) > 0 && $0.mse.count == alphaGrid.count }
        guard usable.count >= minimumSlices else { throw StrengthError.notEnoughPairs(found: usable.count, needed: minimumSlices) }
        guard maxAlpha > 0, maxAlpha <= StrengthCurve.alphaRange.upperBound else {
            throw StrengthError.invalidCurve(text: "\(maxAlpha)", reason: "the largest strength must be within 0…2")
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
            return usable.reduce(0) { $0 + psnr($1, alpha: c.alpha($1.removedNoise ?? 0)) } / Double(usable.count)
        }
        var best = try objective(alphas)
        for _ in 0..<50 {
            var improved = false
            for k in 0..<count {
                let lower = k > 0 ? alphas[k - 1] : 0
                let upper = k < count - 1 ? alphas[k + 1] : maxAlpha
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
        let oracle = usable.reduce(0.0) { acc, s in
            acc + ((0...200).map { psnr(s, alpha: Float($0) * 0.01) }.max() ?? 0)
        } / Double(usable.count)
        let mean = { (alpha: Float) in usable.reduce(0) { $0 + psnr($1, alpha: alpha) } / Double(usable.count) }
        return StrengthFit(curve: try curve(alphas), slices: usable.count, psnrInput: mean(0), psnrNetwork: mean(1),
                           psnrTuned: best, psnrOracle: oracle)
    }
}
