import Foundation

/// Apodisation of the ramp filter.
public enum ReconstructionFilter: String, Sendable, CaseIterable, Codable {
    /// Plain ramp (Ram-Lak), band-limited at the detector's Nyquist frequency.
    case ramLak = "ram-lak"
    /// Ramp × sinc: the Shepp–Logan filter.
    case sheppLogan = "shepp-logan"
    /// Ramp × Hann window: smoother, lower noise.
    case hann
}

/// The texture of reconstructed noise: the ramp's apodisation W(f), f in cycles per detector
/// sample (0 … 0.5 at Nyquist). Noise reconstructed by FBP has a radial NPS ∝ f·W(f)² (times the
/// back-projector's own blur), so W decides the grain.
public enum NoiseTexture: Sendable, Equatable, Codable, CustomStringConvertible {
    /// One of the classic filters.
    case filter(ReconstructionFilter)
    /// W(f) = exp(−(f/cutoff)²)·(1 + boost·(f/0.5)²): a Gaussian roll-off (smooth kernels) with
    /// an optional high-frequency lift (sharp kernels' edge enhancement); fitted to an image's own
    /// noise by `TextureFit`.
    case apodised(cutoff: Double, boost: Double)

    public func window(_ f: Double) -> Double {
        switch self {
        case .filter(.ramLak): return 1
        case .filter(.sheppLogan): return f == 0 ? 1 : sin(Double.pi * f) / (Double.pi * f)
        case .filter(.hann): return 0.5 * (1 + cos(2 * Double.pi * f))
        case .apodised(let c, let b): return exp(-(f / c) * (f / c)) * (1 + b * (f / 0.5) * (f / 0.5))
        }
    }

    public var description: String {
        switch self {
        case .filter(let f): return f.rawValue
        // ASCII: it goes into DICOM text attributes (Derivation Description).
        case .apodised(let c, let b): return String(format: "ramp*exp(-(f/%.3f)^2)*(1+%.2f*(f/0.5)^2)", c, b)
        }
    }
}

/// Filtered back-projection for parallel beams.
public enum FBP {
    /// Reconstructs an image (same units as the line integrals per mm) from a sinogram.
    public static func reconstruct(_ sinogram: [Double], grid: Grid, geometry: ParallelBeam,
                                   filter: ReconstructionFilter = .ramLak) -> [Double] {
        reconstruct(sinogram, grid: grid, geometry: geometry, texture: .filter(filter))
    }

    /// The same with any apodisation of the ramp.
    public static func reconstruct(_ sinogram: [Double], grid: Grid, geometry: ParallelBeam, texture: NoiseTexture) -> [Double] {
        Projector.backproject(self.filter(sinogram, geometry: geometry, texture: texture), grid: grid, geometry: geometry)
    }

    /// Filters every view with the discrete ramp (Kak & Slaney: h[0] = 1/(4τ²), h[odd n] =
    /// −1/(n²π²τ²), 0 otherwise, times τ), apodised in the frequency domain; zero-padded to
    /// avoid wrap-around.
    public static func filter(_ sinogram: [Double], geometry p: ParallelBeam, filter: ReconstructionFilter) -> [Double] {
        self.filter(sinogram, geometry: p, texture: .filter(filter))
    }

    public static func filter(_ sinogram: [Double], geometry p: ParallelBeam, texture: NoiseTexture) -> [Double] {
        let n = p.detectors
        var padded = 1
        while padded < 2 * n { padded <<= 1 }
        let length = padded
        let tau = p.detectorSpacing
        // Spatial kernel, arranged circularly, then its spectrum.
        var kernel = [Double](repeating: 0, count: length)
        kernel[0] = 1 / (4 * tau * tau)
        for k in stride(from: 1, to: length / 2, by: 2) {
            let v = -1 / (Double(k * k) * Double.pi * Double.pi * tau * tau)
            kernel[k] = v
            kernel[length - k] = v
        }
        var (hr, hi) = (kernel, [Double](repeating: 0, count: length))
        FFT.transform(&hr, &hi, inverse: false)
        for k in 0..<length {
            let f = Double(min(k, length - k)) / Double(length)  // cycles per sample, 0…0.5
            let window = texture.window(f)
            hr[k] *= window * tau
            hi[k] *= window * tau
        }
        var out = [Double](repeating: 0, count: sinogram.count)
        let spectrum = (hr, hi)
        out.withUnsafeMutableBufferPointer { ob in
            let base = UncheckedPointer(ob.baseAddress!)
            sinogram.withUnsafeBufferPointer { sb in
                let sino = UncheckedPointer(UnsafeMutablePointer(mutating: sb.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: p.views) { v in
                    var re = [Double](repeating: 0, count: length), im = [Double](repeating: 0, count: length)
                    for u in 0..<n { re[u] = sino.p[v * n + u] }
                    FFT.transform(&re, &im, inverse: false)
                    for k in 0..<length {
                        let (a, b) = (re[k], im[k])
                        re[k] = a * spectrum.0[k] - b * spectrum.1[k]
                        im[k] = a * spectrum.1[k] + b * spectrum.0[k]
                    }
                    FFT.transform(&re, &im, inverse: true)
                    for u in 0..<n { base.p[v * n + u] = re[u] }
                }
            }
        }
        return out
    }
}

/// In-place iterative radix-2 complex FFT (length a power of two). The inverse is scaled by 1/N.
public enum FFT {
    public static func transform(_ re: inout [Double], _ im: inout [Double], inverse: Bool) {
        let n = re.count
        precondition(n > 0 && n & (n - 1) == 0 && im.count == n, "FFT length must be a power of two")
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j ^= bit
            if i < j { re.swapAt(i, j); im.swapAt(i, j) }
        }
        var len = 2
        while len <= n {
            let angle = (inverse ? 2 : -2) * Double.pi / Double(len)
            let (wr, wi) = (cos(angle), sin(angle))
            var start = 0
            while start < n {
                var (cr, ci) = (1.0, 0.0)
                for k in 0..<len / 2 {
                    let a = start + k, b = a + len / 2
                    let tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                    (cr, ci) = (cr * wr - ci * wi, cr * wi + ci * wr)
                }
                start += len
            }
            len <<= 1
        }
        if inverse {
            let s = 1 / Double(n)
            for i in 0..<n { re[i] *= s; im[i] *= s }
        }
    }
}
