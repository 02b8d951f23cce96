import Foundation
@testable import LowDoseSimulation
import Testing

/// The incremental projector and back-projector against the plain per-sample formulas (the
/// implementation they replaced, kept here as the reference): equal to rounding.
@Suite("Simulation: fast projector against the reference formulas")
struct ProjectorReferenceTests {
    static func referenceForward(_ image: [Double], grid g: Grid, geometry p: ParallelBeam) -> [Double] {
        var sinogram = [Double](repeating: 0, count: p.views * p.detectors)
        let x0 = g.x(0), y0 = g.y(0)
        for v in 0..<p.views {
            let theta = p.angle(v)
            let (c, s) = (cos(theta), sin(theta))
            for u in 0..<p.detectors {
                let t = p.s(u)
                var sum = 0.0
                if abs(s) >= abs(c) {
                    for col in 0..<g.columns {
                        let fr = ((t - (x0 + Double(col) * g.dx) * c) / s - y0) / g.dy
                        let r = Int(fr.rounded(.down)), w = fr - Double(r)
                        if r >= 0 && r < g.rows { sum += (1 - w) * image[r * g.columns + col] }
                        if r + 1 >= 0 && r + 1 < g.rows { sum += w * image[(r + 1) * g.columns + col] }
                    }
                    sum *= g.dx / abs(s)
                } else {
                    for row in 0..<g.rows {
                        let fc = ((t - (y0 + Double(row) * g.dy) * s) / c - x0) / g.dx
                        let q = Int(fc.rounded(.down)), w = fc - Double(q)
                        if q >= 0 && q < g.columns { sum += (1 - w) * image[row * g.columns + q] }
                        if q + 1 >= 0 && q + 1 < g.columns { sum += w * image[row * g.columns + q + 1] }
                    }
                    sum *= g.dy / abs(c)
                }
                sinogram[v * p.detectors + u] = sum
            }
        }
        return sinogram
    }

    static func referenceBackproject(_ sinogram: [Double], grid g: Grid, geometry p: ParallelBeam) -> [Double] {
        var image = [Double](repeating: 0, count: g.rows * g.columns)
        let centre = Double(p.detectors - 1) / 2
        for r in 0..<g.rows {
            for col in 0..<g.columns {
                var sum = 0.0
                for v in 0..<p.views {
                    let fu = (g.x(col) * cos(p.angle(v)) + g.y(r) * sin(p.angle(v))) / p.detectorSpacing + centre
                    let u = Int(fu.rounded(.down)), w = fu - Double(u)
                    if u >= 0 && u < p.detectors { sum += (1 - w) * sinogram[v * p.detectors + u] }
                    if u + 1 >= 0 && u + 1 < p.detectors { sum += w * sinogram[v * p.detectors + u + 1] }
                }
                image[r * g.columns + col] = sum * Double.pi / Double(p.views)
            }
        }
        return image
    }

    @Test("forward projection and back-projection equal the reference to 1e-9 (relative), square and oblong grids, odd spacings",
          arguments: [(48, 48, 0.7, 0.7), (40, 56, 0.9, 0.6)])
    func matches(_ rows: Int, _ columns: Int, _ dy: Double, _ dx: Double) {
        let g = Grid(rows: rows, columns: columns, dx: dx, dy: dy)
        let p = ParallelBeam.covering(g)
        var rng = NormalGenerator(seed: 5)
        let image = (0..<(rows * columns)).map { _ in 0.02 + 0.005 * rng.next() }
        let fast = Projector.forward(image, grid: g, geometry: p), slow = Self.referenceForward(image, grid: g, geometry: p)
        let scale = slow.map(abs).max() ?? 1
        #expect(zip(fast, slow).map { abs($0 - $1) }.max()! / scale < 1e-9)
        let sino = (0..<(p.views * p.detectors)).map { _ in rng.next() }
        let back = Projector.backproject(sino, grid: g, geometry: p), ref = Self.referenceBackproject(sino, grid: g, geometry: p)
        let bscale = ref.map(abs).max() ?? 1
        #expect(zip(back, ref).map { abs($0 - $1) }.max()! / bscale < 1e-9)
    }
}
