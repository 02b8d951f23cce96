import ConvNet
import DICOMIO
import Denoising
import Foundation
import ImageQuality
import LowDoseSimulation
import StudySimulation

/// Everything that defines a training run. Stored as RUN/config.json; its hash (all but `steps`)
/// is checked on resume.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var normal: [String]
    public var low: [String] = []
    /// Dose fractions to simulate from the normal-dose slices when no low-dose folders are given.
    public var simulateDoses: [Double] = []
    /// Photons per ray for simulation (scaled per slice by the tube current where it varies); nil:
    /// calibrated from the images' own noise (per slice, or per series for runs before 2026-12-02).
    public var simulateI0: Double?
    public var steps: Int = 1000
    public var seed: UInt64 = 1
    public var width: Int = 96
    public var patch: Int = 55
    public var batch: Int = 16
    public var learningRate: Float = 1e-4
    /// Exponential decay to `learningRateFinal` over `decaySteps` (then constant); nil: constant.
    public var learningRateFinal: Float?
    public var decaySteps: Int = 100_000
    public var loss: Loss = .mse
    public var strided = false
    public var augment = true
    public var finalReLU = true
    public var validationFraction = 0.2
    public var validationEvery = 100
    public var validationSlices = 4
    public var checkpointEvery = 50
    public var columnMiB = 64
    /// Start from these weights (fine-tuning) instead of a fresh initialisation.
    public var initialWeights: String?
    /// Zero the last layer (tconv5) of a fresh network so it starts as the identity (output =
    /// input through the global shortcut): every step then starts from "leave the image alone"
    /// instead of from a random residual, which matters when the budget is a few thousand steps.
    public var identityStart: Bool?
    /// Shape of the decay to `learningRateFinal`: "exponential" (default, the paper's) or "cosine".
    public var decayShape: String?
    /// Weight each patch's loss by (20 HU / σ)^p, σ being its pair's noise (RMS of low − normal in
    /// the body), p this power (nil: no weighting). Plain MSE is dominated by the noisiest pairs,
    /// so a network trained on a spread of noise levels learns one average strength and
    /// over-smooths quiet images; the mean PSNR over slices weights each slice by 1/MSE instead
    /// (p = 2 if the restored error scaled like the input noise; it scales more slowly).
    public var noiseWeightPower: Float?
    /// Kernel augmentation (nil or 0: off): each patch pair is filtered, low and normal alike, by
    /// the separable 3-tap kernel [a, 1 − 2a, a] with a drawn uniformly from [−A/2, A], A this value
    /// (≤ 0.25): a > 0 blurs (the response at Nyquist is 1 − 4a), a < 0 sharpens. The same linear
    /// filter on both keeps the pair a pair (its noise filtered with its anatomy, as a different
    /// reconstruction kernel would), so the network meets edge sharpness and noise texture beyond
    /// the few kernels of its training series — the held-out scanner's edges were what a network
    /// fine-tuned on four kernels altered (docs/default-model-training.md, attempt 13).
    public var kernelAugment: Float?
    /// Weight of the pixels whose normal-dose value lies outside `lossWindow` in the pixel-wise part
    /// of the loss (MSE, L1; nil or 1: every pixel alike). The evaluation — PSNR and SSIM clipped to
    /// the soft-tissue window, as radiologists read the abdomen — does not see errors in lung, air
    /// and bone, yet about half of a chest patch's squared noise is there; below 1 the loss spends
    /// more of itself on soft tissue while still holding the rest (> 0).
    public var outsideWeight: Float?
    /// W of `--loss psnr-ssim` (−PSNR + W · (1 − SSIM)); nil: `Losses.defaultSSIMWeight` (50).
    public var ssimWeight: Double?
    /// A second input channel with each slice's blind noise level (`NoiseLevel`; nil: the paper's one
    /// channel). Weights without it (`--init-weights`) start with zero weights on it: the same network.
    public var noiseChannel: Bool?
    /// How low-dose slices find their normal-dose partners (nil: auto).
    public var pairBy: PairingMode?
    /// How --simulate-dose partners are made: "realistic" = `NoisePlan` (per-slice exposure,
    /// texture fitted to each series' own noise; `ldct train` sets it for new runs); nil = one
    /// photon count per series calibrated on its middle slice, Ram-Lak texture (runs made before
    /// 2026-12-02, so that they resume with the same pairs).
    public var simulation: String?
    /// Convolution path of the run (`--conv`); nil: im2col (runs made before the Winograd path, so
    /// that they resume bit-identically). A run keeps its path when resumed.
    public var conv: ConvolutionAlgorithm?
    /// Validate on these low-dose folders (paired with `validationNormal`, else with `normal`)
    /// instead of holding series out of training: e.g. fresh noise realisations of the training
    /// series, when every series is needed for training. nil: hold out whole series.
    public var validationLow: [String]?
    public var validationNormal: [String]?

    /// The window of `outsideWeight` (HU): the evaluation's soft-tissue window (docs/quality.md).
    public static let lossWindow: ClosedRange<Float> = -160...240

    /// Reference noise for `noiseWeightPower`: a pair with this σ (HU) gets weight 1.
    public static let noiseWeightReference: Float = 20
    /// Weights are kept within [1/limit, limit] (σ from 4 to 100 HU at the reference of 20).
    public static let noiseWeightLimit: Float = 25

    public init(normal: [String]) { self.normal = normal }

    public var schedule: LearningRateSchedule {
        guard let final = learningRateFinal else { return .constant(learningRate) }
        if decayShape == "cosine" { return .cosine(initial: learningRate, final: final, steps: decaySteps) }
        return .exponential(initial: learningRate, final: final, steps: decaySteps)
    }

    /// Hash of everything but `steps` (extending a run is allowed, changing it is not).
    public var hash: String {
        var copy = self
        copy.steps = 0
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(copy)) ?? Data()
        return String(UIDFactory.fnv1a64(String(decoding: data, as: UTF8.self)), radix: 16)
    }

    public func validate() throws {
        func bad(_ r: String) -> TrainingError { .invalidConfiguration(reason: r) }
        guard !normal.isEmpty else { throw bad("no normal-dose input (--normal)") }
        guard low.isEmpty != simulateDoses.isEmpty else { throw bad("give low-dose folders (--low) or --simulate-dose, not both or neither") }
        guard simulateDoses.allSatisfy({ $0 > 0 && $0 < 1 }) else { throw bad("simulated doses must be in (0, 1)") }
        guard steps >= 1, batch >= 1, width >= 1 else { throw bad("steps, batch and width must be positive") }
        guard patch >= 21 else { throw bad("patches must be at least 21×21 (RED-CNN's minimum input)") }
        guard learningRate > 0 else { throw bad("learning rate must be positive") }
        if let shape = decayShape, !["exponential", "cosine"].contains(shape) {
            throw bad("decay shape must be exponential or cosine, not \(shape)")
        }
        guard !(identityStart == true && initialWeights != nil) else { throw bad("--identity-start and --init-weights exclude each other") }
        if let p = noiseWeightPower { guard p > 0 && p <= 4 else { throw bad("noise weight power must be in (0, 4]") } }
        if let o = outsideWeight { guard o > 0 && o <= 1 else { throw bad("outside-window weight must be in (0, 1], not \(o)") } }
        if let w = ssimWeight {
            guard w.isFinite && w >= 0 && w <= 1000 else { throw bad("SSIM weight must be in [0, 1000], not \(w)") }
            guard loss == .psnrSSIM else { throw bad("an SSIM weight needs --loss psnr-ssim") }
        }
        if let a = kernelAugment { guard a >= 0 && a <= 0.25 else { throw bad("kernel augmentation must be in [0, 0.25], not \(a)") } }
        if noiseChannel == true, let a = kernelAugment, a > 0 {
            throw bad("--kernel-augment and --noise-channel exclude each other: the filter changes a patch's noise after its slice's noise level was measured")
        }
        if let s = simulation, s != "realistic" { throw bad("simulation must be \"realistic\" or absent, not \(s)") }
        if validationNormal != nil && validationLow == nil { throw bad("--validation-normal needs --validation-low") }
        if let v = validationLow, v.isEmpty { throw bad("--validation-low names no folder") }
        guard validationFraction >= 0 && validationFraction < 1 else { throw bad("validation fraction must be in [0, 1)") }
        guard validationSlices >= 1 else { throw bad("validation slices must be at least 1") }
    }
}

public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidConfiguration(reason: String)
    case noPairs(reason: String)
    case resume(run: String, reason: String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let r): return "invalid training configuration: \(r)"
        case .noPairs(let r): return "no training pairs: \(r)"
        case .resume(let run, let r): return "cannot resume \(run): \(r)"
        }
    }
}

/// A low/normal pair in memory, normalised for the network.
struct PairImage {
    var low: [Float]
    var normal: [Float]
    var rows: Int
    var columns: Int
    var series: String
    var lowHU: [Float]
    var normalHU: [Float]
    /// RMS of low − normal (HU) over the body (normal-dose pixels above −500 HU).
    var noiseSigma: Float
    /// The noise-level channel's value (`NoiseLevel`, measured blind on the low-dose slice; 0 for
    /// a model without the channel).
    var noiseLevel: Float = 0
    /// Reconstruction kernel of the normal-dose series ("unknown" when the header has none):
    /// validation reports quality per kernel.
    var kernel: String = "unknown"
}

/// One validation pass: all slices together and per reconstruction kernel. PSNR/SSIM against
/// normal dose (LDCT convention); HU bias = mean(image − normal) over uniform soft-tissue squares
/// found on the normal-dose slice, so a run that drifts in CT numbers shows it at once.
public struct ValidationResult: Sendable {
    public struct Scores: Sendable {
        public var group: String
        public var slices: Int
        public var psnrLow, psnr, ssimLow, ssim: Double
        /// nil when no uniform square was found on any slice of the group.
        public var huBiasLow, huBias: Double?
    }
    public var all: Scores
    public var perKernel: [Scores]

    public var summary: String {
        func bias(_ v: Double?) -> String { v.map { String(format: "%+.2f", $0) } ?? "n/a" }
        var text = String(format: "validation PSNR %.2f → %.2f dB, SSIM %.4f → %.4f, HU bias %@ → %@",
                          all.psnrLow, all.psnr, all.ssimLow, all.ssim, bias(all.huBiasLow), bias(all.huBias))
        if perKernel.count > 1 {
            text += "; " + perKernel.map {
                String(format: "%@ (%d): %.2f → %.2f dB, %.4f → %.4f, bias %@", $0.group, $0.slices, $0.psnrLow, $0.psnr, $0.ssimLow, $0.ssim, bias($0.huBias))
            }.joined(separator: "; ")
        }
        return text
    }
}

public struct TrainingProgress: Sendable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var stepsPerSecond: Double
    public var validation: String?
}

/// `ldct train`: patches from paired slices, Adam, checkpoints, validation, resume.
public final class Trainer {
    public let config: TrainingConfig
    public let run: String
    let model: REDCNN
    var optimizer: Adam
    var rng: SeededGenerator
    var step = 0
    var train: [PairImage] = []
    var validation: [PairImage] = []
    public private(set) var notes: [String] = []
    /// How the low-dose slices were paired (nil when pairs were simulated).
    public private(set) var pairingSummary: String?
    /// The MPI job when training data-parallel (`mpirun -n R ldct train`); nil: one process.
    public var ranks: Ranks?

    public init(config: TrainingConfig, run: String) throws {
        try config.validate()
        self.config = config
        self.run = run
        model = REDCNN(config: REDCNNConfig(width: config.width, finalReLU: config.finalReLU, noiseLevelChannel: config.noiseChannel == true),
                       initialization: .pytorchDefault,
                       seed: config.seed, workspace: Workspace(maxColumnFloats: config.columnMiB << 18, algorithm: config.conv ?? .im2col))
        optimizer = Adam(parameterCount: model.parameterCount)
        rng = SeededGenerator(seed: config.seed ^ 0x7A11)
        if let path = config.initialWeights {
            var (start, _) = try ModelFile.load(path)
            guard start.config.width == config.width else {
                throw TrainingError.invalidConfiguration(reason: "\(path) has width \(start.config.width), the run asks for \(config.width)")
            }
            if start.config.noiseLevelChannel != model.config.noiseLevelChannel {
                guard model.config.noiseLevelChannel else {
                    throw TrainingError.invalidConfiguration(reason: "\(path) has a noise-level channel: train it with --noise-channel")
                }
                start = start.addingNoiseLevelChannel()
            }
            model.parameters = start.parameters
        } else if config.identityStart == true {
            model.zeroLastLayer()
        }
    }

    /// Re-opens a run: its config.json, its last checkpoint, and (optionally) a new total of steps.
    public static func resume(_ run: String, steps: Int?) throws -> Trainer {
        let configPath = run + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath),
              var config = try? JSONDecoder().decode(TrainingConfig.self, from: data)
        else { throw TrainingError.resume(run: run, reason: "no readable config.json") }
        let checkpoint: SafeTensors
        do { checkpoint = try SafeTensors.read(run + "/checkpoint.safetensors") } catch {
            throw TrainingError.resume(run: run, reason: "no readable checkpoint.safetensors (\(error))")
        }
        guard checkpoint.metadata["config_hash"] == config.hash else {
            throw TrainingError.resume(run: run, reason: "checkpoint was made with another configuration")
        }
        if let steps { config.steps = steps }
        let trainer = try Trainer(config: config, run: run)
        try trainer.restore(checkpoint)
        return trainer
    }

    // MARK: data

    /// Reads, pairs (or simulates) and normalises every slice; splits validation by series.
    public func prepare(log: (String) -> Void = { _ in }) throws {
        let normalScan = StudyScanner.scan(config.normal)
        guard !normalScan.series.isEmpty else { throw TrainingError.noPairs(reason: "no CT series under \(config.normal)") }
        var images: [PairImage] = []
        var kernels: [String: String] = [:]
        for series in normalScan.series { kernels[series.seriesInstanceUID] = series.convolutionKernel }
        if !config.low.isEmpty {
            let lowScan = StudyScanner.scan(config.low)
            let result = Pairing.pair(low: lowScan.series, normal: normalScan.series, mode: config.pairBy ?? .auto)
            for u in result.unpaired { notes.append("unpaired: \(u.file): \(u.reason)"); log("unpaired low-dose slice \(u.file): \(u.reason)") }
            var swap = SwapCheck()
            for p in result.pairs {
                let l = try PixelDecoder.decode(p.low), n = try PixelDecoder.decode(p.normal)
                images.append(makePair(low: l.hu, normal: n.hu, rows: l.rows, columns: l.columns, series: p.seriesUID, paddingMask: l.paddingMask))
                if l.hu.count == n.hu.count { swap.add(low: l.hu, normal: n.hu, rows: l.rows, columns: l.columns, paddingMask: l.paddingMask) }
            }
            pairingSummary = result.summary
            log(result.summary)
            if let warning = swap.warning {
                notes.append("warning: \(warning)")
                log("warning: \(warning)")
            }
        } else {
            for series in normalScan.series {
                let spacing = series.pixelSpacing ?? [1, 1]
                let grid = Grid(rows: series.rows, columns: series.columns, dx: spacing[1], dy: spacing[0])
                for dose in config.simulateDoses where config.simulation == "realistic" {
                    let sliceSeed = { (i: Int) -> UInt64 in self.config.seed ^ UIDFactory.fnv1a64("\(series.slices[i].referenceKey)|\(dose)") }
                    let plan = try NoisePlan.make(series: series, grid: grid, doseFraction: dose,
                                                  photons: config.simulateI0.map { .fixed($0) } ?? .calibrate,
                                                  texture: config.simulateI0 == nil ? .auto : .fixed(.filter(.ramLak)), seed: config.seed,
                                                  sliceSeed: sliceSeed) { i in
                        try PixelDecoder.decode(series.slices[i]).hu
                    }
                    for (i, slice) in series.slices.enumerated() {
                        let n = try PixelDecoder.decode(slice)
                        let noise = try plan.noise(index: i, hu: n.hu, grid: grid, seed: sliceSeed(i)).noise
                        images.append(makePair(low: zip(n.hu, noise).map { $0 + $1 }, normal: n.hu, rows: n.rows, columns: n.columns,
                                               series: series.seriesInstanceUID, paddingMask: n.paddingMask))
                    }
                    log("simulated \(Int(dose * 100))% dose for \(series.slices.count) slice(s) of series \(series.seriesNumber ?? 0): \(plan.summary)")
                }
                for dose in config.simulateDoses where config.simulation != "realistic" {
                    let inserter: NoiseInserter
                    if let i0 = config.simulateI0 {
                        inserter = NoiseInserter(photonsPerRay: i0)
                    } else {
                        let middle = try PixelDecoder.decode(series.slices[series.slices.count / 2])
                        inserter = try NoiseInserter.calibrated(for: middle.hu, grid: grid, doseFraction: dose, seed: config.seed).inserter
                    }
                    for slice in series.slices {
                        let n = try PixelDecoder.decode(slice)
                        let seed = config.seed ^ UIDFactory.fnv1a64("\(slice.referenceKey)|\(dose)")
                        let low = try inserter.simulate(n.hu, grid: grid, doseFraction: dose, seed: seed)
                        images.append(makePair(low: low, normal: n.hu, rows: n.rows, columns: n.columns, series: series.seriesInstanceUID, paddingMask: n.paddingMask))
                    }
                    log("simulated \(Int(dose * 100))% dose for \(series.slices.count) slice(s) of series \(series.seriesNumber ?? 0)")
                }
            }
        }
        guard !images.isEmpty else { throw TrainingError.noPairs(reason: "nothing paired") }
        for i in images.indices {
            let k = kernels[images[i].series]?.trimmingCharacters(in: .whitespaces) ?? ""
            images[i].kernel = k.isEmpty ? "unknown" : k
        }
        images = images.filter { $0.rows >= config.patch && $0.columns >= config.patch }
        guard !images.isEmpty else { throw TrainingError.noPairs(reason: "every slice is smaller than the \(config.patch)-pixel patch") }
        // Validation: whole series, chosen by a seeded shuffle of the series UIDs — or, with
        // --validation-low, the pairs of those folders and no series held out.
        let seriesUIDs = Array(Set(images.map(\.series))).sorted()
        var validationSeries = Set<String>()
        var held: [PairImage]
        if let folders = config.validationLow {
            let normals = config.validationNormal ?? config.normal
            let validationScan = normals == config.normal ? normalScan : StudyScanner.scan(normals)
            for series in validationScan.series { kernels[series.seriesInstanceUID] = series.convolutionKernel }
            let result = Pairing.pair(low: StudyScanner.scan(folders).series, normal: validationScan.series, mode: config.pairBy ?? .auto)
            for u in result.unpaired { log("validation: unpaired low-dose slice \(u.file): \(u.reason)") }
            held = []
            for p in result.pairs {
                let l = try PixelDecoder.decode(p.low), n = try PixelDecoder.decode(p.normal)
                var pair = makePair(low: l.hu, normal: n.hu, rows: l.rows, columns: l.columns, series: p.seriesUID, paddingMask: l.paddingMask)
                let k = kernels[p.seriesUID]?.trimmingCharacters(in: .whitespaces) ?? ""
                pair.kernel = k.isEmpty ? "unknown" : k
                held.append(pair)
            }
            guard !held.isEmpty else { throw TrainingError.noPairs(reason: "no validation pairs in \(folders)") }
            log("validation pairs from \(folders.count) folder(s): \(result.summary)")
        } else {
            var split = SeededGenerator(seed: config.seed ^ 0x5A11)
            let shuffled = seriesUIDs.shuffled(using: &split)
            let heldCount = seriesUIDs.count >= 2 ? max(1, Int((Double(seriesUIDs.count) * config.validationFraction).rounded())) : 0
            validationSeries = Set(shuffled.prefix(config.validationFraction > 0 ? min(heldCount, seriesUIDs.count - 1) : 0))
            held = images.filter { validationSeries.contains($0.series) }
        }
        train = images.filter { !validationSeries.contains($0.series) }
        // Validation slices spread evenly over the held-out pairs (every series and dose level),
        // not the first few (which would all come from one low-dose folder), taken in turn from
        // each kernel so that every kernel held out is scored. (Validation never touches the RNG
        // or the training set: the choice does not change the training itself.)
        let count = min(config.validationSlices, held.count)
        let byKernel = Dictionary(grouping: held, by: \.kernel).sorted { $0.key < $1.key }.map(\.value)
        var quota = [Int](repeating: 0, count: byKernel.count)
        for k in 0..<count where !byKernel.isEmpty {
            var g = k % byKernel.count
            while quota[g] >= byKernel[g].count { g = (g + 1) % byKernel.count }
            quota[g] += 1
        }
        validation = []
        for (g, group) in byKernel.enumerated() {
            for j in 0..<quota[g] { validation.append(group[j * group.count / max(quota[g], 1)]) }
        }
        let sigmas = train.map(\.noiseSigma).sorted()
        if let lo = sigmas.first, let hi = sigmas.last {
            log(String(format: "noise of the training pairs (RMS of low − normal in the body): %.1f … %.1f HU, median %.1f", lo, hi, sigmas[sigmas.count / 2])
                + (config.noiseWeightPower.map { String(format: "; loss weighted by (%g HU / σ)^%g", Double(TrainingConfig.noiseWeightReference), Double($0)) } ?? "")
                + (config.outsideWeight.map { String(format: "; pixels outside %g…%g HU weighted %g", Double(TrainingConfig.lossWindow.lowerBound), Double(TrainingConfig.lossWindow.upperBound), Double($0)) } ?? ""))
        }
        if model.config.noiseLevelChannel {
            for (name, part) in [("training", train), ("validation", validation)] {
                let levels = part.map { $0.noiseLevel * NoiseLevel.scaleHU }.sorted()
                guard let lo = levels.first, let hi = levels.last else { continue }
                log(String(format: "noise-level channel (blind σ) of the %@ slices: %.1f … %.1f HU, median %.1f", name, lo, hi, levels[levels.count / 2]))
            }
        }
        log("\(train.count) training slice pair(s) from \(seriesUIDs.count - validationSeries.count) series; \(validation.count) validation slice(s) from \(Set(validation.map(\.series)).count) series")
    }

    /// A pair; `paddingMask` (the low-dose slice's) keeps padding out of the noise-level estimate,
    /// exactly as `SliceRestorer` does at restore.
    func makePair(low: [Float], normal: [Float], rows: Int, columns: Int, series: String, paddingMask: [UInt8] = []) -> PairImage {
        var sum = 0.0, count = 0
        for i in 0..<min(low.count, normal.count) where normal[i] > -500 {
            let d = Double(low[i] - normal[i])
            sum += d * d
            count += 1
        }
        let level = model.config.noiseLevelChannel ? NoiseLevel.channelValue(sigma: NoiseLevel.estimate(hu: low, rows: rows, columns: columns, paddingMask: paddingMask)) : 0
        return PairImage(low: low.map(model.normalize), normal: normal.map(model.normalize), rows: rows, columns: columns,
                         series: series, lowHU: low, normalHU: normal, noiseSigma: Float((sum / Double(max(count, 1))).squareRoot()),
                         noiseLevel: level)
    }

    // MARK: batches

    /// The batch for the current RNG state (random) or step (strided), with flips/rotations.
    func nextBatch() -> (Tensor, Tensor, [Float]) {
        let p = config.patch, b = config.batch, channels = model.config.inputChannels
        var input = Tensor(zeros: [b, channels, p, p]), target = Tensor(zeros: [b, 1, p, p])
        var weights = [Float](repeating: 1, count: b)
        let airLimit = model.normalize(-900)
        for k in 0..<b {
            var pair = 0, r0 = 0, c0 = 0
            if config.strided {
                // Every position of a half-overlapping grid over every training slice, in order.
                let grid = train.map { (($0.rows - p) / (p / 2) + 1) * (($0.columns - p) / (p / 2) + 1) }
                var index = (step * b + k) % grid.reduce(0, +)
                while index >= grid[pair] { index -= grid[pair]; pair += 1 }
                let perRow = (train[pair].columns - p) / (p / 2) + 1
                r0 = (index / perRow) * (p / 2); c0 = (index % perRow) * (p / 2)
            } else {
                for _ in 0..<20 {  // skip patches of air only
                    pair = Int(rng.next() % UInt64(train.count))
                    r0 = Int(rng.next() % UInt64(train[pair].rows - p + 1))
                    c0 = Int(rng.next() % UInt64(train[pair].columns - p + 1))
                    var maxValue = -Float.infinity
                    for r in r0..<r0 + p { for c in c0..<c0 + p { maxValue = max(maxValue, train[pair].normal[r * train[pair].columns + c]) } }
                    if maxValue > airLimit { break }
                }
            }
            let transform = config.augment ? Int(rng.next() % 8) : 0
            // Drawn only when on, so that runs without it keep their random sequence.
            var kernelA: Float?
            if let limit = config.kernelAugment, limit > 0 { kernelA = limit * (1.5 * rng.uniform() - 0.5) }
            let img = train[pair]
            weights[k] = Self.noiseWeight(sigma: img.noiseSigma, power: config.noiseWeightPower ?? 0)
            for r in 0..<p {
                for c in 0..<p {
                    // Eight symmetries of the square: transpose (bit 2), then flips (bits 0, 1).
                    var (rr, cc) = transform & 4 != 0 ? (c, r) : (r, c)
                    if transform & 1 != 0 { cc = p - 1 - cc }
                    if transform & 2 != 0 { rr = p - 1 - rr }
                    let src = (r0 + rr) * img.columns + c0 + cc
                    input.data[(k * channels * p + r) * p + c] = img.low[src]
                    target.data[(k * p + r) * p + c] = img.normal[src]
                }
            }
            // The noise-level channel: the slice's value everywhere (flips leave a constant alone).
            for i in 0..<(channels - 1) * p * p { input.data[(k * channels + 1) * p * p + i] = img.noiseLevel }
            if let a = kernelA {
                input.data.withUnsafeMutableBufferPointer { Self.kernelFilter($0.baseAddress! + k * channels * p * p, side: p, a: a) }
                target.data.withUnsafeMutableBufferPointer { Self.kernelFilter($0.baseAddress! + k * p * p, side: p, a: a) }
            }
        }
        return (input, target, weights)
    }

    /// Filters a side × side patch in place by [a, 1 − 2a, a] along rows and columns
    /// (`Metrics.separable`; its half-sample reflection repeats the edge pixel for 3 taps, so a flat
    /// patch stays flat: the taps sum to 1).
    static func kernelFilter(_ x: UnsafeMutablePointer<Float>, side n: Int, a: Float) {
        let taps = [Double(a), Double(1 - 2 * a), Double(a)]
        let y = Metrics.separable((0..<n * n).map { Double(x[$0]) }, rows: n, columns: n, kernel: taps)
        for i in 0..<n * n { x[i] = Float(y[i]) }
    }

    /// The loss weight of a pair with noise `sigma` (HU): (20 HU / σ)^power within [1/25, 25].
    static func noiseWeight(sigma: Float, power: Float) -> Float {
        let r = TrainingConfig.noiseWeightReference, limit = TrainingConfig.noiseWeightLimit
        let w = Float(Foundation.pow(Double(r / max(sigma, 1e-6)), Double(power)))
        return min(max(w, 1 / limit), limit)
    }

    // MARK: loop

    /// Trains up to `config.steps`, writing log.csv, checkpoints, model.safetensors and loss.svg.
    /// Data-parallel (`ranks`): every rank runs this with the same configuration; rank 0 alone
    /// writes and validates.
    public func train(progress: (TrainingProgress) -> Void = { _ in }) throws {
        let root = ranks?.isRoot ?? true
        if let ranks, config.batch % ranks.size != 0 { throw DataParallelError.batchNotDivisible(batch: config.batch, ranks: ranks.size) }
        if root {
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try encoder.encode(config), to: run + "/config.json")
        }
        // Both logs keep only rows up to the checkpoint's step (a killed run may have logged further).
        func reopen(_ path: String, header: String) -> String {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            guard !text.isEmpty else { return header + "\n" }
            return text.split(separator: "\n", omittingEmptySubsequences: true).enumerated().filter { i, line in
                i == 0 || (Int(line.split(separator: ",").first ?? "") ?? Int.max) <= step
            }.map { String($0.element) }.joined(separator: "\n") + "\n"
        }
        let logPath = run + "/log.csv", validationPath = run + "/validation.csv"
        var log = reopen(logPath, header: "step,loss,lr,elapsed_s,val_psnr_low,val_psnr,val_ssim_low,val_ssim")
        var validationLog = reopen(validationPath, header: "step,group,slices,psnr_low,psnr,ssim_low,ssim,hu_bias_low,hu_bias")
        let start = Date()
        let firstStep = step
        while step < config.steps {
            var (x, t, w) = nextBatch()
            var combine: ((inout [Float], inout Double) -> Void)?
            if let ranks {
                // This rank's share of the global batch; the ranks' mean gradients averaged.
                let rows = ranks.share(of: config.batch)
                (x, t, w) = (x.items(rows), t.items(rows), Array(w[rows]))
                combine = { gradients, loss in
                    ranks.average(&gradients)
                    loss = ranks.average(loss)
                }
            }
            let lr = config.schedule.rate(at: step)
            let window = model.normalize(TrainingConfig.lossWindow.lowerBound)...model.normalize(TrainingConfig.lossWindow.upperBound)
            let pixelWeights = config.outsideWeight.flatMap { $0 < 1 ? Losses.windowWeights(target: t, window: window, outside: $0) : nil }
            let loss = TrainingStep.run(model: model, optimizer: &optimizer, input: x, target: t, loss: config.loss,
                                        sampleWeights: config.noiseWeightPower != nil ? w : nil, pixelWeights: pixelWeights,
                                        ssimWeight: config.ssimWeight, learningRate: lr, combine: combine)
            step += 1
            var validationText: String?
            var row = "\(step),\(loss),\(lr),\(String(format: "%.2f", Date().timeIntervalSince(start)))"
            if root && !validation.isEmpty && (step % config.validationEvery == 0 || step == config.steps) {
                let result = validate()
                let v = result.all
                row += String(format: ",%.4f,%.4f,%.5f,%.5f", v.psnrLow, v.psnr, v.ssimLow, v.ssim)
                validationText = result.summary
                for g in [v] + result.perKernel {
                    func f(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "" }
                    let name = g.group.replacingOccurrences(of: ",", with: " ")
                    validationLog += "\(step),\(name),\(g.slices)," + String(format: "%.4f,%.4f,%.5f,%.5f,", g.psnrLow, g.psnr, g.ssimLow, g.ssim)
                        + f(g.huBiasLow) + "," + f(g.huBias) + "\n"
                }
            } else {
                row += ",,,,"
            }
            log += row + "\n"
            if root && (step % config.checkpointEvery == 0 || step == config.steps) {
                try AtomicFile.write(Data(log.utf8), to: logPath)
                if !validation.isEmpty { try AtomicFile.write(Data(validationLog.utf8), to: validationPath) }
                try saveCheckpoint()
                try LossCurve.write(log: log, to: run + "/loss.svg")
            }
            let elapsed = Date().timeIntervalSince(start)
            progress(TrainingProgress(step: step, steps: config.steps, loss: loss, stepsPerSecond: Double(step - firstStep) / max(elapsed, 1e-9),
                                      validation: validationText))
        }
    }

    /// Mean PSNR/SSIM (LDCT convention) of low-dose and restored validation slices against normal
    /// dose, and the HU bias in uniform soft tissue; for all slices and per kernel.
    public func validate() -> ValidationResult {
        struct Row { var kernel: String; var psnrLow, psnr, ssimLow, ssim: Double; var biasLow, bias: Double?; var weight: Int }
        var rows: [Row] = []
        for v in validation {
            let y = model.infer(model.input(normalized: v.low, rows: v.rows, columns: v.columns, noiseLevel: v.noiseLevel)).data.map(model.denormalize)
            // Uniform squares on the normal-dose slice (the cleanest guide); bias = Σ(image − normal) / pixels.
            let rois = Regions.uniformROIs(guide: v.normalHU, rows: v.rows, columns: v.columns)
            let (dLow, pixels) = Regions.difference(v.lowHU, from: v.normalHU, columns: v.columns, rois: rois)
            let dOut = Regions.difference(y, from: v.normalHU, columns: v.columns, rois: rois).sum
            rows.append(Row(kernel: v.kernel,
                            psnrLow: Metrics.psnr(reference: v.normalHU, image: v.lowHU), psnr: Metrics.psnr(reference: v.normalHU, image: y),
                            ssimLow: Metrics.ssim(reference: v.normalHU, image: v.lowHU, rows: v.rows, columns: v.columns),
                            ssim: Metrics.ssim(reference: v.normalHU, image: y, rows: v.rows, columns: v.columns),
                            biasLow: pixels > 0 ? dLow / Double(pixels) : nil, bias: pixels > 0 ? dOut / Double(pixels) : nil, weight: pixels))
        }
        func scores(_ group: String, _ part: [Row]) -> ValidationResult.Scores {
            let n = Double(max(part.count, 1))
            let biased = part.filter { $0.weight > 0 }
            let w = Double(biased.reduce(0) { $0 + $1.weight })
            return ValidationResult.Scores(
                group: group, slices: part.count,
                psnrLow: part.reduce(0) { $0 + $1.psnrLow } / n, psnr: part.reduce(0) { $0 + $1.psnr } / n,
                ssimLow: part.reduce(0) { $0 + $1.ssimLow } / n, ssim: part.reduce(0) { $0 + $1.ssim } / n,
                huBiasLow: biased.isEmpty ? nil : biased.reduce(0) { $0 + ($1.biasLow ?? 0) * Double($1.weight) } / w,
                huBias: biased.isEmpty ? nil : biased.reduce(0) { $0 + ($1.bias ?? 0) * Double($1.weight) } / w)
        }
        let groups = Dictionary(grouping: rows, by: \.kernel).sorted { $0.key < $1.key }
        return ValidationResult(all: scores("all", rows), perKernel: groups.map { scores($0.key, $0.value) })
    }

    // MARK: checkpoints

    func saveCheckpoint() throws {
        var file = SafeTensors()
        for v in model.layout.views {
            let r = v.offset..<v.offset + v.count
            file.tensors["model/" + v.name] = Tensor(shape: v.shape, data: Array(model.parameters[r]))
            file.tensors["adam_m/" + v.name] = Tensor(shape: v.shape, data: Array(optimizer.m[r]))
            file.tensors["adam_v/" + v.name] = Tensor(shape: v.shape, data: Array(optimizer.v[r]))
        }
        file.metadata = ["step": String(step), "adam_step": String(optimizer.step), "rng_state": String(rng.state),
                         "config_hash": config.hash, "format": "lowdosect-checkpoint-v1", "ranks": String(ranks?.size ?? 1)]
        try file.write(to: run + "/checkpoint.safetensors")
        try ModelFile.save(model, to: run + "/model.safetensors", metadata: [
            "training_steps": String(step), "training_seed": String(config.seed), "training_patch": String(config.patch),
            "training_batch": String(config.batch), "training_loss": config.loss.rawValue,
            "training_config_hash": config.hash, "trained_by": "ldct train (LowDoseCT)",
        ].merging(lossMetadata) { a, _ in a })
    }

    /// The loss's options, when set, for the model's metadata.
    var lossMetadata: [String: String] {
        var m: [String: String] = [:]
        if let w = config.ssimWeight { m["training_ssim_weight"] = String(w) }
        if let o = config.outsideWeight {
            m["training_outside_weight"] = "\(o) outside \(Int(TrainingConfig.lossWindow.lowerBound))…\(Int(TrainingConfig.lossWindow.upperBound)) HU"
        }
        return m
    }

    func restore(_ file: SafeTensors) throws {
        func fail(_ r: String) -> TrainingError { .resume(run: run, reason: r) }
        guard let s = file.metadata["step"].flatMap(Int.init), let a = file.metadata["adam_step"].flatMap(Int.init),
              let state = file.metadata["rng_state"].flatMap(UInt64.init)
        else { throw fail("checkpoint metadata lacks step, adam_step or rng_state") }
        var m = [Float](repeating: 0, count: model.parameterCount), v = m
        for view in model.layout.views {
            guard let p = file.tensors["model/" + view.name], let mm = file.tensors["adam_m/" + view.name],
                  let vv = file.tensors["adam_v/" + view.name], p.shape == view.shape, mm.shape == view.shape, vv.shape == view.shape
            else { throw fail("tensor \(view.name) missing or mis-shaped") }
            let r = view.offset..<view.offset + view.count
            model.parameters.replaceSubrange(r, with: p.data)
            m.replaceSubrange(r, with: mm.data)
            v.replaceSubrange(r, with: vv.data)
        }
        optimizer = Adam(step: a, m: m, v: v, beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon,
                         weightDecay: optimizer.weightDecay, decoupledWeightDecay: optimizer.decoupledWeightDecay)
        rng = SeededGenerator(seed: 0)
        rng.state = state
        step = s
        checkpointRanks = file.metadata["ranks"].flatMap(Int.init) ?? 1
    }

    /// The number of ranks that wrote the checkpoint a run resumed from (1 for single-process runs).
    public private(set) var checkpointRanks: Int?

    public var currentStep: Int { step }
    public var parameters: [Float] { model.parameters }
}

/// The loss curve as a small self-contained SVG (loss against step, with a running mean): log scale
/// when every loss is positive, linear otherwise (`--loss psnr-ssim` is −PSNR + …, below zero).
enum LossCurve {
    static func write(log: String, to path: String) throws {
        let rows = log.split(separator: "\n").dropFirst().compactMap { line -> (Double, Double)? in
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count >= 2, let s = Double(f[0]), let l = Double(f[1]), l.isFinite else { return nil }
            return (s, l)
        }
        guard rows.count >= 1 else { return }
        let (w, h, pad) = (640.0, 320.0, 40.0)
        let maxStep = rows.map(\.0).max() ?? 1
        let logScale = rows.allSatisfy { $0.1 > 0 }
        let logs = rows.map { logScale ? log10($0.1) : $0.1 }
        let (lo, hi) = (logs.min() ?? 0, max((logs.max() ?? 1), (logs.min() ?? 0) + 1e-6))
        func point(_ s: Double, _ l: Double) -> String {
            String(format: "%.1f,%.1f", pad + (w - 2 * pad) * s / max(maxStep, 1), h - pad - (h - 2 * pad) * (l - lo) / (hi - lo))
        }
        let raw = zip(rows, logs).map { point($0.0.0, $0.1) }.joined(separator: " ")
        var smooth: [String] = []
        let window = max(1, rows.count / 50)
        for i in rows.indices {
            let a = max(0, i - window), part = logs[a...i]
            smooth.append(point(rows[i].0, part.reduce(0, +) / Double(part.count)))
        }
        let svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(pad)" y="20">training loss\(logScale ? " (log scale)" : ""), \(rows.count) steps</text>
            <line x1="\(pad)" y1="\(h - pad)" x2="\(w - pad)" y2="\(h - pad)" stroke="black"/>
            <line x1="\(pad)" y1="\(pad)" x2="\(pad)" y2="\(h - pad)" stroke="black"/>
            <text x="\(pad)" y="\(h - 10)">0</text><text x="\(w - pad - 30)" y="\(h - 10)">\(Int(maxStep))</text>
            <text x="2" y="\(pad + 4)">\(String(format: "%.2g", logScale ? pow(10, hi) : hi))</text><text x="2" y="\(h - pad)">\(String(format: "%.2g", logScale ? pow(10, lo) : lo))</text>
            <polyline fill="none" stroke="#9bbcd9" stroke-width="1" points="\(raw)"/>
            <polyline fill="none" stroke="#1f5f99" stroke-width="2" points="\(smooth.joined(separator: " "))"/>
            </svg>
            """
        try AtomicFile.write(Data(svg.utf8), to: path)
    }
}
