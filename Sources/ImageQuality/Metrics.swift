import Foundation

/// The convention a PSNR/SSIM is computed in: HU clipped to a window, and the data range.
/// The field's common low-dose CT convention is [−160, 240] HU, data range 400.
public struct MetricConvention: Sendable, Equatable, Codable {
    public var clipLow: Double
    public var clipHigh: Double
    public var dataRange: Double

    public init(clipLow: Double, clipHigh: Double, dataRange: Double) {
        self.clipLow = clipLow
        self.clipHigh = clipHigh
        self.dataRange = dataRange
    }

    public static let ldct = MetricConvention(clipLow: -160, clipHigh: 240, dataRange: 400)
    /// Full range of HU + 1024 in [0, 2924]... expressed in HU: [−1024, 1900], range 2924 (the LDCT benchmark's).
    public static let fullRange = MetricConvention(clipLow: -1024, clipHigh: 1900, dataRange: 2924)

    public var label: String {
        String(format: "HU clipped to [%.0f, %.0f], data range %.0f", clipLow, clipHigh, dataRange)
    }

    func clip(_ v: [Float]) -> [Double] { v.map { min(max(Double($0), clipLow), clipHigh) } }
}

/// Image-quality metrics equal to scikit-image's (`peak_signal_noise_ratio`,
/// `structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`),
/// proven by goldens from scripts/reference/quality_goldens.py.
public enum Metrics {
    /// 10·log10(range² / MSE) after clipping both images; +∞ for identical images.
    public static func psnr(reference: [Float], image: [Float], convention: MetricConvention = .ldct) -> Double {
        precondition(reference.count == image.count, "PSNR: sizes differ")
        let mse = meanSquaredError(convention.clip(reference), convention.clip(image))
        return mse == 0 ? .infinity : 10 * log10(convention.dataRange * convention.dataRange / mse)
    }

    /// Root-mean-square error in HU (no clipping).
    public static func rmse(reference: [Float], image: [Float]) -> Double {
        precondition(reference.count == image.count, "RMSE: sizes differ")
        return meanSquaredError(reference.map(Double.init), image.map(Double.init)).squareRoot()
    }

    static func meanSquaredError(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(max(a.count, 1))
    }

    /// Mean SSIM: 11×11 Gaussian window (σ 1.5, truncated at 3.5σ), K1 0.01, K2 0.03, population
    /// covariance, averaged over pixels at least 5 from the border (scikit-image's crop).
    public static func ssim(reference: [Float], image: [Float], rows: Int, columns: Int,
                            convention: MetricConvention = .ldct) -> Double {
        precondition(reference.count == rows * columns && image.count == rows * columns, "SSIM: sizes differ")
        let x = convention.clip(reference), y = convention.clip(image)
        let sigma = 1.5, radius = Int(3.5 * sigma + 0.5)
        var kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let ksum = kernel.reduce(0, +)
        kernel = kernel.map { $0 / ksum }
        func blur(_ v: [Double]) -> [Double] { separable(v, rows: rows, columns: columns, kernel: kernel) }
        let ux = blur(x), uy = blur(y)
        let uxx = blur(x.map { $0 * $0 }), uyy = blur(y.map { $0 * $0 }), uxy = blur(zip(x, y).map { $0 * $1 })
        let c1 = pow(0.01 * convention.dataRange, 2), c2 = pow(0.03 * convention.dataRange, 2)
        var total = 0.0, count = 0
        for r in radius..<max(radius, rows - radius) {
            for c in radius..<max(radius, columns - radius) {
                let i = r * columns + c
                let vx = uxx[i] - ux[i] * ux[i], vy = uyy[i] - uy[i] * uy[i], cxy = uxy[i] - ux[i] * uy[i]
                total += ((2 * ux[i] * uy[i] + c1) * (2 * cxy + c2)) / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2))
                count += 1
            }
        }
        return count > 0 ? total / Double(count) : .nan
    }

    /// Separable correlation with reflect (half-sample symmetric) borders, as scipy.ndimage.
    static func separable(_ v: [Double], rows: Int, columns: Int, kernel: [Double]) -> [Double] {
        let radius = kernel.count / 2
        func reflect(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
            return i
        }
        var tmp = [Double](repeating: 0, count: v.count), out = tmp
        for r in 0..<rows {
            for c in 0..<columns {
                var s = 0.0
                for k in -radius...radius { s += kernel[k + radius] * v[r * columns + reflect(c + k, columns)] }
                tmp[r * columns + c] = s
            }
        }
        for r in 0..<rows {
            for c in 0..<columns {
                var s = 0.0
                for k in -radius...radius { s += kernel[k + radius] * tmp[reflect(r + k, rows) * columns + c] }
                out[r * columns + c] = s
            }
        }
        return out
    }
}
