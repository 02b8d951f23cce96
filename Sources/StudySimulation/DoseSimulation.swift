import DICOMIO
import Foundation
import LowDoseSimulation

/// How to choose the full-dose photons per ray.
public enum PhotonSetting: Sendable, Equatable {
    case fixed(Double)
    /// From each series' own measured noise (NoiseInserter.calibrated), on its middle slice.
    case calibrate
}

public struct SimulatedSeries: Sendable {
    public var source: String
    public var outputDirectory: String
    public var slicesWritten: Int
    public var photonsPerRay: Double
    public var measuredNoiseHU: Double?
    public var errors: [String]
}

/// `ldct simulate`: for every CT series under the inputs, a derived series at dose fraction f,
/// made by projection-domain noise insertion. Same inputs and seed → the same pixels and UIDs.
public struct DoseSimulationRun: Sendable {
    public var doseFraction: Double
    public var photons: PhotonSetting
    public var seed: UInt64
    public var filter: ReconstructionFilter = .ramLak
    public var uidRoot: String?
    public var transferSyntax: OutputTransferSyntax = .explicitLittle

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
            var result = SimulatedSeries(source: series.seriesInstanceUID, outputDirectory: folder, slicesWritten: 0,
                                         photonsPerRay: 0, measuredNoiseHU: nil, errors: [])
            do {
                let spacing = series.pixelSpacing ?? [1, 1]
                let grid = Grid(rows: series.rows, columns: series.columns, dx: spacing[1], dy: spacing[0])
                let inserter: NoiseInserter
                switch photons {
                case .fixed(let i0):
                    inserter = NoiseInserter(photonsPerRay: i0, filter: filter)
                case .calibrate:
                    let middle = try PixelDecoder.decode(series.slices[series.slices.count / 2])
                    let (calibrated, sigma) = try NoiseInserter.calibrated(for: airFilled(middle), grid: grid, doseFraction: doseFraction,
                                                                           seed: seed, filter: filter)
                    inserter = calibrated
                    result.measuredNoiseHU = sigma
                }
                result.photonsPerRay = inserter.photonsPerRay
                var options = SeriesWriterOptions(
                    uidRoot: uidRoot,
                    deterministicKey: "simulate|\(doseFraction)|\(seed)|\(inserter.photonsPerRay)",
                    seriesDescription: "{source} [simulated \(percentLabel) dose]",
                    derivationDescription: String(format: "Simulated %@ dose: projection-domain quantum noise, I0 %.4g photons/ray, seed %llu (LowDoseCT)",
                                                  percentLabel, inserter.photonsPerRay, seed),
                    transferSyntax: transferSyntax,
                    imageComments: "Simulated lower dose (LowDoseCT); not an acquisition")
                options.seriesNumber = (series.seriesNumber ?? 0) + 2000
                let session = try SeriesWriter(options: options).begin(source: series, directory: folder)
                for (i, slice) in series.slices.enumerated() {
                    do {
                        let image = try PixelDecoder.decode(slice)
                        // Per-slice seed from the source instance: independent of order and file names.
                        let sliceSeed = seed ^ UIDFactory.fnv1a64(slice.sopInstanceUID + "#\(slice.frame ?? 0)")
                        let noise = try inserter.noise(for: airFilled(image), grid: grid, doseFraction: doseFraction, seed: sliceSeed)
                        var out = image
                        for k in out.hu.indices where out.paddingMask.isEmpty || out.paddingMask[k] == 0 { out.hu[k] += noise[k] }
                        try session.write(index: i, image: out, overrides: scaledDose(slice.dose))
                        result.slicesWritten += 1
                        progress("\(series.seriesDescription ?? "series"): slice \(i + 1)/\(series.slices.count)")
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
