import ArgumentParser
import ConvNet
import DICOMIO
import Foundation
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train RED-CNN on paired low-/normal-dose CT (or on normal dose with simulated low dose).",
        discussion: """
            Pairs: a low-dose slice derived from a normal-dose one pairs through its Source Image \
            Sequence; otherwise by frame of reference (study when absent) and position. Never by file \
            name. The run folder holds config.json, log.csv, checkpoint.safetensors (weights, Adam \
            state, step, RNG state; written atomically), model.safetensors and loss.svg. \
            `ldct train --resume RUN [--steps N]` continues bit-identically on the same machine.
            """)

    @Option(name: .shortAndLong, help: "Run folder (new run).") var output: String?
    @Option(help: "Continue the run in this folder.") var resume: String?
    @Option(parsing: .upToNextOption, help: "Normal-dose folders.") var normal: [String] = []
    @Option(parsing: .upToNextOption, help: "Low-dose folders.") var low: [String] = []
    @Option(help: "Simulate these dose fractions from --normal instead of --low (comma-separated, e.g. 0.25,0.1).")
    var simulateDose: String?
    @Option(help: "Photons per ray for --simulate-dose (default: calibrated from each series' noise).") var i0: Double?
    @Option(help: "Total steps.") var steps: Int?
    @Option(help: "Seed (weights, patches, split).") var seed: UInt64 = 1
    @Option(help: "Network width (96 in the paper).") var width = 96
    @Option(help: "Patch side (55 in the paper).") var patch = 55
    @Option(help: "Patches per step.") var batch = 16
    @Option(help: "Learning rate.") var lr: Float = 1e-4
    @Option(help: "Decay the learning rate exponentially to this value over --decay-steps.") var lrFinal: Float?
    @Option(help: "Steps of the exponential decay.") var decaySteps = 100_000
    @Option(help: "Loss: mse, l1, ssim (0.84 × (1 − SSIM) + 0.16 × L1) or psnr-ssim (−PSNR + 50 × (1 − SSIM) of the batch); SSIM and PSNR on the evaluation's 400 HU range.") var loss = "mse"
    @Flag(help: "Strided patches (a half-overlapping grid) instead of random ones.") var strided = false
    @Flag(help: "No flips or rotations.") var noAugment = false
    @Flag(help: "No ReLU on the network's output.") var noFinalRelu = false
    @Option(help: "Share of series held out for validation.") var validationFraction = 0.2
    @Option(help: "Slices restored at each validation (taken in turn from each kernel).") var validationSlices = 4
    @Option(parsing: .upToNextOption, help: "Validate on these low-dose folders instead of holding series out (e.g. fresh noise of the training series).")
    var validationLow: [String] = []
    @Option(parsing: .upToNextOption, help: "Normal-dose partners of --validation-low (default: --normal).")
    var validationNormal: [String] = []
    @Option(help: "Validate every N steps.") var validationEvery = 100
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 50
    @Option(help: "Start from these weights (fine-tune a model on your site's data).") var initWeights: String?
    @Flag(help: "Start from the identity (last layer zeroed) instead of a random residual.") var identityStart = false
    @Option(help: "Shape of the learning-rate decay: exponential (default) or cosine.") var decayShape: String?
    @Option(help: "Weight each pair's loss by (20 HU / its noise)^P, so quiet images count more (e.g. 1).") var noiseWeight: Float?
    @Option(help: "Kernel augmentation A (0–0.25): filter each patch pair, low and normal alike, by [a, 1−2a, a] with a in [−A/2, A] (blur or sharpen), e.g. 0.2.") var kernelAugment: Float?
    @Option(help: "Weight W (0–1] of the pixels whose normal-dose value lies outside the soft-tissue window −160…240 HU (the evaluation's) in the loss's pixel-wise part (MSE, L1), e.g. 0.2: soft tissue counts more, lung, air and bone still count (default 1: all pixels alike).") var outsideWeight: Float?
    @Option(help: "W of --loss psnr-ssim: −PSNR + W × (1 − SSIM) (default 50: 0.01 of SSIM is worth 0.5 dB).") var ssimWeight: Double?
    @Flag(help: "Give the network a second input channel with each slice's noise level, measured blind (FFDNet-style; weights from --init-weights without it start with zero weights on it, the same network).") var noiseChannel = false
    @Option(help: ArgumentHelp(PairingMode.help)) var pairBy: PairingMode = .auto
    @Option(help: "Threads for the network (default: all cores; under mpirun, the cores divided among the node's ranks).") var threads: Int?
    @Option(help: ArgumentHelp(ConvolutionAlgorithm.help + " A resumed run keeps the path it was started with."))
    var conv: ConvolutionAlgorithm = .auto

    func validate() throws {
        if resume == nil {
            guard output != nil else { throw ValidationError("give -o RUN for a new run, or --resume RUN") }
            guard !normal.isEmpty else { throw ValidationError("--normal is required") }
            guard Loss(rawValue: loss) != nil else { throw ValidationError("unknown loss '\(loss)' (mse, l1, ssim, psnr-ssim)") }
        }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
    }

    func run() throws {
        DICOMFile.tuneAllocator()
        if let threads { Parallelism.request(workers: threads) }
        // Under mpirun: one rank of a data-parallel job (docs/training.md); rank 0 alone talks.
        let ranks: Ranks?
        do { ranks = try Ranks.fromEnvironment() } catch {
            printError("ldct train: \(error)")
            throw ExitCodes.nothingFound
        }
        let root = ranks?.isRoot ?? true
        func say(_ message: String) { if root { printError(message) } }
        let trainer: Trainer
        do {
            if let ranks { say("ldct train: \(ranks.size) MPI rank(s), \(Parallelism.workers) thread(s) each") }
            if let resume {
                trainer = try Trainer.resume(resume, steps: steps)
                say("ldct train: resuming \(resume) at step \(trainer.currentStep) of \(trainer.config.steps)")
                if let written = trainer.checkpointRanks, written != (ranks?.size ?? 1) {
                    say("ldct train: note: the checkpoint was written by \(written) rank(s), this run has \(ranks?.size ?? 1): "
                        + "it continues correctly, but not bit-identically to a run that kept \(written)")
                }
            } else {
                var config = TrainingConfig(normal: normal)
                config.low = low
                config.simulateDoses = (simulateDose ?? "").split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                config.simulateI0 = i0
                config.steps = steps ?? 1000
                config.seed = seed
                config.width = width
                config.patch = patch
                config.batch = batch
                config.learningRate = lr
                config.learningRateFinal = lrFinal
                config.decaySteps = decaySteps
                config.loss = Loss(rawValue: loss) ?? .mse
                config.strided = strided
                config.augment = !noAugment
                config.finalReLU = !noFinalRelu
                config.validationFraction = validationFraction
                config.validationEvery = validationEvery
                config.validationSlices = validationSlices
                config.checkpointEvery = checkpointEvery
                config.initialWeights = initWeights
                config.identityStart = identityStart ? true : nil
                config.decayShape = decayShape
                config.noiseWeightPower = noiseWeight
                config.kernelAugment = kernelAugment
                config.outsideWeight = outsideWeight
                config.ssimWeight = ssimWeight
                config.noiseChannel = noiseChannel ? true : nil
                config.pairBy = pairBy == .auto ? nil : pairBy
                config.simulation = config.simulateDoses.isEmpty ? nil : "realistic"
                config.conv = conv
                config.validationLow = validationLow.isEmpty ? nil : validationLow
                config.validationNormal = validationNormal.isEmpty ? nil : validationNormal
                trainer = try Trainer(config: config, run: output ?? "run")
                say("ldct train: seed \(seed), width \(width), patch \(patch), batch \(batch), lr \(lr) → \(output ?? "run")")
            }
            trainer.ranks = ranks
            try trainer.prepare { say("ldct train: \($0)") }
            let progress = ProgressLine()
            try trainer.train { p in
                guard root else { return }
                let eta = Double(p.steps - p.step) / max(p.stepsPerSecond, 1e-9)
                progress.update(done: p.step, total: p.steps, elapsed: 0,
                                label: String(format: "step %d/%d loss %.3g, %.2f steps/s, ETA %.0f s", p.step, p.steps, p.loss, p.stepsPerSecond, eta),
                                unit: "steps")
                if let v = p.validation { say("\n  step \(p.step): \(v)") }
            }
            progress.finish()
            say("ldct train: done, \(trainer.config.steps) steps; weights in \(trainer.run)/model.safetensors")
            ranks?.finish()
        } catch {
            printError("ldct train: \(ranks.map { "rank \($0.rank): " } ?? "")\(error)")
            // The other ranks would wait for this one forever.
            ranks?.abort(2)
            throw ExitCodes.nothingFound
        }
    }
}
