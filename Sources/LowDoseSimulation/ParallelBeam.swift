import Foundation

/// An image on a grid: row-major values with pixel spacing (mm). Row r, column c has its centre at
/// x = (c − (columns−1)/2)·dx, y = (r − (rows−1)/2)·dy.
public struct Grid: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var dx: Double
    public var dy: Double

    public init(rows: Int, columns: Int, dx: Double, dy: Double) {
        self.rows = rows
        self.columns = columns
        self.dx = dx
        self.dy = dy
    }

    public func x(_ c: Int) -> Double { (Double(c) - Double(columns - 1) / 2) * dx }
    public func y(_ r: Int) -> Double { (Double(r) - Double(rows - 1) / 2) * dy }
}

/// Parallel-beam geometry: `views` angles evenly over [0, π), `detectors` bins of width
/// `detectorSpacing` (mm) centred on the rotation axis. The ray (θ, s) is the line
/// x·cos θ + y·sin θ = s.
public struct ParallelBeam: Sendable, Equatable {
    public var views: Int
    public var detectors: Int
    public var detectorSpacing: Double

    public init(views: Int, detectors: Int, detectorSpacing: Double) {
        self.views = views
        self.detectors = detectors
        self.detectorSpacing = detectorSpacing
    }

    /// A geometry that covers the whole grid: detector spacing = the finer pixel spacing, enough
    /// bins for the diagonal, and ≈ π/2 · side views (angular sampling matched to the detector).
    public static func covering(_ g: Grid, views: Int? = nil) -> ParallelBeam {
        let spacing = min(g.dx, g.dy)
        let diagonal = (pow(Double(g.columns) * g.dx, 2) + pow(Double(g.rows) * g.dy, 2)).squareRoot()
        let bins = Int((diagonal / spacing).rounded(.up)) + 4
        let side = max(g.rows, g.columns)
        return ParallelBeam(views: views ?? Int((Double.pi / 2 * Double(side)).rounded()), detectors: bins | 1,
                            detectorSpacing: spacing)
    }

    public func angle(_ v: Int) -> Double { Double.pi * Double(v) / Double(views) }
    /// Centre of detector bin u.
    public func s(_ u: Int) -> Double { (Double(u) - Double(detectors - 1) / 2) * detectorSpacing }
}

/// Joseph's ray-driven projector (linear interpolation along the axis the ray crosses most
/// steeply) and its pixel-driven backprojector.
public enum Projector {
    /// Line integrals of `image` (values per mm → dimensionless) for every ray: views × detectors.
    public static func forward(_ image: [Double], grid g: Grid, geometry p: ParallelBeam) -> [Double] {
        precondition(image.count == g.rows * g.columns, "image does not match its grid")
        var sinogram = [Double](repeating: 0, count: p.views * p.detectors)
        let x0 = g.x(0), y0 = g.y(0)
        sinogram.withUnsafeMutableBufferPointer { out in
            let base = UncheckedPointer(out.baseAddress!)
            image.withUnsafeBufferPointer { img in
                let f = UncheckedPointer(UnsafeMutablePointer(mutating: img.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: p.views) { v in
                    let theta = p.angle(v)
                    let (c, s) = (cos(theta), sin(theta))
                    for u in 0..<p.detectors {
                        let t = p.s(u)
                        var sum = 0.0
                        if abs(s) >= abs(c) {
                            // The ray is closer to horizontal in x: step over columns, interpolate in y.
                            // y = (t − x·cos θ)/sin θ
                            let step = g.dx / abs(s)
                            for col in 0..<g.columns {
                                let x = x0 + Double(col) * g.dx
                                let fr = ((t - x * c) / s - y0) / g.dy
                                let r = Int(fr.rounded(.down))
                                let w = fr - Double(r)
                                if r >= 0 && r < g.rows { sum += (1 - w) * f.p[r * g.columns + col] }
                                if r + 1 >= 0 && r + 1 < g.rows { sum += w * f.p[(r + 1) * g.columns + col] }
                            }
                            sum *= step
                        } else {
                            // Step over rows, interpolate in x: x = (t − y·sin θ)/cos θ
                            let step = g.dy / abs(c)
                            for row in 0..<g.rows {
                                let y = y0 + Double(row) * g.dy
                                let fc = ((t - y * s) / c - x0) / g.dx
                                let q = Int(fc.rounded(.down))
                                let w = fc - Double(q)
                                if q >= 0 && q < g.columns { sum += (1 - w) * f.p[row * g.columns + q] }
                                if q + 1 >= 0 && q + 1 < g.columns { sum += w * f.p[row * g.columns + q + 1] }
                            }
                            sum *= step
                        }
                        base.p[v * p.detectors + u] = sum
                    }
                }
            }
        }
        return sinogram
    }

    /// Σ over views of the (filtered) projection at each pixel's detector coordinate, linearly
    /// interpolated, times π / views (the FBP normalisation).
    public static func backproject(_ sinogram: [Double], grid g: Grid, geometry p: ParallelBeam) -> [Double] {
        precondition(sinogram.count == p.views * p.detectors, "sinogram does not match its geometry")
        var image = [Double](repeating: 0, count: g.rows * g.columns)
        let cosines = (0..<p.views).map { cos(p.angle($0)) }, sines = (0..<p.views).map { sin(p.angle($0)) }
        let centre = Double(p.detectors - 1) / 2
        let scale = Double.pi / Double(p.views)
        image.withUnsafeMutableBufferPointer { out in
            let base = UncheckedPointer(out.baseAddress!)
            sinogram.withUnsafeBufferPointer { sb in
                let sino = UncheckedPointer(UnsafeMutablePointer(mutating: sb.baseAddress!))
                DispatchQueue.concurrentPerform(iterations: g.rows) { r in
                    let y = g.y(r)
                    for col in 0..<g.columns {
                        let x = g.x(col)
                        var sum = 0.0
                        for v in 0..<p.views {
                            let fu = (x * cosines[v] + y * sines[v]) / p.detectorSpacing + centre
                            let u = Int(fu.rounded(.down))
                            let w = fu - Double(u)
                            let row = sino.p + v * p.detectors
                            if u >= 0 && u < p.detectors { sum += (1 - w) * row[u] }
                            if u + 1 >= 0 && u + 1 < p.detectors { sum += w * row[u + 1] }
                        }
                        base.p[r * g.columns + col] = sum * scale
                    }
                }
            }
        }
        return image
    }
}

struct UncheckedPointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}
