import DICOMIO
import Foundation
import ImageQuality
import LowDoseSimulation
@testable import StudySimulation
import Testing

/// Per-slice exposure and kernel-matched texture (docs/simulation.md), on series whose noise is
/// known exactly: a flat 40 HU disc (no anatomy that could pass for noise) with projection-domain
/// noise of a known filter and photon count per slice, tube-current tags to match.
@Suite("Realistic simulation: per-slice exposure, fitted texture", .serialized)
struct RealisticSimulationTests {
    static let size = 128, pixel = 0.8

    struct Slices {
        var normal: [SliceImage]
        var low: [SliceImage]
        var clean: [Float]
        var result: SimulatedSeries
        var lowFiles: [String] = []
    }

    /// A disc series: slice i has noise of `filter` at photons × modulation[i], mA tags × modulation[i].
    static func discSeries(in dir: String, texture: NoiseTexture, photons: Double, modulation: [Double]) throws -> [Float] {
        let grid = Grid(rows: size, columns: size, dx: pixel, dy: pixel)
        let clean = AnalyticPhantom.rasterize([Ellipse(x: 0, y: 0, a: 40, b: 36, value: 1040)], grid: grid).map { Float($0 - 1000) }
        var spec = NewSeriesSpec(studyInstanceUID: "2.25.3131.1", seriesInstanceUID: "2.25.3131.2", rows: size, columns: size)
        spec.frameOfReferenceUID = "2.25.3131.3"
        spec.pixelSpacing = [pixel, pixel]
        spec.sliceDoses = modulation.map { DoseInfo(kvp: 120, tubeCurrentMA: 200 * $0, exposureMAs: 100 * $0, exposureTimeMS: 500, ctdiVolMGy: 8 * $0) }
        var images: [SliceImage] = []
        for (i, m) in modulation.enumerated() {
            let noise = try NoiseInserter(photonsPerRay: photons * m, texture: texture).noise(for: clean, grid: grid, doseFraction: 0.5, seed: 100 + UInt64(i))
            images.append(SliceImage(rows: size, columns: size, hu: zip(clean, noise).map { $0 + $1 }))
        }
        try NewSeriesWriter.writeClassic(spec, images: images, directory: dir)
        return clean
    }

    func simulate(filter: ReconstructionFilter, modulation: [Double], texture: TextureSetting? = nil) throws -> Slices {
        try simulate(source: .filter(filter), modulation: modulation, texture: texture)
    }

    func simulate(source: NoiseTexture, modulation: [Double], texture: TextureSetting? = nil) throws -> Slices {
        let (src, out) = (tempDir(), tempDir())
        defer { for d in [src, out] { try? FileManager.default.removeItem(atPath: d) } }
        let clean = try Self.discSeries(in: src, texture: source, photons: 2e5, modulation: modulation)
        var run = DoseSimulationRun(doseFraction: 0.25, photons: .calibrate, seed: 3)
        run.texture = texture
        let (results, _) = try run.run([src], outputRoot: out)
        let result = try #require(results.first)
        #expect(result.errors.isEmpty, "\(result.errors)")
        let normal = try #require(StudyScanner.scan([src]).series.first), low = try #require(StudyScanner.scan([out]).series.first)
        var slices = Slices(normal: try normal.slices.map { try PixelDecoder.decode($0) }, low: try low.slices.map { try PixelDecoder.decode($0) },
                            clean: clean, result: result)
        // Keep one file's header: the folders go when this returns.
        let keep = NSTemporaryDirectory() + "ldct-sim-header-\(UUID().uuidString).dcm"
        try FileManager.default.copyItem(atPath: low.slices[0].file, toPath: keep)
        slices.lowFiles = [keep]
        return slices
    }

    static func difference(_ a: [Float], _ b: [Float]) -> [Float] { zip(a, b).map { $0 - $1 } }

    /// Added σ over the σ the dose predicts from the slice's own (exactly known) noise, per slice.
    func sigmaRatios(_ s: Slices, dose: Double = 0.25) throws -> [Double] {
        let grid = Grid(rows: Self.size, columns: Self.size, dx: Self.pixel, dy: Self.pixel)
        return try s.normal.indices.map { i in
            let mask = try NoiseEstimate.tissueMask(s.normal[i].hu, rows: Self.size)
            let own = try NoiseEstimate.blockSigma(Self.difference(s.normal[i].hu, s.clean), mask: mask, grid: grid)
            let added = try NoiseEstimate.blockSigma(Self.difference(s.low[i].hu, s.normal[i].hu), mask: mask, grid: grid)
            return added / (own * (1 / dose - 1).squareRoot())
        }
    }

    @Test("tube-current modulation (4× along z): every slice gets the noise its own exposure predicts, within 10 %")
    func modulation() throws {
        let s = try simulate(filter: .sheppLogan, modulation: [0.5, 1, 2, 1.4])
        #expect(s.result.plan?.exposure == .tubeCurrent)
        let ratios = try sigmaRatios(s)
        #expect(ratios.allSatisfy { abs($0 - 1) <= 0.1 }, "added / predicted σ per slice: \(ratios)")
        // Photons follow the tube current: I0 ∝ mA.
        let photons = s.result.photonsPerSlice
        #expect(abs(photons[2] / photons[0] - 4) < 1e-6 && abs(photons[3] / photons[1] - 1.4) < 1e-6, "\(photons)")
        // The files say how they were made, in ASCII (DICOM's default character repertoire).
        let ds = try DICOMFile(path: s.lowFiles[0]).dataset
        let derivation = try #require(ds.string(.derivationDescription))
        #expect(derivation.contains("per-slice tube current") && derivation.contains("texture fitted ramp*W, W(f) at f="), "\(derivation)")
        #expect(derivation.allSatisfy { $0.isASCII })
        #expect(ds.string(.imageComments)?.contains("photons/ray for this slice") == true)
    }

    @Test("constant tags: each slice is calibrated from its own noise, within 10 % of the prediction")
    func perSlice() throws {
        // Tags constant while the true exposure varies (what copied or absent tags look like).
        let (src, out) = (tempDir(), tempDir())
        defer { for d in [src, out] { try? FileManager.default.removeItem(atPath: d) } }
        let grid = Grid(rows: Self.size, columns: Self.size, dx: Self.pixel, dy: Self.pixel)
        let clean = AnalyticPhantom.rasterize([Ellipse(x: 0, y: 0, a: 40, b: 36, value: 1040)], grid: grid).map { Float($0 - 1000) }
        var spec = NewSeriesSpec(studyInstanceUID: "2.25.3132.1", seriesInstanceUID: "2.25.3132.2", rows: Self.size, columns: Self.size)
        spec.pixelSpacing = [Self.pixel, Self.pixel]
        let images = try [0.5, 2].enumerated().map { i, m in
            let noise = try NoiseInserter(photonsPerRay: 2e5 * m, filter: .ramLak).noise(for: clean, grid: grid, doseFraction: 0.5, seed: 7 + UInt64(i))
            return SliceImage(rows: Self.size, columns: Self.size, hu: zip(clean, noise).map { $0 + $1 })
        }
        try NewSeriesWriter.writeClassic(spec, images: images, directory: src)
        let (results, _) = try DoseSimulationRun(doseFraction: 0.25, photons: .calibrate, seed: 3).run([src], outputRoot: out)
        let result = try #require(results.first)
        #expect(result.plan?.exposure == .calibratedPerSlice)
        let photons = result.photonsPerSlice
        #expect(photons.count == 2 && abs(photons[1] / photons[0] / 4 - 1) < 0.15, "I0 follows each slice's own noise: \(photons)")
        let s = Slices(normal: try StudyScanner.scan([src]).series[0].slices.map { try PixelDecoder.decode($0) },
                       low: try StudyScanner.scan([out]).series[0].slices.map { try PixelDecoder.decode($0) }, clean: clean, result: result)
        let ratios = try sigmaRatios(s)
        #expect(ratios.allSatisfy { abs($0 - 1) <= 0.1 }, "\(ratios)")
    }

    /// NPS mean frequency of the image's own noise and of the inserted noise, in the same squares.
    func meanFrequencies(_ s: Slices) -> (own: Double, inserted: Double) {
        var own = 0.0, inserted = 0.0, n = 0.0
        for i in s.normal.indices {
            let rois = Regions.uniformROIs(guide: s.normal[i].hu, rows: Self.size, columns: Self.size)
            guard let a = Regions.nps(Self.difference(s.normal[i].hu, s.clean), columns: Self.size, rois: rois, spacing: Self.pixel),
                  let b = Regions.nps(Self.difference(s.low[i].hu, s.normal[i].hu), columns: Self.size, rois: rois, spacing: Self.pixel)
            else { continue }
            own += a.meanFrequency
            inserted += b.meanFrequency
            n += 1
        }
        return (own / n, inserted / n)
    }

    @Test("texture auto recovers a known apodisation: the inserted noise's NPS mean frequency is within 10 % of the image's own",
          arguments: ReconstructionFilter.allCases)
    func texture(_ filter: ReconstructionFilter) throws {
        let s = try simulate(filter: filter, modulation: [1, 1, 1])
        let (own, inserted) = meanFrequencies(s)
        #expect(abs(inserted / own - 1) <= 0.1, "\(filter): own \(own), inserted \(inserted) mm⁻¹")
        let fit = try #require(s.result.plan?.fit)
        #expect(abs(fit.predicted.meanFrequency / fit.target.meanFrequency - 1) <= 0.1)
    }

    /// Largest |difference| of the own and inserted NPS (each normalised to unit sum, summed over
    /// slices, measured as the simulator's check measures: its squares, quadratic detrending), as
    /// a fraction of the own NPS's peak.
    func shapeDifference(_ s: Slices) -> Double {
        let grid = Grid(rows: Self.size, columns: Self.size, dx: Self.pixel, dy: Self.pixel)
        var own: [Double] = [], inserted: [Double] = []
        for i in s.normal.indices {
            let rois = TextureFit.squares(s.normal[i].hu, grid: grid)
            guard let a = Regions.nps(Self.difference(s.normal[i].hu, s.clean), columns: Self.size, rois: rois, spacing: Self.pixel,
                                      detrend: .quadratic),
                  let b = Regions.nps(Self.difference(s.low[i].hu, s.normal[i].hu), columns: Self.size, rois: rois, spacing: Self.pixel,
                                      detrend: .quadratic)
            else { continue }
            if own.isEmpty { own = a.power.map { _ in 0 }; inserted = own }
            for k in own.indices { own[k] += a.power[k]; inserted[k] += b.power[k] }
        }
        let (sa, sb) = (own.reduce(0, +), inserted.reduce(0, +))
        let peak = own.map { $0 / sa }.max() ?? 1
        return (zip(own, inserted).map { abs($0 / sa - $1 / sb) }.max() ?? 1) / peak
    }

    /// A vendor-like sharp kernel the closed form does not follow: a band-pass peaking at 0.3
    /// cycles/sample (edge enhancement) and falling towards Nyquist.
    static let lungKernel: NoiseTexture = {
        let f = (0...16).map { Double($0) / 32 }
        return .tabulated(frequencies: f, window: f.map { 0.2 + 0.8 * exp(-pow(($0 - 0.3) / 0.13, 2)) })
    }()

    @Test("texture auto recovers the shape of the noise spectrum, not only its mean frequency: within 10 % of the peak",
          arguments: [NoiseTexture.filter(.ramLak), .filter(.hann), lungKernel])
    func textureShape(_ source: NoiseTexture) throws {
        let s = try simulate(source: source, modulation: [1, 1, 1])
        let difference = shapeDifference(s)
        #expect(difference <= 0.1, "\(source): largest NPS shape difference \(difference) of the peak")
        // The fitted window is the source's, up to scale, where the noise lives (rings 2 … 6 of
        // the 16-px squares: 0.125 … 0.375 cycles/sample).
        let fit = try #require(s.result.plan?.fit)
        guard case .tabulated = fit.texture else {
            Issue.record("\(source): expected a tabulated window, got \(fit.texture)")
            return
        }
        let probe = [0.125, 0.1875, 0.25, 0.3125, 0.375]
        let ratio = probe.map { fit.texture.window($0) / source.window($0) }
        let mid = ratio.sorted()[ratio.count / 2]
        #expect(ratio.allSatisfy { abs($0 / mid - 1) <= 0.15 }, "\(source): fitted / true W at \(probe): \(ratio)")
    }

    @Test("few flat squares (a small image): the closed-form window is fitted instead of the ring-by-ring table, and still follows a Hann kernel")
    func closedFormFallback() throws {
        let size = 64
        let grid = Grid(rows: size, columns: size, dx: 1.6, dy: 1.6)
        let clean = AnalyticPhantom.rasterize([Ellipse(x: 0, y: 0, a: 40, b: 36, value: 1040)], grid: grid).map { Float($0 - 1000) }
        let noise = try NoiseInserter(photonsPerRay: 2e5, filter: .hann).noise(for: clean, grid: grid, doseFraction: 0.5, seed: 5)
        let image = zip(clean, noise).map { $0 + $1 }
        #expect(TextureFit.squares(image, grid: grid).count < TextureFit.minimumSquaresForTable)
        let fit = try TextureFit.fit(images: [image], grid: grid, spacing: 1.6, seed: 9, doseFraction: 0.25)
        guard case .apodised = fit.texture else {
            Issue.record("expected the closed form, got \(fit.texture)")
            return
        }
        // Hann falls to 0 at Nyquist: the fitted roll-off keeps well under half of W(0) there.
        #expect(fit.texture.window(0.45) < 0.5 * fit.texture.window(0.05), "\(fit.texture)")
    }

    @Test("Ram-Lak noise inserted into a Hann-kernel image is far too fine (what texture auto corrects)")
    func rampIsWrongForSmoothKernels() throws {
        let s = try simulate(filter: .hann, modulation: [1, 1], texture: .fixed(.filter(.ramLak)))
        let (own, inserted) = meanFrequencies(s)
        #expect(inserted > 1.2 * own, "own \(own), inserted \(inserted)")
    }
}
