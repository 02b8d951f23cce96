import Foundation

/// An ellipse of constant value (added to whatever lies beneath), for analytic phantoms:
/// centre (x, y) mm, semi-axes a, b mm, rotation φ (radians, counter-clockwise from x).
public struct Ellipse: Sendable, Equatable {
    public var x, y, a, b, phi, value: Double
    public init(x: Double, y: Double, a: Double, b: Double, phi: Double = 0, value: Double) {
        (self.x, self.y, self.a, self.b, self.phi, self.value) = (x, y, a, b, phi, value)
    }

    public func contains(_ px: Double, _ py: Double) -> Bool {
        let (dx, dy) = (px - x, py - y)
        let (c, s) = (cos(phi), sin(phi))
        let u = (dx * c + dy * s) / a, v = (-dx * s + dy * c) / b
        return u * u + v * v <= 1
    }

    /// The exact line integral along x·cos θ + y·sin θ = t: value × chord length.
    public func lineIntegral(theta: Double, t: Double) -> Double {
        let tt = t - (x * cos(theta) + y * sin(theta))
        let gamma = theta - phi
        let r2 = a * a * cos(gamma) * cos(gamma) + b * b * sin(gamma) * sin(gamma)
        guard tt * tt < r2 else { return 0 }
        return value * 2 * a * b * (r2 - tt * tt).squareRoot() / r2
    }
}

public enum AnalyticPhantom {
    /// Rasterises ellipses with `supersample`² points per pixel (edges get partial values).
    public static func rasterize(_ ellipses: [Ellipse], grid g: Grid, supersample: Int = 4) -> [Double] {
        var out = [Double](repeating: 0, count: g.rows * g.columns)
        let k = Double(supersample)
        for r in 0..<g.rows {
            for c in 0..<g.columns {
                var sum = 0.0
                for i in 0..<supersample {
                    for j in 0..<supersample {
                        let px = g.x(c) + ((Double(j) + 0.5) / k - 0.5) * g.dx
                        let py = g.y(r) + ((Double(i) + 0.5) / k - 0.5) * g.dy
                        for e in ellipses where e.contains(px, py) { sum += e.value }
                    }
                }
                out[r * g.columns + c] = sum / (k * k)
            }
        }
        return out
    }

    /// The (modified) Shepp–Logan head phantom scaled to a field of `radius` mm, values in 1/mm
    /// relative to `mu` (the outer ellipse is `mu`).
    public static func sheppLogan(radius: Double, mu: Double) -> [Ellipse] {
        let table: [(Double, Double, Double, Double, Double, Double)] = [
            (1, 0.69, 0.92, 0, 0, 0), (-0.8, 0.6624, 0.874, 0, -0.0184, 0), (-0.2, 0.11, 0.31, 0.22, 0, -18),
            (-0.2, 0.16, 0.41, -0.22, 0, 18), (0.1, 0.21, 0.25, 0, 0.35, 0), (0.1, 0.046, 0.046, 0, 0.1, 0),
            (0.1, 0.046, 0.046, 0, -0.1, 0), (0.1, 0.046, 0.023, -0.08, -0.605, 0), (0.1, 0.023, 0.023, 0, -0.606, 0),
            (0.1, 0.023, 0.046, 0.06, -0.605, 0),
        ]
        return table.map { v, a, b, x, y, deg in
            Ellipse(x: x * radius, y: y * radius, a: a * radius, b: b * radius, phi: deg * Double.pi / 180, value: v * mu)
        }
    }
}
