import Foundation

/// Errors of the simulation stage.
public enum SimulationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidDoseFraction(Double)
    case invalidPhotonCount(Double)
    case noUniformRegion(reason: String)

    public var description: String {
        switch self {
        case .invalidDoseFraction(let f): return "dose fraction \(f) must be in (0, 1]"
        case .invalidPhotonCount(let n): return "photons per ray \(n) must be positive"
        case .noUniformRegion(let r): return "cannot measure the image's noise: \(r)"
        }
    }
}

/// Lower-dose simulation in the projection domain (FACTS-REDCNN.md, "Low-dose simulation"):
/// forward-project μ = μ_water·(1 + HU/1000); a ray with line integral p at full-dose fluence I0
/// carries I0·e^(−p) photons, so its log-measurement has variance ≈ e^p / I0 (+ electronic noise
/// σe²·e^(2p)/I0²). At dose fraction f the variance is e^p/(f·I0); the image already carries the
/// full-dose part, so the noise to add per ray has variance (1/f − 1)·e^p/I0 (+ (1/f² − 1)·σe²·e^(2p)/I0²).
/// That noise is reconstructed with FBP and added to the original image in HU.
public struct NoiseInserter: Sendable {
    /// Linear attenuation of water (1/mm) at the beam's effective energy (≈ 70 keV for 120 kVp).
    public var muWater: Double = 0.0192
    /// Full-dose photons per ray (at this geometry's ray sampling).
    public var photonsPerRay: Double
    /// Electronic noise, standard deviation in photon counts per ray (0: quantum noise only).
    public var electronicNoise: Double = 0
    /// Apodisation of the ramp that reconstructs the inserted noise (its grain).
    public var texture: NoiseTexture = .filter(.ramLak)
    /// Views per 180°; nil: matched to the image size.
    public var views: Int?

    public init(photonsPerRay: Double, electronicNoise: Double = 0, filter: ReconstructionFilter = .ramLak,
                muWater: Double = 0.0192, views: Int? = nil) {
        self.photonsPerRay = photonsPerRay
        self.electronicNoise = electronicNoise
        self.texture = .filter(filter)
        self.muWater = muWater
        self.views = views
    }

    public init(photonsPerRay: Double, texture: NoiseTexture, views: Int? = nil) {
        self.photonsPerRay = photonsPerRay
        self.texture = texture
        self.views = views
    }

    /// The quantum noise (HU) that takes `hu` from full dose to dose fraction `f` at ONE photon per
    /// ray: the noise at I0 photons is this divided by √I0 (σ ∝ 1/√I0), so one reconstruction serves
    /// any photon count — calibration scales it instead of reconstructing again.
    public func unitNoise(for hu: [Float], grid: Grid, doseFraction f: Double, seed: UInt64) throws -> [Float] {
        guard f > 0, f <= 1 else { throw SimulationError.invalidDoseFraction(f) }
        if f == 1 { return [Float](repeating: 0, count: hu.count) }
        let mu = hu.map { max(0, muWater * (1 + Double($0) / 1000)) }
        let geometry = ParallelBeam.covering(grid, views: views)
        let p = Projector.forward(mu, grid: grid, geometry: geometry)
        var rng = NormalGenerator(seed: seed)
        let noisy = p.map { line -> Double in ((1 / f - 1) * exp(line)).squareRoot() * rng.next() }
        let image = FBP.reconstruct(noisy, grid: grid, geometry: geometry, texture: texture)
        return image.map { Float(1000 * $0 / muWater) }
    }

    /// The noise image (HU) that takes `hu` from full dose to dose fraction `f`.
    public func noise(for hu: [Float], grid: Grid, doseFraction f: Double, seed: UInt64) throws -> [Float] {
        guard f > 0, f <= 1 else { throw SimulationError.invalidDoseFraction(f) }
        guard photonsPerRay > 0, photonsPerRay.isFinite else { throw SimulationError.invalidPhotonCount(photonsPerRay) }
        if f == 1 { return [Float](repeating: 0, count: hu.count) }
        let mu = hu.map { max(0, muWater * (1 + Double($0) / 1000)) }
        let geometry = ParallelBeam.covering(grid, views: views)
        let p = Projector.forward(mu, grid: grid, geometry: geometry)
        var rng = NormalGenerator(seed: seed)
        let i0 = photonsPerRay, se2 = electronicNoise * electronicNoise
        let noisy = p.map { line -> Double in
            let e = exp(line)
            let variance = (1 / f - 1) * e / i0 + (1 / (f * f) - 1) * se2 * e * e / (i0 * i0)
            return variance.squareRoot() * rng.next()
        }
        let image = FBP.reconstruct(noisy, grid: grid, geometry: geometry, texture: texture)
        return image.map { Float(1000 * $0 / muWater) }
    }

    /// The image at dose fraction `f`: original + reconstructed projection-domain noise.
    public func simulate(_ hu: [Float], grid: Grid, doseFraction f: Double, seed: UInt64) throws -> [Float] {
        let n = try noise(for: hu, grid: grid, doseFraction: f, seed: seed)
        return zip(hu, n).map { $0 + $1 }
    }

    /// Picks photons per ray so that the simulated image has the noise a dose fraction f would
    /// give, from the image's own measured noise σ0 (uniform soft tissue): the added noise must
    /// have σ0·√(1/f − 1). One trial reconstruction measures this geometry's noise per √I0
    /// (noise σ ∝ 1/√I0), then I0 is scaled.
    public static func calibrated(for hu: [Float], grid: Grid, doseFraction f: Double, seed: UInt64,
                                  filter: ReconstructionFilter = .ramLak, views: Int? = nil) throws -> (inserter: NoiseInserter, measuredNoiseHU: Double) {
        guard f > 0, f < 1 else { throw SimulationError.invalidDoseFraction(f) }
        let sigma0 = try NoiseEstimate.uniformRegionSigma(hu, grid: grid)
        let trialI0 = 1e5
        let trial = NoiseInserter(photonsPerRay: trialI0, filter: filter, views: views)
        let n = try trial.noise(for: hu, grid: grid, doseFraction: f, seed: seed ^ 0x5EED)
        let sigmaTrial = NoiseEstimate.standardDeviation(n, mask: try NoiseEstimate.tissueMask(hu))
        let target = sigma0 * (1 / f - 1).squareRoot()
        let i0 = trialI0 * pow(sigmaTrial / target, 2)
        return (NoiseInserter(photonsPerRay: i0, filter: filter, views: views), sigma0)
    }
}

/// Noise measurement in soft tissue.
public enum NoiseEstimate {
    /// Soft-tissue pixels: where the 7×7 local mean lies in −60…160 HU (organs, muscle, water;
    /// fat, air, lung and bone excluded). Using the local mean keeps noisy low-dose pixels in.
    public static func tissueMask(_ hu: [Float], rows: Int? = nil) throws -> [Bool] {
        let side = rows ?? Int(Double(hu.count).squareRoot())
        let cols = hu.count / max(side, 1)
        // Summed-area table for 7×7 means.
        var sat = [Double](repeating: 0, count: (side + 1) * (cols + 1))
        for r in 0..<side {
            var rowSum = 0.0
            for c in 0..<cols {
                rowSum += Double(hu[r * cols + c])
                sat[(r + 1) * (cols + 1) + c + 1] = sat[r * (cols + 1) + c + 1] + rowSum
            }
        }
        var mask = [Bool](repeating: false, count: hu.count)
        let k = 3
        for r in k..<max(k, side - k) {
            for c in k..<max(k, cols - k) {
                let (r0, r1, c0, c1) = (r - k, r + k + 1, c - k, c + k + 1)
                let sum = sat[r1 * (cols + 1) + c1] - sat[r0 * (cols + 1) + c1] - sat[r1 * (cols + 1) + c0] + sat[r0 * (cols + 1) + c0]
                let mean = sum / Double((2 * k + 1) * (2 * k + 1))
                mask[r * cols + c] = mean >= -60 && mean <= 160
            }
        }
        guard mask.filter({ $0 }).count >= 100 else {
            throw SimulationError.noUniformRegion(reason: "fewer than 100 soft-tissue pixels (local mean −60…160 HU)")
        }
        return mask
    }

    /// σ of the image noise in soft tissue: the median over 8×8 blocks that are all tissue of the
    /// block's standard deviation after removing its mean (robust to edges and structure).
    public static func uniformRegionSigma(_ hu: [Float], grid: Grid) throws -> Double {
        try blockSigma(hu, mask: try tissueMask(hu, rows: grid.rows), grid: grid)
    }

    /// σ of `values` as `uniformRegionSigma` measures it, within a given tissue mask: the median
    /// standard deviation of the 8×8 blocks that lie wholly inside the mask. Used for both the
    /// image and the noise to insert, so correlated noise is measured alike on both sides.
    public static func blockSigma(_ values: [Float], mask: [Bool], grid: Grid) throws -> Double {
        var sigmas: [Double] = []
        let b = 8
        for r0 in stride(from: 0, to: grid.rows - b, by: b) {
            for c0 in stride(from: 0, to: grid.columns - b, by: b) {
                var inside = true, sum = 0.0, sum2 = 0.0
                for r in r0..<r0 + b where inside {
                    for c in c0..<c0 + b {
                        let i = r * grid.columns + c
                        if !mask[i] { inside = false; break }
                        let v = Double(values[i])
                        sum += v
                        sum2 += v * v
                    }
                }
                guard inside else { continue }
                let n = Double(b * b)
                sigmas.append(max(0, (sum2 - sum * sum / n) / (n - 1)).squareRoot())
            }
        }
        guard sigmas.count >= 4 else { throw SimulationError.noUniformRegion(reason: "fewer than 4 uniform 8×8 blocks") }
        return sigmas.sorted()[sigmas.count / 2]
    }

    public static func standardDeviation(_ values: [Float], mask: [Bool]) -> Double {
        let v = zip(values, mask).filter { $1 }.map { Double($0.0) }
        guard v.count > 1 else { return 0 }
        let mean = v.reduce(0, +) / Double(v.count)
        return (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count - 1)).squareRoot()
    }
}

/// Seeded standard normal numbers (SplitMix64 + Box–Muller), identical on every platform.
public struct NormalGenerator: Sendable {
    var state: UInt64
    var spare: Double?
    public init(seed: UInt64) { state = seed }

    mutating func nextUInt() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next() -> Double {
        if let s = spare { spare = nil; return s }
        let u = max(Double(nextUInt() >> 11) / Double(1 << 53), 1e-300)
        let v = Double(nextUInt() >> 11) / Double(1 << 53)
        let r = (-2 * log(u)).squareRoot()
        spare = r * sin(2 * Double.pi * v)
        return r * cos(2 * Double.pi * v)
    }
}
