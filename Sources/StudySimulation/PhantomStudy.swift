import DICOMIO
import Foundation
import LowDoseSimulation

/// Writes synthetic normal-dose CT studies (`ldct phantom`): BodyPhantom anatomy, CT-like
/// correlated noise from the projection domain at a seed-dependent dose, a seed-dependent
/// reconstruction kernel, and the headers a scanner writes.
public struct PhantomStudy: Sendable {
    public var seed: UInt64
    public var slices: Int
    public var size: Int
    public var sliceSpacing: Double = 2.5
    public var transferSyntax: OutputTransferSyntax = .explicitLittle
    /// Tube-current modulation: slice i is acquired at this multiple of the base tube current (its
    /// photons and its mA/mAs/CTDIvol tags scale alike); nil: constant.
    public var modulation: [Double]?

    public init(seed: UInt64, slices: Int, size: Int = 512) {
        self.seed = seed
        self.slices = slices
        self.size = size
    }

    /// Full-dose photons per ray for this seed: sets the noise level. 3·10⁵ … 2·10⁶ gives σ ≈ 13–34 HU
    /// in soft tissue with the sharp (Ram-Lak) kernel at 512² and 0.7–0.9 mm pixels, less with the
    /// smoother kernels: the range of routine normal-dose abdomen and chest CT.
    public var photonsPerRay: Double {
        [3e5, 5e5, 8e5, 1.2e6, 2e6][Int(seed % 5)]
    }

    public var filter: ReconstructionFilter { ReconstructionFilter.allCases[Int((seed / 5) % 3)] }

    /// Pixel spacing (mm): the body plus a seed-dependent margin fills the field of view.
    public var pixelSpacing: Double {
        let phantom = BodyPhantom(seed: seed)
        let fov = 2 * max(phantom.bodyA, phantom.bodyB) + 60 + Double(seed % 7) * 10
        return (fov / Double(size) * 1000).rounded() / 1000
    }

    /// Slice i's anatomy in HU before any noise (what the written slice is, minus its noise).
    public func cleanSlice(_ i: Int) -> [Float] {
        let z = -Double(slices) * sliceSpacing / 2 + Double(i) * sliceSpacing
        return BodyPhantom(seed: seed).slice(side: size, pixel: pixelSpacing, z: z)
    }

    /// Writes the series into `directory`; returns the file paths.
    @discardableResult
    public func write(to directory: String, progress: (Int) -> Void = { _ in }) throws -> [String] {
        let phantom = BodyPhantom(seed: seed)
        let pixel = pixelSpacing
        let uids = try UIDFactory()
        var spec = NewSeriesSpec(studyInstanceUID: uids.deterministic("phantom-study|\(seed)"),
                                 seriesInstanceUID: uids.deterministic("phantom-series|\(seed)"), rows: size, columns: size)
        spec.frameOfReferenceUID = uids.deterministic("phantom-frame|\(seed)")
        spec.instanceUIDs = (0..<slices).map { uids.deterministic("phantom-instance|\(seed)|\($0)") }
        spec.patientName = "PHANTOM^\(seed)"
        spec.patientID = "LDCT-PH-\(seed)"
        spec.studyDescription = "Synthetic \(phantom.region.rawValue) (LowDoseCT phantom, seed \(seed))"
        spec.seriesDescription = "\(phantom.region == .chest ? "Chest" : "Abdomen") normal dose"
        spec.bodyPartExamined = phantom.region == .chest ? "CHEST" : "ABDOMEN"
        spec.convolutionKernel = ["SHARP", "STANDARD", "SOFT"][ReconstructionFilter.allCases.firstIndex(of: filter) ?? 1]
        spec.pixelSpacing = [pixel, pixel]
        spec.sliceThickness = sliceSpacing
        spec.sliceSpacing = sliceSpacing
        spec.origin = [-pixel * Double(size - 1) / 2, -pixel * Double(size - 1) / 2, -Double(slices) * sliceSpacing / 2]
        // Scanners differ: some store unsigned 12-bit with intercept −1024, others signed 16-bit.
        if seed % 3 == 0 { spec.bitsStored = 12; spec.signed = false; spec.rescaleIntercept = -1024 }
        let mAs = photonsPerRay / 8000
        spec.dose = DoseInfo(kvp: seed % 4 == 3 ? 100 : 120, tubeCurrentMA: mAs * 2, exposureMAs: mAs,
                             exposureTimeMS: 500, ctdiVolMGy: (mAs * 0.075 * 100).rounded() / 100)
        let grid = Grid(rows: size, columns: size, dx: pixel, dy: pixel)
        if let m = modulation, m.count >= slices {
            let base = spec.dose
            spec.sliceDoses = m.prefix(slices).map { k in
                DoseInfo(kvp: base.kvp, tubeCurrentMA: base.tubeCurrentMA.map { $0 * k }, exposureMAs: base.exposureMAs.map { $0 * k },
                         exposureTimeMS: base.exposureTimeMS, ctdiVolMGy: base.ctdiVolMGy.map { ($0 * k * 100).rounded() / 100 })
            }
        }
        var images: [SliceImage] = []
        for i in 0..<slices {
            let factor = modulation.flatMap { i < $0.count ? $0[i] : nil } ?? 1
            let inserter = NoiseInserter(photonsPerRay: photonsPerRay * factor, filter: filter)
            let clean = cleanSlice(i)
            // Dose fraction 1/2 adds noise of variance e^p/I0: exactly a full-dose acquisition's.
            let noise = try inserter.noise(for: clean, grid: grid, doseFraction: 0.5, seed: seed &* 1000 &+ UInt64(i))
            images.append(SliceImage(rows: size, columns: size, hu: zip(clean, noise).map { max($0 + $1, -1024) }))
            progress(i + 1)
        }
        return try NewSeriesWriter.writeClassic(spec, images: images, directory: directory,
                                                fileName: { String(format: "CT%04d.dcm", $0 + 1) }, transferSyntax: transferSyntax)
    }
}
