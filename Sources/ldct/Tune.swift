import ArgumentParser
import ConvNet
import DICOMIO
import Denoising
import Foundation
import ImageQuality

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tune a model's automatic restore strength on paired low/normal-dose series.",
        discussion: """
            Pairs slices as `ldct train` does (Source Image Sequence, else frame of reference and \
            position; never file names), runs the network once per low-dose slice, and fits the curve \
            strength(removed noise) that maximises the mean of PSNR + W × SSIM against normal dose \
            (window −160…240 HU; W = --ssim-weight, 50 dB per unit SSIM: 1 dB counts like 0.02 SSIM). \
            The curve may fall again for the noisiest slices (sharp kernels, whose normal dose keeps \
            strong noise of its own); --monotone forbids that. \
            Writes a copy of the model with the curve in its metadata: the weights are unchanged (same \
            fingerprint; PyTorch ignores the metadata) unless --correct-hu also cancels the network's \
            mean HU shift in soft tissue through its last bias, and `ldct restore` then uses \
            `--strength auto` by default. The model given is never written.
            """)

    @Option(help: ArgumentHelp(ConvolutionAlgorithm.help)) var conv: ConvolutionAlgorithm = .auto
    @Option(help: "RED-CNN weights to tune (default: the bundled model).")
    var model: String?

    @Option(parsing: .upToNextOption, help: "Low-dose series (files or folders).")
    var low: [String]

    @Option(parsing: .upToNextOption, help: "Normal-dose series they pair with.")
    var normal: [String]

    @Option(name: .shortAndLong, help: "The tuned model to write (.safetensors).")
    var output: String

    @Option(help: "Knots of the curve (fewer when there are few slices: 6 slices per knot at least).")
    var knots = 6

    @Option(help: "Largest strength the curve may give (above 1 the correction is amplified).")
    var maxStrength: Float = 1.5

    @Option(help: "Weight of SSIM in the score, in dB per unit SSIM (0: PSNR alone, no SSIM computed).")
    var ssimWeight: Double = StrengthTuner.defaultSSIMWeight

    @Flag(help: "Keep the curve non-decreasing in the removed noise.")
    var monotone = false

    @Flag(help: "Cancel the network's mean CT-number shift in uniform soft tissue (measured on these pairs at strength 1) by adjusting its last bias: the weights, and so the fingerprint, change.")
    var correctHu = false

    @Option(help: "Threads for the network (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp(PairingMode.help))
    var pairBy: PairingMode = .auto

    @Option(help: "Tune on the mean of N mirrored/rotated views of the network's output (1, 2, 4 or 8), as `ldct restore --ensemble N` will restore: the curve then fits what that restore removes (N times the tune's time).")
    var ensemble: Int = 1

    func validate() throws {
        guard knots >= 1, knots <= 20 else { throw ValidationError("--knots must be within 1…20") }
        guard maxStrength > 0, maxStrength <= 2 else { throw ValidationError("--max-strength must be within 0…2") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard ssimWeight.isFinite, ssimWeight >= 0, ssimWeight <= 1000 else { throw ValidationError("--ssim-weight must be within 0…1000") }
        _ = try ensembleOption(ensemble)
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        if let threads { Parallelism.request(workers: threads) }
        guard let modelPath = model ?? DefaultModel.locate() else {
            printError("ldct tune: no --model given and the default model was not found")
            throw ExitCodes.nothingFound
        }
        if URL(fileURLWithPath: output).standardizedFileURL.path == URL(fileURLWithPath: modelPath).standardizedFileURL.path {
            printError("ldct tune: --output must not be the model itself (inputs are never written)")
            throw ExitCode.validationFailure
        }
        let loaded: REDCNN
        var metadata: [String: String]
        do {
            (loaded, metadata) = try ModelFile.load(modelPath)
            loaded.workspace.algorithm = conv
        } catch {
            printError("ldct tune: \(error)")
            throw ExitCodes.nothingFound
        }
        let lowScan = StudyScanner.scan(low), normalScan = StudyScanner.scan(normal)
        for r in lowScan.rejected + normalScan.rejected { printError("skipped: \(r.file): \(r.reason)") }
        let pairing = Pairing.pair(low: lowScan.series, normal: normalScan.series, mode: pairBy)
        for u in pairing.unpaired { printError("unpaired: \(u.file): \(u.reason)") }
        printError("ldct tune: \(pairing.summary)")
        guard !pairing.pairs.isEmpty else {
            printError("ldct tune: no low/normal-dose pairs found")
            throw ExitCodes.nothingFound
        }
        let views = try ensembleOption(ensemble)
        let restorer = SliceRestorer(model: loaded, ensemble: views)
        let progress = ProgressLine()
        var samples: [StrengthSample] = []
        var errors = lowScan.errors.map { "\($0)" } + normalScan.errors.map { "\($0)" }
        let start = Date()
        var swap = SwapCheck()
        for (i, pair) in pairing.pairs.enumerated() {
            do {
                let l = try PixelDecoder.decode(pair.low), n = try PixelDecoder.decode(pair.normal)
                guard l.rows == n.rows, l.columns == n.columns else {
                    throw DICOMError.inconsistentSeries(file: pair.low.file, reason: "\(l.columns)x\(l.rows) against normal dose \(n.columns)x\(n.rows)")
                }
                swap.add(low: l.hu, normal: n.hu, rows: l.rows, columns: l.columns, paddingMask: l.paddingMask)
                let network = restorer.networkOutput(l)
                samples.append(StrengthTuner.sample(low: l, network: network.hu, normal: n, ssim: ssimWeight > 0))
            } catch {
                errors.append("\(error)")
            }
            progress.update(done: i + 1, total: pairing.pairs.count, elapsed: Date().timeIntervalSince(start), label: "tune")
        }
        progress.finish()
        if let warning = swap.warning { printError("warning: \(warning)") }
        for e in errors { printError("error: \(e)") }
        let fit: StrengthFit
        do {
            fit = try StrengthTuner.fit(samples, knots: knots, maxAlpha: maxStrength, ssimWeight: ssimWeight, monotone: monotone)
        } catch {
            printError("ldct tune: \(error)")
            throw ExitCodes.nothingFound
        }
        var summary = String(format: "%d slices; mean PSNR input %.2f dB, network %.2f dB, tuned %.2f dB (best per slice %.2f dB)",
                             fit.slices, fit.psnrInput, fit.psnrNetwork, fit.psnrTuned, fit.psnrOracle)
        if let si = fit.ssimInput, let sn = fit.ssimNetwork, let st = fit.ssimTuned, let so = fit.ssimOracle {
            summary += String(format: "; SSIM %.4f, %.4f, %.4f (%.4f); score PSNR + %g × SSIM", si, sn, st, so, ssimWeight)
        }
        if monotone { summary += "; monotone" }
        if !views.isSingle { summary += "; network averaged over \(views.count) views" }
        var shiftLine = "network's mean HU shift in uniform soft tissue: not measured (no uniform squares in the normal-dose slices)"
        if let shift = fit.networkShift {
            shiftLine = String(format: "network's mean HU shift in uniform soft tissue: %+.2f HU (%d slices)", shift, fit.shiftSlices)
            if correctHu {
                loaded.shiftOutput(hu: Float(-shift))
                let note = String(format: "%+.2f HU added to the output (tconv5.bias): the network's mean shift in uniform soft tissue of %d tune slices was %+.2f HU",
                                  -shift, fit.shiftSlices, shift)
                // A model corrected before keeps the record of every correction, oldest first.
                metadata["hu_correction"] = metadata["hu_correction"].map { $0 + "; then " + note } ?? note
                shiftLine += String(format: "; corrected (%+.2f HU through tconv5.bias)", -shift)
            }
        } else if correctHu {
            printError("ldct tune: --correct-hu: \(shiftLine)")
            throw ExitCodes.nothingFound
        }
        metadata[StrengthCurve.metadataKey] = fit.curve.description
        metadata["strength_tuned_on"] = summary
        // The views the curve was fitted for (`restore --ensemble`); absent: one, the network as it is.
        if views.isSingle { metadata.removeValue(forKey: RestoreStrength.tunedViewsKey) } else { metadata[RestoreStrength.tunedViewsKey] = String(views.count) }
        do {
            try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent.isEmpty ? "." : (output as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try ModelFile.save(loaded, to: output, metadata: metadata)
        } catch {
            printError("ldct tune: \(error)")
            throw ExitCodes.internalError
        }
        printError("ldct tune: \(summary)")
        printError("ldct tune: \(shiftLine)")
        print("strength curve (removed noise HU : strength): \(fit.curve)")
        print("written: \(output) (fingerprint \(ModelFile.fingerprint(loaded)), \(correctHu ? "last bias corrected" : "weights unchanged"))")
        if !errors.isEmpty { throw ExitCodes.partialFailure }
    }
}
