import Foundation

/// Synthetic CT anatomy in HU that looks like a body, not a test card: an irregular body outline
/// with skin, subcutaneous fat and muscle; in the chest lungs with vessels, heart, aorta, ribs;
/// in the abdomen liver, spleen, kidneys, bowel with gas; a vertebra with cortex and trabecular
/// texture; organ texture; small low-contrast lesions. Varies with the seed (size, shape,
/// position, region) and smoothly with the slice position.
public struct BodyPhantom: Sendable {
    public enum Region: String, Sendable, CaseIterable { case chest, abdomen }

    public let seed: UInt64
    public let region: Region
    /// Semi-axes of the body (mm) and its centre offset.
    public let bodyA: Double, bodyB: Double, centreX: Double, centreY: Double
    let outline: [Double]  // radial perturbation harmonics (amplitude, phase) pairs
    let lesions: [(x: Double, y: Double, r: Double, z: Double, contrast: Double)]
    let textureSeed: UInt64

    public init(seed: UInt64) {
        var rng = NormalGenerator(seed: seed &* 0x9E37_79B9 &+ 17)
        func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * (0.5 + 0.5 * erf(rng.next() / 2.0.squareRoot())) }
        self.seed = seed
        region = seed % 2 == 0 ? .abdomen : .chest
        bodyA = uniform(140, 190)
        bodyB = uniform(95, 135)
        centreX = uniform(-15, 15)
        centreY = uniform(-10, 20)
        outline = (0..<6).map { _ in uniform(0, 1) }
        lesions = (0..<4).map { _ in (x: uniform(-0.6, 0.6), y: uniform(-0.5, 0.4), r: uniform(2.5, 7), z: uniform(-20, 20),
                                      contrast: (uniform(0, 1) > 0.5 ? 1 : -1) * uniform(8, 25)) }
        textureSeed = seed &+ 0xABCDEF
    }

    /// One slice of `side`² pixels of `pixel` mm at position z (mm along the body axis).
    public func slice(side: Int, pixel: Double, z: Double) -> [Float] {
        let g = Grid(rows: side, columns: side, dx: pixel, dy: pixel)
        let texture = TextureField(seed: textureSeed &+ UInt64(bitPattern: Int64((z * 10).rounded())), side: side, scale: 6)
        let fine = TextureField(seed: textureSeed &+ 77 &+ UInt64(bitPattern: Int64((z * 10).rounded())), side: side, scale: 2)
        var hu = [Float](repeating: -1000, count: side * side)
        let zs = sin(z / 40)  // slow anatomical change along z
        for r in 0..<side {
            for c in 0..<side {
                let x = g.x(c) - centreX, y = g.y(r) - centreY
                let angle = atan2(y / bodyB, x / bodyA)
                var wobble = 1.0
                for k in 0..<3 { wobble += 0.03 * outline[2 * k] * cos(Double(k + 2) * angle + 6 * outline[2 * k + 1]) }
                let rho = ((x / bodyA) * (x / bodyA) + (y / bodyB) * (y / bodyB)).squareRoot() / wobble
                guard rho <= 1 else { continue }
                let t = texture[r * side + c], f = fine[r * side + c]
                let depth = (1 - rho) * min(bodyA, bodyB)  // mm inside the skin, roughly
                var v: Double
                if depth < 2 { v = 30 + 10 * f }                              // skin
                else if depth < 12 + 6 * outline[0] { v = -105 + 12 * t + 6 * f } // subcutaneous fat
                else if depth < 22 + 6 * outline[1] { v = 50 + 6 * t + 4 * f }    // muscle wall
                else { v = region == .chest ? chest(x, y, z, zs, t, f) : abdomen(x, y, z, zs, t, f) }
                // Spine: vertebral body with cortex and trabecular texture, posterior.
                let vx = x / 16, vy = (y - 0.62 * bodyB) / 14
                let vr = (vx * vx + vy * vy).squareRoot()
                if vr < 1 { v = vr > 0.8 ? 950 + 150 * f : 230 + 90 * t + 60 * f }
                // Paraspinal muscles.
                for side in [-1.0, 1.0] {
                    let px = (x - side * 30) / 20, py = (y - 0.62 * bodyB) / 18
                    if px * px + py * py < 1 && vr >= 1 { v = 55 + 6 * t + 4 * f }
                }
                for l in lesions where abs(z - l.z) < l.r {
                    let lr = l.r * (1 - pow((z - l.z) / l.r, 2)).squareRoot()
                    let dx = x - l.x * bodyA * 0.6, dy = y - l.y * bodyB * 0.6
                    if dx * dx + dy * dy < lr * lr && v > -200 && v < 200 { v += l.contrast }
                }
                hu[r * side + c] = Float(v)
            }
        }
        return hu
    }

    private func chest(_ x: Double, _ y: Double, _ z: Double, _ zs: Double, _ t: Double, _ f: Double) -> Double {
        // Lungs with vessels, heart left-anterior, aorta beside the spine, ribs near the wall.
        for side in [-1.0, 1.0] {
            let lx = (x - side * 0.45 * bodyA) / (0.36 * bodyA), ly = (y + 0.05 * bodyB) / (0.62 * bodyB * (1 + 0.05 * zs))
            if lx * lx + ly * ly < 1 {
                let vessel = sin(x / 7 + 3 * t) * sin(y / 9 - 2 * f)
                return vessel > 0.93 ? 40 + 20 * f : -860 + 25 * t + 15 * f
            }
        }
        let hx = (x + 0.12 * bodyA) / (0.3 * bodyA), hy = (y + 0.1 * bodyB) / (0.38 * bodyB)
        if hx * hx + hy * hy < 1 { return 45 + 8 * t }
        let ax = (x + 18) / 13, ay = (y - 0.42 * bodyB) / 13
        if ax * ax + ay * ay < 1 { return 260 + 10 * f }  // contrast-filled aorta
        return 45 + 8 * t + 4 * f
    }

    private func abdomen(_ x: Double, _ y: Double, _ z: Double, _ zs: Double, _ t: Double, _ f: Double) -> Double {
        let lx = (x + 0.35 * bodyA) / (0.42 * bodyA * (1 + 0.1 * zs)), ly = (y + 0.05 * bodyB) / (0.55 * bodyB)
        if lx * lx + ly * ly < 1 {  // liver with portal vessels
            let vessel = sin(x / 6 + 4 * t) * sin(y / 8 + 3 * f)
            return vessel > 0.95 ? 170 + 15 * f : 60 + 7 * t + 4 * f
        }
        let sx = (x - 0.55 * bodyA) / (0.16 * bodyA), sy = (y + 0.1 * bodyB) / (0.3 * bodyB)
        if sx * sx + sy * sy < 1 { return 48 + 6 * t }  // spleen
        for side in [-1.0, 1.0] {  // kidneys: enhancing cortex, medulla
            let kx = (x - side * 0.32 * bodyA) / 28, ky = (y - 0.35 * bodyB) / 40
            let kr = kx * kx + ky * ky
            if kr < 1 { return kr > 0.55 ? 160 + 10 * f : 40 + 6 * t }
        }
        let ax = (x + 12) / 11, ay = (y - 0.42 * bodyB) / 11
        if ax * ax + ay * ay < 1 { return 220 + 10 * f }  // aorta
        // Bowel: loops with wall, fluid, occasional gas.
        let bowel = sin(x / 14 + 2 * zs) * cos(y / 12 - zs) + 0.3 * t
        if bowel > 0.75 { return t > 0.8 ? -950 + 30 * f : 15 + 8 * f }
        return -80 + 40 * t + 10 * f  // mesenteric fat and soft tissue mix
    }
}

/// A smooth random field in [−1, 1] (sum of box-blurred noise), for organ texture.
struct TextureField {
    private let values: [Double]
    init(seed: UInt64, side: Int, scale: Int) {
        var rng = NormalGenerator(seed: seed)
        var v = (0..<side * side).map { _ in rng.next() }
        // Two passes of a separable box blur of radius `scale`.
        for _ in 0..<2 {
            var tmp = v
            for r in 0..<side {
                var acc = 0.0
                for c in -scale...scale { acc += v[r * side + min(max(c, 0), side - 1)] }
                for c in 0..<side {
                    tmp[r * side + c] = acc / Double(2 * scale + 1)
                    acc += v[r * side + min(c + scale + 1, side - 1)] - v[r * side + max(c - scale, 0)]
                }
            }
            for c in 0..<side {
                var acc = 0.0
                for r in -scale...scale { acc += tmp[min(max(r, 0), side - 1) * side + c] }
                for r in 0..<side {
                    v[r * side + c] = acc / Double(2 * scale + 1)
                    acc += tmp[min(r + scale + 1, side - 1) * side + c] - tmp[max(r - scale, 0) * side + c]
                }
            }
        }
        let sd = max((v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot(), 1e-12)
        values = v.map { max(-1, min(1, $0 / (2.5 * sd))) }
    }
    subscript(_ i: Int) -> Double { values[i] }
}
