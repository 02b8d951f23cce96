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
    /// W(f) = exp(−(f/cutoff)^order)·(1 + boost·(f/0.5)²): a roll-off (Gaussian at order 2,
    /// steeper above) with an optional high-frequency lift (sharp kernels' edge enhancement);
    /// fitted to an image's own noise by `TextureFit`.
    case apodised(cutoff: Double, boost: Double, order: Double = 2)
    /// W given at `frequencies` (cycles per detector sample, ascending), linear between them and
    /// held constant outside: the measured ratio of an image's own NPS to Ram-Lak noise's,
    /// ring by ring (`TextureFit`), for kernels no closed form follows.
    case tabulated(frequencies: [Double], window: [Double])

    public func window(_ f: Double) -> Double {
        switch self {
        case .filter(.ramLak): return 1
        case .filter(.sheppLogan): return f == 0 ? 1 : sin(Double.pi * f) / (Double.pi * f)
        case .filter(.hann): return 0.5 * (1 + cos(2 * Double.pi * f))
        case .apodised(let c, let b, let p): return exp(-pow(f / c, p)) * (1 + b * (f / 0.5) * (f / 0.5))
        case .tabulated(let fs, let w):
            guard let first = fs.first, let last = fs.last, w.count == fs.count else { return 1 }
            if f <= first { return w[0] }
            if f >= last { return w[w.count - 1] }
            var k = 1
            while k < fs.count - 1 && fs[k] < f { k += 1 }
            let t = (f - fs[k - 1]) / max(fs[k] - fs[k - 1], 1e-12)
            return w[k - 1] + t * (w[k] - w[k - 1])
        }
    }

    public var description: String {
        switch self {
        case .filter(let f): return f.rawValue
        // ASCII: it goes into DICOM text attributes (Derivation Description).
        case .apodised(let c, let b, let p):
            return String(format: "ramp*exp(-(f/%.3f)^%g)*(1+%.2f*(f/0.5)^2)", c, p, b)
        case .tabulated(let fs, let w):
            return "ramp*W, W(f) at f=" + fs.map { String(format: "%.3f", $0) }.joined(separator: ",")
                + " cycles/sample: " + w.map { String(format: "%.3f", $0) }.joined(separator: ",")
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

extension NoiseTexture {
    /// Applies W as a radial filter in the image domain: `image` (rows × columns, row-major) times
    /// W(ρ), ρ the radial frequency in cycles per pixel (held at W(0.5) beyond Nyquist), by a 2-D
    /// FFT zero-padded to powers of two. By the central-slice theorem Ram-Lak noise filtered so has
    /// the spectrum FBP with W gives (pixel = detector spacing): `TextureFit` uses it to try
    /// windows without a reconstruction each.
    public func filterImage(_ image: [Float], rows: Int, columns: Int) -> [Float] {
        guard rows > 0, columns > 0, image.count == rows * columns else { return image }
        func powerOfTwo(_ n: Int) -> Int {
            var p = 1
            while p < n { p <<= 1 }
            return p
        }
        let (ny, nx) = (powerOfTwo(rows), powerOfTwo(columns))
        var re = [Double](repeating: 0, count: ny * nx), im = re
        for y in 0..<rows { for x in 0..<columns { re[y * nx + x] = Double(image[y * columns + x]) } }
        // Rows, then columns, each line on its own worker (both cores: the fit filters ~40 images).
        func pass(inverse: Bool) {
            re.withUnsafeMutableBufferPointer { rb in
                im.withUnsafeMutableBufferPointer { ib in
                    let (r, i) = (UncheckedPointer(rb.baseAddress!), UncheckedPointer(ib.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: ny) { y in
                        var lr = [Double](repeating: 0, count: nx), li = lr
                        for x in 0..<nx { lr[x] = r.p[y * nx + x]; li[x] = i.p[y * nx + x] }
                        FFT.transform(&lr, &li, inverse: inverse)
                        for x in 0..<nx { r.p[y * nx + x] = lr[x]; i.p[y * nx + x] = li[x] }
                    }
                    DispatchQueue.concurrentPerform(iterations: nx) { x in
                        var cr = [Double](repeating: 0, count: ny), ci = cr
                        for y in 0..<ny { cr[y] = r.p[y * nx + x]; ci[y] = i.p[y * nx + x] }
                        FFT.transform(&cr, &ci, inverse: inverse)
                        for y in 0..<ny { r.p[y * nx + x] = cr[y]; i.p[y * nx + x] = ci[y] }
                    }
                }
            }
        }
        pass(inverse: false)
        for v in 0..<ny {
            let fv = Double(min(v, ny - v)) / Double(ny)
            for u in 0..<nx {
                let fu = Double(min(u, nx - u)) / Double(nx)
                let w = window(min((fu * fu + fv * fv).squareRoot(), 0.5))
                re[v * nx + u] *= w
                im[v * nx + u] *= w
            }
        }
        pass(inverse: true)
        var out = [Float](repeating: 0, count: rows * columns)
        for y in 0..<rows { for x in 0..<columns { out[y * columns + x] = Float(re[y * nx + x]) } }
        return out
    }
}
