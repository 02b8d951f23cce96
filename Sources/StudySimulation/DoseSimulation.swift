import DICOMIO
import Foundation
import ImageQuality
import LowDoseSimulation

/// How to choose the full-dose photons per ray.
public enum PhotonSetting: Sendable, Equatable {
    /// This many at the series' median tube current (every slice when the current is constant).
    case fixed(Double)
    /// From the image's own noise, per slice or through the slices' tube current (NoisePlan).
    case calibrate
}

public struct SimulatedSeries: Sendable {
    public var source: String
    public var outputDirectory: String
    public var slicesWritten: Int
    /// Photons per ray of each written slice, in series order.
    public var photonsPerSlice: [Double] = []
    /// The plan: exposure model, texture (and its fit).
    public var plan: NoisePlan?
    /// With `check`: the inserted noise against the image's own, slice by slice.
    public var check: SimulationCheck?
    public var errors: [String]

    /// Median photons per ray over the written slices (0 when none).
    public var photonsPerRay: Double { photonsPerSlice.isEmpty ? 0 : photonsPerSlice.sorted()[photonsPerSlice.count / 2] }
}

/// `ldct simulate`: for every CT series under the inputs, a derived series at dose fraction f,
/// made by projection-domain noise insertion. Same inputs and seed → the same pixels and UIDs.
public struct DoseSimulationRun: Sendable {
    public var doseFraction: Double
    public var photons: PhotonSetting
    public var seed: UInt64
    /// The noise's grain; nil: fitted to the image (auto) with --calibrate, Ram-Lak with a fixed I0.
    public var texture: TextureSetting?
    public var uidRoot: String?
    public var transferSyntax: OutputTransferSyntax = .explicitLittle
    /// Measure the inserted noise against the image's own (σ per slice, NPS) while writing.
    public var check = false

    public init(doseFraction: Double, photons: PhotonSetting, seed: UInt64) {
        self.doseFraction = doseFraction
        self.photons = photons
        self.seed = seed
    }

    public var percentLabel: String {
        let p = doseFraction * 100
        return p == p.rounded() ? String(Int(p)) + "%" : String(format: "%.1f%%", p)
    }

    public func run(_ paths: [String], outputRoot: String, progress: (String) -> Void = { _ in })
        throws -> (series: [SimulatedSeries], scan: ScanResult) {
        guard doseFraction > 0, doseFraction < 1 else { throw SimulationError.invalidDoseFraction(doseFraction) }
        let scan = StudyScanner.scan(paths)
        var results: [SimulatedSeries] = []
        for series in scan.series {
            let hash = String(UIDFactory.fnv1a64(series.seriesInstanceUID), radix: 16).prefix(8)
            let folder = (outputRoot as NSString).appendingPathComponent(
                FileNames.sanitize("\(series.seriesNumber ?? 0)-\(series.seriesDescription ?? "CT")-dose\(percentLabel)-\(hash)", maxLength: 80))
            var result = SimulatedSeries(source: series.seriesInstanceUID, outputDirectory: folder, slicesWritten: 0, errors: [])
            do {
                let spacing = series.pixelSpacing ?? [1, 1]
                let grid = Grid(rows: series.rows, columns: series.columns, dx: spacing[1], dy: spacing[0])
                let textureSetting = texture ?? (photons == .calibrate ? .auto : .fixed(.filter(.ramLak)))
                // Per-slice seed from the source instance: independent of order and file names.
                let sliceSeed = { (i: Int) -> UInt64 in
                    let slice = series.slices[i]
                    return seed ^ UIDFactory.fnv1a64(slice.sopInstanceUID + "#\(slice.frame ?? 0)")
                }
                let plan = try NoisePlan.make(series: series, grid: grid, doseFraction: doseFraction, photons: photons,
                                              texture: textureSetting, seed: seed, sliceSeed: sliceSeed) { i in
                    airFilled(try PixelDecoder.decode(series.slices[i]))
                }
                result.plan = plan
                progress("\(series.seriesDescription ?? "series"): \(plan.summary)")
                let label = "simulated \(percentLabel) dose"
                var options = SeriesWriterOptions(
                    uidRoot: uidRoot,
                    deterministicKey: "simulate|\(doseFraction)|\(seed)|\(photons)|\(plan.texture)",
                    seriesDescription: "{source} [\(label)]",
                    derivationDescription: "Simulated \(percentLabel) dose: projection-domain quantum noise, \(plan.summary), seed \(seed) (LowDoseCT)",
                    transferSyntax: transferSyntax)
                options.seriesNumber = (series.seriesNumber ?? 0) + 2000
                let session = try SeriesWriter(options: options).begin(source: series, directory: folder)
                for (i, slice) in series.slices.enumerated() {
                    do {
                        let image = try PixelDecoder.decode(slice)
                        let (noise, i0) = try plan.noise(index: i, hu: airFilled(image), grid: grid, seed: sliceSeed(i))
                        if check {
                            if result.check == nil { result.check = SimulationCheck(doseFraction: doseFraction) }
                            result.check?.add(image: airFilled(image), noise: noise, grid: grid)
                        }
                        var out = image
                        for k in out.hu.indices where out.paddingMask.isEmpty || out.paddingMask[k] == 0 { out.hu[k] += noise[k] }
                        var overrides = scaledDose(slice.dose)
                        overrides[.imageComments] = String(format: "Simulated %@ dose (LowDoseCT): I0 %.4g photons/ray for this slice (%@); not an acquisition",
                                                           percentLabel, i0, plan.exposure.rawValue)
                        try session.write(index: i, image: out, overrides: overrides)
                        result.slicesWritten += 1
                        result.photonsPerSlice.append(i0)
                        progress(String(format: "%@: slice %d/%d, I0 %.4g", series.seriesDescription ?? "series", i + 1, series.slices.count, i0))
                    } catch {
                        result.errors.append("\(error)")
                    }
                }
            } catch {
                result.errors.append("\(error)")
            }
            results.append(result)
        }
        return (results, scan)
    }

    /// Padding / outside-FOV pixels become air for the projector (their values are put back).
    func airFilled(_ image: SliceImage) -> [Float] {
        guard !image.paddingMask.isEmpty else { return image.hu }
        return zip(image.hu, image.paddingMask).map { $1 != 0 ? -1000 : $0 }
    }

    /// Dose tags scaled by f: CTDIvol, tube current and exposure (integers where the VR is IS).
    func scaledDose(_ d: DoseInfo) -> [Tag: String] {
        var tags: [Tag: String] = [:]
        let f = doseFraction
        if let v = d.ctdiVolMGy { tags[.ctdiVol] = String(format: "%.4g", v * f) }
        if let v = d.tubeCurrentMA { tags[.xRayTubeCurrent] = String(Int((v * f).rounded())) }
        if let v = d.exposureMAs { tags[.exposure] = String(Int((v * f).rounded())) }
        return tags
    }
}

/// The inserted noise against the image's own: per slice σ (the same 8×8-block estimate in soft
/// tissue as the calibration) and, over the series, the radial NPS of both in the image's uniform
/// squares. For an exact simulation σ_inserted = σ_own·√(1/f − 1) and the two NPS have one shape.
public struct SimulationCheck: Sendable {
    public var doseFraction: Double
    /// σ of the image (its own noise, plus any anatomy the blocks could not avoid), per slice.
    public var ownSigma: [Double] = []
    /// σ of the inserted noise / √(1/f − 1): equals `ownSigma` when the dose is right.
    public var insertedSigmaPerDose: [Double] = []
    public var ownNPS: NoisePowerSpectrum?
    public var insertedNPS: NoisePowerSpectrum?
    private var ownSum: [Double] = [], insertedSum: [Double] = [], ownMean = 0.0, insertedMean = 0.0, count = 0

    public init(doseFraction: Double) { self.doseFraction = doseFraction }

    mutating func add(image: [Float], noise: [Float], grid: Grid) {
        if let mask = try? NoiseEstimate.tissueMask(image, rows: grid.rows),
           let own = try? NoiseEstimate.blockSigma(image, mask: mask, grid: grid),
           let added = try? NoiseEstimate.blockSigma(noise, mask: mask, grid: grid) {
            ownSigma.append(own)
            insertedSigmaPerDose.append(added / (1 / doseFraction - 1).squareRoot())
        }
        let spacing = min(grid.dx, grid.dy)
        let rois = TextureFit.squares(image, grid: grid)
        guard let a = Regions.nps(image, columns: grid.columns, rois: rois, spacing: spacing, detrend: TextureFit.detrend),
              let b = Regions.nps(noise, columns: grid.columns, rois: rois, spacing: spacing, detrend: TextureFit.detrend)
        else { return }
        if ownSum.isEmpty { ownSum = [Double](repeating: 0, count: a.power.count); insertedSum = ownSum }
        guard a.power.count == ownSum.count else { return }
        for i in ownSum.indices { ownSum[i] += a.power[i]; insertedSum[i] += b.power[i] }
        ownMean += a.meanFrequency
        insertedMean += b.meanFrequency
        count += 1
        let c = Double(count)
        ownNPS = NoisePowerSpectrum(frequencies: a.frequencies, power: ownSum.map { $0 / c }, meanFrequency: ownMean / c, variance: 0)
        insertedNPS = NoisePowerSpectrum(frequencies: a.frequencies, power: insertedSum.map { $0 / c }, meanFrequency: insertedMean / c, variance: 0)
    }

    /// Inserted / predicted σ per slice.
    public var sigmaRatios: [Double] { zip(insertedSigmaPerDose, ownSigma).map { $1 > 0 ? $0 / $1 : .nan } }

    /// Largest |difference| of the two NPS curves, each normalised to unit area: 0 = same shape.
    public var shapeDifference: Double? {
        guard let a = ownNPS, let b = insertedNPS else { return nil }
        let sa = a.power.reduce(0, +), sb = b.power.reduce(0, +)
        guard sa > 0, sb > 0 else { return nil }
        let peak = a.power.map { $0 / sa }.max() ?? 1
        return zip(a.power, b.power).map { abs($0 / sa - $1 / sb) }.max().map { $0 / peak }
    }
}
