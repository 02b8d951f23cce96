import Foundation
import ImageQuality
@testable import LowDoseSimulation
import Testing

/// A water cylinder (0 HU) in air (−1000 HU) on a side×side grid of 1 mm pixels.
func waterDisk(side: Int, radiusFraction: Double = 0.4) -> (hu: [Float], grid: Grid) {
    let g = Grid(rows: side, columns: side, dx: 1, dy: 1)
    var hu = [Float](repeating: -1000, count: side * side)
    let r = radiusFraction * Double(side)
    for i in 0..<side { for j in 0..<side where g.x(j) * g.x(j) + g.y(i) * g.y(i) <= r * r { hu[i * side + j] = 0 } }
    return (hu, g)
}

/// Indices of a central square (half the disk radius).
func centre(_ side: Int, half: Int) -> [Int] {
    (side / 2 - half..<side / 2 + half).flatMap { r in (side / 2 - half..<side / 2 + half).map { r * side + $0 } }
}

func stats(_ v: [Float], _ idx: [Int]) -> (mean: Double, sd: Double) {
    let x = idx.map { Double(v[$0]) }
    let m = x.reduce(0, +) / Double(x.count)
    return (m, (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count - 1)).squareRoot())
}

@Suite("Simulation: projector and FBP against analytic phantoms")
struct ProjectorTests {
    @Test("forward projection matches analytic line integrals of ellipses")
    func projectorMatchesAnalytic() {
        let g = Grid(rows: 96, columns: 96, dx: 1, dy: 1)
        let ellipses = [Ellipse(x: 0, y: 0, a: 40, b: 30, phi: 0.3, value: 0.02),
                        Ellipse(x: 12, y: -8, a: 10, b: 6, phi: -0.7, value: 0.01)]
        let image = AnalyticPhantom.rasterize(ellipses, grid: g, supersample: 6)
        let geometry = ParallelBeam(views: 36, detectors: 141, detectorSpacing: 1)
        let sino = Projector.forward(image, grid: g, geometry: geometry)
        var err = 0.0, norm = 0.0
        for v in 0..<geometry.views {
            for u in 0..<geometry.detectors {
                let exact = ellipses.reduce(0) { $0 + $1.lineIntegral(theta: geometry.angle(v), t: geometry.s(u)) }
                err += pow(sino[v * geometry.detectors + u] - exact, 2)
                norm += exact * exact
            }
        }
        let relative = (err / norm).squareRoot()
        #expect(relative < 0.01, "relative L2 error \(relative)")
        // The central ray through the big ellipse along its a-axis at θ = φ.
        let centralExact = ellipses[0].lineIntegral(theta: 0, t: 0)
        #expect(centralExact > 0)
    }

    @Test("FBP reconstructs the Shepp–Logan phantom (each filter)", arguments: ReconstructionFilter.allCases)
    func fbpReconstructs(_ filter: ReconstructionFilter) {
        let g = Grid(rows: 96, columns: 96, dx: 1, dy: 1)
        let mu = 0.02
        let phantom = AnalyticPhantom.sheppLogan(radius: 45, mu: mu)
        let image = AnalyticPhantom.rasterize(phantom, grid: g, supersample: 3)
        let geometry = ParallelBeam.covering(g)
        let sino = Projector.forward(image, grid: g, geometry: geometry)
        let recon = FBP.reconstruct(sino, grid: g, geometry: geometry, filter: filter)
        // Compare away from edges: pixels whose 3×3 neighbourhood is constant in the phantom.
        var errors: [Double] = []
        for r in 1..<95 { for c in 1..<95 {
            let v = image[r * 96 + c]
            var flat = true
            for i in -1...1 { for j in -1...1 where abs(image[(r + i) * 96 + c + j] - v) > 1e-9 { flat = false } }
            if flat { errors.append(abs(recon[r * 96 + c] - v)) }
        } }
        errors.sort()
        let median = errors[errors.count / 2]
        #expect(median < 0.01 * mu, "\(filter): median abs error \(median / mu) of μ")
        // Brain tissue (outer + inner ellipse: 0.2 μ) just above the centre.
        let brain = 30 * 96 + 48
        #expect(abs(image[brain] - 0.2 * mu) < 1e-12)
        #expect(abs(recon[brain] - image[brain]) < 0.05 * mu)
    }

    @Test("tabulated window: linear between its points, held outside; a window of 1 filters nothing in the image domain")
    func tabulatedWindow() {
        let w = NoiseTexture.tabulated(frequencies: [0.1, 0.2, 0.4], window: [1, 0.5, 0.25])
        #expect(w.window(0) == 1 && w.window(0.1) == 1 && w.window(0.15) == 0.75 && w.window(0.3) == 0.375 && w.window(0.5) == 0.25)
        #expect(w.description.hasPrefix("ramp*W, W(f) at f=0.100,0.200,0.400 cycles/sample: 1.000,0.500,0.250"))
        #expect(w.description.allSatisfy { $0.isASCII })
        let (hu, g) = waterDisk(side: 48)
        let same = NoiseTexture.filter(.ramLak).filterImage(hu, rows: g.rows, columns: g.columns)
        #expect(zip(same, hu).allSatisfy { abs($0 - $1) < 1e-3 })
    }

    @Test("Ram-Lak noise filtered by W in the image domain has the spectrum of noise reconstructed with W (central-slice theorem)",
          arguments: [ReconstructionFilter.hann, .sheppLogan])
    func imageDomainWindow(_ filter: ReconstructionFilter) throws {
        let (hu, g) = waterDisk(side: 96)
        // Radial NPS of the central 32² square (inside the disc), rings of width 1/32 cycle/pixel.
        func rings(_ v: [Float]) -> [Double] {
            Regions.nps(v, columns: 96, rois: [ROI(row: 32, column: 32, size: 32)], spacing: 1)?.power ?? []
        }
        var direct = [Double](repeating: 0, count: 17), filtered = direct
        for seed in 0..<6 as Range<UInt64> {
            let ramp = try NoiseInserter(photonsPerRay: 1e5, filter: .ramLak).noise(for: hu, grid: g, doseFraction: 0.25, seed: 40 + seed)
            let windowed = try NoiseInserter(photonsPerRay: 1e5, filter: filter).noise(for: hu, grid: g, doseFraction: 0.25, seed: 40 + seed)
            let a = rings(windowed), b = rings(NoiseTexture.filter(filter).filterImage(ramp, rows: g.rows, columns: g.columns))
            #expect(a.count == 17 && b.count == 17)
            for k in 0..<min(17, a.count, b.count) { direct[k] += a[k]; filtered[k] += b[k] }
        }
        // The same spectrum where the noise is (rings 2 … 12 of 16, i.e. 0.06 … 0.38 cycles/pixel):
        // power within 15 % (six realisations; a 20 % error in W would be 44 % in power).
        for k in 2...12 {
            #expect(abs(filtered[k] / direct[k] - 1) < 0.15, "\(filter) ring \(k): image-domain \(filtered[k]) vs FBP \(direct[k])")
        }
    }

    @Test("FFT inverts itself")
    func fft() {
        var re = (0..<64).map { sin(Double($0) * 0.3) + Double($0 % 5) }, im = [Double](repeating: 0, count: 64)
        let original = re
        FFT.transform(&re, &im, inverse: false)
        FFT.transform(&re, &im, inverse: true)
        #expect(zip(re, original).allSatisfy { abs($0 - $1) < 1e-12 })
    }
}

@Suite("Simulation: projection-domain noise insertion")
struct NoiseTests {
    @Test("added noise std scales as √(1/f − 1), has zero mean, and leaves CT numbers in place")
    func scaling() throws {
        let (hu, g) = waterDisk(side: 64)
        let inserter = NoiseInserter(photonsPerRay: 2e4)
        let idx = centre(64, half: 10)
        var sd: [Double: Double] = [:]
        for f in [0.5, 0.25, 0.1] {
            var total = 0.0
            for seed in 1...4 as ClosedRange<UInt64> {
                let n = try inserter.noise(for: hu, grid: g, doseFraction: f, seed: seed * 97 + UInt64(f * 100))
                let s = stats(n, idx)
                total += s.sd / 4
                #expect(abs(s.mean) < 0.2 * s.sd, "f \(f): mean \(s.mean) vs sd \(s.sd)")
            }
            sd[f] = total
        }
        for (a, b) in [(0.5, 0.25), (0.5, 0.1)] {
            let measured = sd[b]! / sd[a]!
            let expected = ((1 / b - 1) / (1 / a - 1)).squareRoot()
            #expect(abs(measured / expected - 1) < 0.06, "σ(\(b))/σ(\(a)) = \(measured), expected \(expected)")
        }
        // Uniform water stays at 0 HU on average.
        let simulated = try inserter.simulate(hu, grid: g, doseFraction: 0.25, seed: 5)
        let s = stats(simulated, idx)
        #expect(abs(s.mean) < 0.2 * s.sd + 0.5, "water mean \(s.mean) HU")
    }

    @Test("same seed → identical output; another seed → different; f = 1 adds nothing")
    func determinism() throws {
        let (hu, g) = waterDisk(side: 48)
        let inserter = NoiseInserter(photonsPerRay: 1e4)
        let a = try inserter.simulate(hu, grid: g, doseFraction: 0.25, seed: 7)
        let b = try inserter.simulate(hu, grid: g, doseFraction: 0.25, seed: 7)
        let c = try inserter.simulate(hu, grid: g, doseFraction: 0.25, seed: 8)
        #expect(a == b)
        #expect(a != c)
        #expect(try inserter.simulate(hu, grid: g, doseFraction: 1, seed: 7) == hu)
    }

    @Test("calibration picks photons per ray so that quarter dose doubles the measured noise")
    func calibration() throws {
        let side = 96
        var (hu, g) = waterDisk(side: side, radiusFraction: 0.45)
        var rng = NormalGenerator(seed: 11)
        let sigma0 = 15.0
        for i in hu.indices where hu[i] == 0 { hu[i] = Float(sigma0 * rng.next()) }
        let (inserter, measured) = try NoiseInserter.calibrated(for: hu, grid: g, doseFraction: 0.25, seed: 3)
        #expect(abs(measured / sigma0 - 1) < 0.15, "measured σ0 \(measured)")
        let low = try inserter.simulate(hu, grid: g, doseFraction: 0.25, seed: 4)
        let sigmaLow = try NoiseEstimate.uniformRegionSigma(low, grid: g)
        #expect(abs(sigmaLow / (2 * measured) - 1) < 0.15, "quarter-dose σ \(sigmaLow), expected ≈ \(2 * measured)")
    }

    @Test("invalid dose fractions and images without tissue are refused")
    func errors() throws {
        let (hu, g) = waterDisk(side: 32)
        let inserter = NoiseInserter(photonsPerRay: 1e4)
        #expect(throws: SimulationError.invalidDoseFraction(0)) { try inserter.noise(for: hu, grid: g, doseFraction: 0, seed: 1) }
        #expect(throws: SimulationError.invalidDoseFraction(1.5)) { try inserter.noise(for: hu, grid: g, doseFraction: 1.5, seed: 1) }
        #expect(throws: SimulationError.invalidPhotonCount(-1)) {
            try NoiseInserter(photonsPerRay: -1).noise(for: hu, grid: g, doseFraction: 0.5, seed: 1)
        }
        let air = [Float](repeating: -1000, count: 32 * 32)
        #expect(throws: SimulationError.self) { try NoiseInserter.calibrated(for: air, grid: g, doseFraction: 0.5, seed: 1) }
    }
}
