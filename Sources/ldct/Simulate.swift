import ArgumentParser
import DICOMIO
import Foundation
import LowDoseSimulation
import Reporting
import StudySimulation

struct Phantom: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic normal-dose CT study that looks like a body (for training and tests).")

    @Option(name: .shortAndLong, help: "Output folder for the series.") var output: String
    @Option(help: "Number of slices.") var slices = 8
    @Option(help: "Seed: anatomy, size, region (chest/abdomen), noise level and kernel follow from it.") var seed: UInt64 = 1
    @Option(help: "Image side in pixels.") var size = 512
    @Option(help: "Transfer syntax: \(OutputTransferSyntax.allCases.map(\.rawValue).joined(separator: ", ")).")
    var transferSyntax = OutputTransferSyntax.explicitLittle.rawValue

    func validate() throws {
        guard OutputTransferSyntax(rawValue: transferSyntax) != nil else { throw ValidationError("unknown transfer syntax '\(transferSyntax)'") }
        guard slices >= 1 && slices <= 2000 else { throw ValidationError("--slices must be 1…2000") }
        guard size >= 32 && size <= 2048 else { throw ValidationError("--size must be 32…2048") }
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        var study = PhantomStudy(seed: seed, slices: slices, size: size)
        study.transferSyntax = OutputTransferSyntax(rawValue: transferSyntax) ?? .explicitLittle
        let files = try study.write(to: output) { printError("phantom seed \(seed): slice \($0)/\(slices)") }
        printError(String(format: "ldct phantom: %d slices (%@, %@ kernel, I0 %.3g photons/ray) → %@",
                          files.count, BodyPhantom(seed: seed).region.rawValue, study.filter.rawValue, study.photonsPerRay, output))
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a lower dose: add projection-domain quantum noise to every CT series.",
        discussion: """
            For dose fraction F each ray gets noise of variance (1/F − 1)·e^p/I0 (p: its line integral, \
            I0: full-dose photons per ray), reconstructed by filtered back-projection and added to the \
            image. --calibrate picks I0 per slice so that the result has the noise dose F would give: \
            through each slice's tube current when it varies along the series (modulation), else from \
            each slice's own noise. --texture auto (the default with --calibrate) shapes the noise's \
            grain to the image's own noise (a ramp apodisation fitted ring by ring to its noise power \
            spectrum), \
            for any vendor kernel. Dose tags (CTDIvol, mA, mAs) are scaled by F. Same seed → same \
            pixels and UIDs. docs/simulation.md.
            """)

    @Argument(help: "DICOM files or folders.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Output folder.") var output: String
    @Option(help: "Dose fraction, e.g. 0.25 for quarter dose.") var dose: Double
    @Option(help: "Full-dose photons per ray (at the series' median tube current where it varies along the series).") var i0: Double?
    @Flag(help: "Choose photons per ray per slice: from the tube current where it varies, else from each slice's own noise.") var calibrate = false
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Noise texture: auto (fitted to the image's own noise; default with --calibrate), ram-lak (default with --i0), shepp-logan, hann.")
    var texture: String?
    @Option(help: ArgumentHelp("Same as --texture with a classic filter (kept for old scripts).", visibility: .hidden)) var filter: String?
    @Option(help: "UID root of your site.") var uidRoot: String?
    @Option(help: "Transfer syntax: \(OutputTransferSyntax.allCases.map(\.rawValue).joined(separator: ", ")).")
    var transferSyntax = OutputTransferSyntax.explicitLittle.rawValue
    @Option(help: "Also check the inserted noise against the image's own (σ per slice, NPS) and write SVG/JSON per series into this folder.")
    var check: String?

    func validate() throws {
        guard OutputTransferSyntax(rawValue: transferSyntax) != nil else { throw ValidationError("unknown transfer syntax '\(transferSyntax)'") }
        guard dose > 0 && dose < 1 else { throw ValidationError("--dose must be between 0 and 1 (exclusive)") }
        guard (i0 != nil) != calibrate else { throw ValidationError("give exactly one of --i0 N or --calibrate") }
        if let i0, !(i0 > 0) { throw ValidationError("--i0 must be positive") }
        if let filter, ReconstructionFilter(rawValue: filter) == nil { throw ValidationError("unknown filter '\(filter)'") }
        if let texture, TextureSetting(argument: texture) == nil {
            throw ValidationError("unknown texture '\(texture)' (auto, ram-lak, shepp-logan, hann)")
        }
        if texture != nil && filter != nil { throw ValidationError("give --texture or --filter, not both") }
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        var run = DoseSimulationRun(doseFraction: dose, photons: i0.map { .fixed($0) } ?? .calibrate, seed: seed)
        run.texture = (texture ?? filter).flatMap { TextureSetting(argument: $0) }
        run.uidRoot = uidRoot
        run.transferSyntax = OutputTransferSyntax(rawValue: transferSyntax) ?? .explicitLittle
        run.check = check != nil
        let (series, scan) = try run.run(inputs, outputRoot: output) { printError($0) }
        var failed = !scan.errors.isEmpty
        for s in series {
            printError(String(format: "%@: %d slices, I0 %.4g (median) → %@", s.errors.isEmpty ? "simulated" : "FAILED", s.slicesWritten,
                              s.photonsPerRay, s.outputDirectory))
            if let plan = s.plan {
                printError("  \(plan.summary)")
                if let lo = s.photonsPerSlice.min(), let hi = s.photonsPerSlice.max(), hi > lo * 1.001 {
                    printError("  I0 per slice: " + s.photonsPerSlice.map { String(format: "%.3g", $0) }.joined(separator: " "))
                }
                if let fit = plan.fit {
                    printError(String(format: "  texture: NPS mean frequency of the image's own noise %.3f mm⁻¹, of the fitted noise %.3f mm⁻¹",
                                      fit.target.meanFrequency, fit.predicted.meanFrequency))
                }
            }
            if let c = s.check, let folder = check { Simulate.writeCheck(c, series: s, folder: folder) }
            for e in s.errors { printError("  error: \(e)") }
            failed = failed || !s.errors.isEmpty
        }
        for r in scan.rejected { printError("skipped: \(r.file): \(r.reason)") }
        for e in scan.errors { printError("error: \(e)") }
        if series.isEmpty { throw ExitCodes.nothingFound }
        if failed { throw ExitCodes.partialFailure }
    }
}

extension Simulate {
    /// Prints the check and writes FOLDER/<series>.json and .svg (NPS of the image's own and of the
    /// inserted noise; inserted / predicted σ per slice).
    static func writeCheck(_ c: SimulationCheck, series s: SimulatedSeries, folder: String) {
        let ratios = c.sigmaRatios.filter(\.isFinite).sorted()
        if !ratios.isEmpty {
            printError(String(format: "  check: inserted / predicted σ per slice: median %.3f, range %.3f…%.3f (%d slices)",
                              ratios[ratios.count / 2], ratios.first ?? 0, ratios.last ?? 0, ratios.count))
        }
        if let a = c.ownNPS, let b = c.insertedNPS {
            printError(String(format: "  check: NPS mean frequency own %.3f, inserted %.3f mm⁻¹ (%+.1f %%), largest shape difference %.0f %% of the peak",
                              a.meanFrequency, b.meanFrequency, (b.meanFrequency / a.meanFrequency - 1) * 100, (c.shapeDifference ?? .nan) * 100))
        }
        let name = (s.outputDirectory as NSString).lastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1140\" height=\"320\">"
            if let a = c.ownNPS, let b = c.insertedNPS {
                let sa = a.power.reduce(0, +), sb = b.power.reduce(0, +)
                let chart = LineChart(title: "Noise power spectrum, normalised: image's own vs inserted", xLabel: "spatial frequency (mm⁻¹)",
                                      yLabel: "share of the noise power", series: [
                    LineChart.Series(name: "image's own", color: "#555", points: zip(a.frequencies, a.power).map { ($0, $1 / sa) }, dashed: true),
                    LineChart.Series(name: "inserted", color: "#c0392b", points: zip(b.frequencies, b.power).map { ($0, $1 / sb) }),
                ])
                svg += "<g>" + chart.svg() + "</g>"
            }
            let points = c.sigmaRatios.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }
            if !points.isEmpty {
                let chart = LineChart(title: "Inserted σ / the dose's prediction, per slice", xLabel: "slice", yLabel: "ratio", series: [
                    LineChart.Series(name: "inserted / predicted", color: "#1f6fb2", points: points),
                    LineChart.Series(name: "exact", color: "#555", points: [(1, 1), (Double(max(points.count, 2)), 1)], dashed: true),
                    LineChart.Series(name: "±10 %", color: "#aaa", points: [(1, 0.9), (Double(max(points.count, 2)), 0.9)], dashed: true),
                    LineChart.Series(name: "", color: "#aaa", points: [(1, 1.1), (Double(max(points.count, 2)), 1.1)], dashed: true),
                ])
                svg += "<g transform=\"translate(580,0)\">" + chart.svg() + "</g>"
            }
            svg += "</svg>\n"
            try AtomicFile.write(Data(svg.utf8), to: (folder as NSString).appendingPathComponent(name + ".svg"))
            let json: [String: Any] = [
                "series": s.source, "doseFraction": c.doseFraction, "plan": s.plan?.summary ?? "",
                "photonsPerSlice": s.photonsPerSlice, "ownSigma": c.ownSigma, "insertedSigmaPerDose": c.insertedSigmaPerDose,
                "ownNPSMeanFrequency": c.ownNPS?.meanFrequency ?? 0, "insertedNPSMeanFrequency": c.insertedNPS?.meanFrequency ?? 0,
                "frequencies": c.ownNPS?.frequencies ?? [], "ownNPS": c.ownNPS?.power ?? [], "insertedNPS": c.insertedNPS?.power ?? [],
            ]
            try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]),
                                 to: (folder as NSString).appendingPathComponent(name + ".json"))
        } catch {
            printError("  check: cannot write into \(folder): \(error)")
        }
    }
}
