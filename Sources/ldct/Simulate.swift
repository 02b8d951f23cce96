import ArgumentParser
import DICOMIO
import Foundation
import LowDoseSimulation
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
            image. --calibrate picks I0 from each series' own noise so that the result has the noise \
            dose F would give. Dose tags (CTDIvol, mA, mAs) are scaled by F. Same seed → same pixels and UIDs.
            """)

    @Argument(help: "DICOM files or folders.") var inputs: [String]
    @Option(name: .shortAndLong, help: "Output folder.") var output: String
    @Option(help: "Dose fraction, e.g. 0.25 for quarter dose.") var dose: Double
    @Option(help: "Full-dose photons per ray.") var i0: Double?
    @Flag(help: "Choose photons per ray from the image's measured noise.") var calibrate = false
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Reconstruction filter for the noise: ram-lak, shepp-logan, hann.") var filter = "ram-lak"
    @Option(help: "UID root of your site.") var uidRoot: String?
    @Option(help: "Transfer syntax: \(OutputTransferSyntax.allCases.map(\.rawValue).joined(separator: ", ")).")
    var transferSyntax = OutputTransferSyntax.explicitLittle.rawValue

    func validate() throws {
        guard OutputTransferSyntax(rawValue: transferSyntax) != nil else { throw ValidationError("unknown transfer syntax '\(transferSyntax)'") }
        guard dose > 0 && dose < 1 else { throw ValidationError("--dose must be between 0 and 1 (exclusive)") }
        guard (i0 != nil) != calibrate else { throw ValidationError("give exactly one of --i0 N or --calibrate") }
        if let i0, !(i0 > 0) { throw ValidationError("--i0 must be positive") }
        guard ReconstructionFilter(rawValue: filter) != nil else { throw ValidationError("unknown filter '\(filter)'") }
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        var run = DoseSimulationRun(doseFraction: dose, photons: i0.map { .fixed($0) } ?? .calibrate, seed: seed)
        run.filter = ReconstructionFilter(rawValue: filter) ?? .ramLak
        run.uidRoot = uidRoot
        run.transferSyntax = OutputTransferSyntax(rawValue: transferSyntax) ?? .explicitLittle
        let (series, scan) = try run.run(inputs, outputRoot: output) { printError($0) }
        var failed = !scan.errors.isEmpty
        for s in series {
            let noise = s.measuredNoiseHU.map { String(format: ", measured noise %.1f HU", $0) } ?? ""
            printError(String(format: "%@: %d slices, I0 %.4g%@ → %@", s.errors.isEmpty ? "simulated" : "FAILED", s.slicesWritten,
                              s.photonsPerRay, noise, s.outputDirectory))
            for e in s.errors { printError("  error: \(e)") }
            failed = failed || !s.errors.isEmpty
        }
        for r in scan.rejected { printError("skipped: \(r.file): \(r.reason)") }
        for e in scan.errors { printError("error: \(e)") }
        if series.isEmpty { throw ExitCodes.nothingFound }
        if failed { throw ExitCodes.partialFailure }
    }
}
