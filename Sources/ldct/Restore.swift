import ArchivePlan
import ArgumentParser
import ConvNet
import DICOMIO
import Denoising
import Foundation

struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore low-dose CT series with RED-CNN into derived DICOM series.",
        discussion: """
            Every CT series found under the inputs becomes one derived series in its own folder under \
            OUT (SourceImageSequence on every file; inputs are never written). Output UIDs derive \
            from the source UIDs and the model's weights, so a re-run writes identical files. \
            State is kept per series in OUT/state (and OUT/manifest.json): a re-run skips finished \
            series and redoes the rest.

            An archive is restored by N processes at once (a Slurm job array, a Kubernetes \
            Indexed Job, or plain background jobs) from a plan: `ldct plan ARCHIVE -o PLAN`, then \
            `ldct restore --plan PLAN -o OUT --shard K/N` (or --shard auto under Slurm, auto/N under \
            Kubernetes). Each series belongs to exactly one shard; shards share no file; \
            `ldct status OUT --plan PLAN` says what is done, failed and missing (docs/scale.md).
            """)

    @Argument(help: "DICOM files or folders (searched recursively); with --plan, optional (must be the plan's archive).")
    var inputs: [String] = []

    @Option(help: "Work list made by `ldct plan`: only this shard's files are read, no scan of the archive.")
    var plan: String?

    @Option(help: "Which part of the plan this process restores: K/N (0 ≤ K < N), auto (a Slurm job array: SLURM_ARRAY_TASK_ID), or auto/N (a Kubernetes Indexed Job: JOB_COMPLETION_INDEX of N completions). Default with --plan: 0/1, all of it.")
    var shard: String?

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String

    @Option(help: ArgumentHelp(ConvolutionAlgorithm.help)) var conv: ConvolutionAlgorithm = .auto
    @Option(help: "RED-CNN weights (safetensors, PyTorch state_dict names); default: the bundled model.")
    var model: String?

    @Option(help: "UID root of your site for the new UIDs (default: the 2.25 UUID arc).")
    var uidRoot: String?

    @Option(help: "Output transfer syntax: \(OutputTransferSyntax.allCases.map(\.rawValue).joined(separator: ", ")).")
    var transferSyntax: String = OutputTransferSyntax.explicitLittle.rawValue

    @Option(help: "Threads for the network (default: all cores).")
    var threads: Int?

    @Flag(help: "Write a dose-comparison report into OUT/report (see `ldct report`).")
    var report = false

    @Option(parsing: .upToNextOption, help: "Normal-dose series to compare against in the report (implies --report).")
    var reference: [String] = []

    @Option(help: ArgumentHelp(PairingMode.help))
    var pairBy: PairingMode = .auto

    @Flag(help: "Redo every series, even those OUT/state records as complete.")
    var force = false

    @Option(help: ArgumentHelp(
        "How much of the network's correction to keep: auto, or 0 (the input) … 1 (the network's output) … 2.",
        discussion: "auto picks it per slice from the noise the network removed, through the curve tuned into the model (`ldct tune`); default: auto when the model has a curve, else 1 (the bundled model has none)."))
    var strength: String?

    @Option(help: ArgumentHelp(
        "Average the network over N mirrored/rotated views of each slice: 1, 2, 4 or 8.",
        discussion: "N network passes per slice; its errors partly cancel (with the bundled model on the held-out patient and the pydicom slices: +0.15 … +0.20 dB and +0.001 … +0.003 SSIM at 8; docs/model-card.md). Another N is another derived series (new UIDs)."))
    var ensemble: Int = 1

    func validate() throws {
        guard OutputTransferSyntax(rawValue: transferSyntax) != nil else {
            throw ValidationError("unknown transfer syntax '\(transferSyntax)'")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        _ = try ensembleOption(ensemble)
        if plan == nil && inputs.isEmpty { throw ValidationError("give DICOM files or folders, or --plan PLAN") }
        if plan == nil && shard != nil { throw ValidationError("--shard needs --plan (make one with `ldct plan`)") }
        if plan != nil && (report || !reference.isEmpty) {
            throw ValidationError("--report is not made by shards; run `ldct report` on OUT when all shards are done")
        }
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        if let threads { Parallelism.request(workers: threads) }
        guard let modelPath = model ?? DefaultModel.locate() else {
            printError("ldct restore: no --model given and the default model was not found (looked in: "
                + DefaultModel.candidates().joined(separator: ", ") + ")")
            throw ExitCodes.nothingFound
        }
        let loaded: REDCNN
        let metadata: [String: String]
        do {
            (loaded, metadata) = try ModelFile.load(modelPath)
            loaded.workspace.algorithm = conv
        } catch {
            printError("ldct restore: \(error)")
            throw ExitCodes.nothingFound
        }
        let chosen: RestoreStrength
        do { chosen = try RestoreStrength.resolve(strength, metadata: metadata, model: modelPath) } catch {
            printError("ldct restore: \(error)")
            throw ExitCode.validationFailure
        }
        if model == nil { printError("ldct restore: default model \(modelPath)") }
        if !chosen.isIdentity { printError("ldct restore: strength \(chosen)") }
        if let note = chosen.viewsNote(metadata: metadata, views: ensemble) { printError("ldct restore: note: \(note)") }
        let views = try ensembleOption(ensemble)
        if !views.isSingle { printError("ldct restore: mean of \(views.count) views per slice") }
        let restorer = StudyRestorer(model: loaded, modelLabel: (modelPath as NSString).lastPathComponent, uidRoot: uidRoot,
                                     transferSyntax: OutputTransferSyntax(rawValue: transferSyntax) ?? .explicitLittle,
                                     strength: chosen, ensemble: views)
        let progress = ProgressLine()
        let update: (RestoreProgress) -> Void = { p in
            progress.update(done: p.slicesDone, total: p.slicesTotal, elapsed: p.elapsed,
                            label: "series \(p.seriesIndex + 1)/\(p.seriesCount), slice \(p.sliceIndex + 1)/\(p.sliceCount)")
        }
        let summary: RestoreSummary
        if let planPath = plan {
            do {
                let work = try RestorePlan.load(planPath)
                try work.check(inputs: inputs, planPath: planPath)
                let part = try shard.map { try ShardSpec.parse($0) } ?? ShardSpec(index: 0, count: 1)
                let mine = work.series(of: part)
                printError("ldct restore: shard \(part) (\(part.source)) of plan \(work.fingerprint): \(mine.count) of \(work.series.count) series, "
                    + "\(mine.reduce(0) { $0 + $1.slices }) slices")
                if mine.isEmpty {
                    printError("ldct restore: nothing for this shard (more shards than series)")
                    return
                }
                summary = try restorer.run(plan: work, planPath: planPath, shard: part, outputRoot: output, resume: !force, progress: update)
            } catch let error as PlanError {
                printError("ldct restore: \(error)")
                throw ExitCode.validationFailure
            }
        } else {
            summary = restorer.run(inputs, outputRoot: output, resume: !force, progress: update)
        }
        progress.finish()
        for s in summary.series where s.skipped {
            printError("done before: \"\(s.description)\" \(s.slicesTotal) slices (OUT/state) → \(s.outputDirectory)")
        }
        for s in summary.series where !s.skipped {
            let status = s.errors.isEmpty && s.slicesWritten == s.slicesTotal ? "restored" : "FAILED"
            printError(String(format: "%@: \"%@\" %d/%d slices in %.1f s → %@", status, s.description, s.slicesWritten,
                              s.slicesTotal, s.seconds, s.outputDirectory))
            if !chosen.isIdentity, let lo = s.alphas.min(), let hi = s.alphas.max() {
                printError(lo == hi ? String(format: "  strength %.2f", Double(lo)) : String(format: "  strength %.2f … %.2f (median %.2f)",
                           Double(lo), Double(hi), Double(s.alphas.sorted()[s.alphas.count / 2])))
            }
            if let lo = s.noiseLevels.min(), let hi = s.noiseLevels.max() {
                printError(String(format: "  noise level told to the network (blind σ): %.1f … %.1f HU (median %.1f)", Double(lo), Double(hi),
                                  Double(s.noiseLevels.sorted()[s.noiseLevels.count / 2])))
            }
            if s.clampedPixels > 0 { printError("  note: \(s.clampedPixels) pixel(s) clamped to the 16-bit range") }
            for e in s.errors { printError("  error: \(e)") }
        }
        for r in summary.rejected { printError("skipped: \(r.file): \(r.reason)") }
        for e in summary.errors { printError("error: \(e)") }
        let written = summary.series.reduce(0) { $0 + $1.slicesWritten }
        printError("ldct restore: \(summary.series.count) series, \(written) slice(s) written, \(summary.rejected.count) skipped, "
            + "\(summary.errors.count + summary.series.reduce(0) { $0 + $1.errors.count }) error(s)")
        if summary.series.isEmpty { throw ExitCodes.nothingFound }
        if report || !reference.isEmpty {
            let folder = (output as NSString).appendingPathComponent("report")
            let restoredFolders = summary.series.map(\.outputDirectory).filter { FileManager.default.fileExists(atPath: $0) }
            do {
                try Report.make(low: inputs, restored: restoredFolders, normal: reference, output: folder, pairBy: pairBy)
            } catch {
                throw ExitCodes.partialFailure
            }
        }
        if summary.failed { throw ExitCodes.partialFailure }
    }
}

/// One progress line: rewritten in place on a terminal, plain lines (every 10 %) otherwise.
final class ProgressLine {
    let interactive = isatty(2) == 1
    var lastDecile = -1

    func update(done: Int, total: Int, elapsed: Double, label: String, unit: String = "slices") {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = unit == "slices" ? String(format: "%@  %d/%d slices, %.2f slices/s, ETA %.0f s", label, done, total, rate, eta) : label
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            let decile = total > 0 ? done * 10 / total : 10
            if decile != lastDecile || done == total {
                lastDecile = decile
                printError(line)
            }
        }
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
