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
        return SSIMReference(reference, rows: rows, columns: columns, convention: convention).ssim(image)
    }

    /// Separable correlation with reflect (half-sample symmetric) borders, as scipy.ndimage.
    public static func separable(_ v: [Double], rows: Int, columns: Int, kernel: [Double]) -> [Double] {
        let radius = kernel.count / 2
        func reflect(_ i: Int, _ n: Int) -> Int {
            var i = i
            while i < 0 || i >= n { i = i < 0 ? -i - 1 : 2 * n - i - 1 }
            return i
        }
        // Border indices are resolved once per axis; the inner loops only read tables.
        let colIndex = (0..<columns).flatMap { c in (-radius...radius).map { reflect(c + $0, columns) } }
        let rowIndex = (0..<rows).flatMap { r in (-radius...radius).map { reflect(r + $0, rows) * columns } }
        let taps = kernel.count
        var tmp = [Double](repeating: 0, count: v.count), out = tmp
        v.withUnsafeBufferPointer { src in
            tmp.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    let row = r * columns
                    for c in 0..<columns {
                        var s = 0.0
                        for k in 0..<taps { s += kernel[k] * src[row + colIndex[c * taps + k]] }
                        dst[row + c] = s
                    }
                }
            }
        }
        tmp.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    for c in 0..<columns {
                        var s = 0.0
                        for k in 0..<taps { s += kernel[k] * src[rowIndex[r * taps + k] + c] }
                        dst[r * columns + c] = s
                    }
                }
            }
        }
        return out
    }
}

/// SSIM of many images against one reference (as `Metrics.ssim`): the reference's clipped pixels,
/// local means and second moments are computed once, so each further image costs three blurs, not
/// five. Used to tabulate SSIM over blend strengths (`StrengthTuner`).
public struct SSIMReference: Sendable {
    public let rows: Int
    public let columns: Int
    public let convention: MetricConvention
    let x: [Double]
    let ux: [Double]
    /// Local variance of the reference (E[x²] − E[x]²).
    let vx: [Double]
    let kernel: [Double]

    public init(_ reference: [Float], rows: Int, columns: Int, convention: MetricConvention = .ldct) {
        precondition(reference.count == rows * columns, "SSIM: reference size differs from rows × columns")
        self.rows = rows
        self.columns = columns
        self.convention = convention
        let sigma = 1.5, radius = Int(3.5 * sigma + 0.5)
        var k = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let ksum = k.reduce(0, +)
        k = k.map { $0 / ksum }
        kernel = k
        x = convention.clip(reference)
        let mean = Metrics.separable(x, rows: rows, columns: columns, kernel: k)
        let second = Metrics.separable(x.map { $0 * $0 }, rows: rows, columns: columns, kernel: k)
        ux = mean
        vx = zip(second, mean).map { $0 - $1 * $1 }
    }

    /// Mean SSIM of `image` against the reference (same window, constants and border crop as `Metrics.ssim`).
    public func ssim(_ image: [Float]) -> Double {
        precondition(image.count == rows * columns, "SSIM: sizes differ")
        let y = convention.clip(image)
        let radius = kernel.count / 2
        let uy = Metrics.separable(y, rows: rows, columns: columns, kernel: kernel)
        let uyy = Metrics.separable(y.map { $0 * $0 }, rows: rows, columns: columns, kernel: kernel)
        let uxy = Metrics.separable(zip(x, y).map { $0 * $1 }, rows: rows, columns: columns, kernel: kernel)
        let c1 = pow(0.01 * convention.dataRange, 2), c2 = pow(0.03 * convention.dataRange, 2)
        var total = 0.0, count = 0
        for r in radius..<max(radius, rows - radius) {
            for c in radius..<max(radius, columns - radius) {
                let i = r * columns + c
                let vy = uyy[i] - uy[i] * uy[i], cxy = uxy[i] - ux[i] * uy[i]
                total += ((2 * ux[i] * uy[i] + c1) * (2 * cxy + c2)) / ((ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx[i] + vy + c2))
                count += 1
            }
        }
        return count > 0 ? total / Double(count) : .nan
    }
}
