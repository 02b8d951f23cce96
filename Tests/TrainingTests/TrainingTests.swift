import ConvNet
import DICOMIO
import Foundation
import LowDoseSimulation
@testable import Training
import StudySimulation
import Testing

/// Two small phantom series (64², 2 slices each) shared by the training tests.
func smallStudies() throws -> String {
    let dir = tempDir()
    for seed: UInt64 in [1, 2] { try PhantomStudy(seed: seed, slices: 2, size: 64).write(to: dir + "/s\(seed)") }
    return dir
}

func tinyConfig(_ normal: String, steps: Int) -> TrainingConfig {
    var c = TrainingConfig(normal: [normal])
    c.simulateDoses = [0.25]
    c.simulateI0 = 4e4
    c.steps = steps
    c.width = 4
    c.patch = 25
    c.batch = 3
    c.learningRate = 1e-3
    c.validationEvery = 3
    c.checkpointEvery = 3
    c.columnMiB = 1
    return c
}

/// Where two parameter vectors first differ (nil when bit-identical): a short failure message
/// instead of two arrays of hundreds of thousands of floats.
func firstDifference(_ a: [Float], _ b: [Float]) -> String? {
    guard a.count == b.count else { return "\(a.count) vs \(b.count) parameters" }
    guard let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) else { return nil }
    let n = a.indices.filter { a[$0].bitPattern != b[$0].bitPattern }.count
    return "\(n) of \(a.count) parameters differ, first at \(i): \(a[i]) vs \(b[i])"
}

/// A 6-step run in `runs.0`, and a 3-step run in `runs.1` resumed to 6 steps (checked to resume at
/// step 3): the pair the bit-identity tests compare.
func straightAndResumed(_ config: (Int) -> TrainingConfig, runs: (String, String)) throws -> (straight: Trainer, resumed: Trainer) {
    let straight = try Trainer(config: config(6), run: runs.0)
    try straight.prepare()
    try straight.train()
    let first = try Trainer(config: config(3), run: runs.1)
    try first.prepare()
    try first.train()
    let resumed = try Trainer.resume(runs.1, steps: 6)
    #expect(resumed.currentStep == 3)
    try resumed.prepare()
    try resumed.train()
    return (straight, resumed)
}

@Suite("Training: pairing, resume, learning")
struct TrainingTests {
    @Test("3 steps + resume to 6 equals 6 steps, bit for bit (weights and log)")
    func resumeIsBitIdentical() throws {
        let data = try smallStudies()
        let (a, b) = (tempDir(), tempDir())
        defer { for d in [data, a, b] { try? FileManager.default.removeItem(atPath: d) } }
        let (straight, resumed) = try straightAndResumed({ tinyConfig(data, steps: $0) }, runs: (a, b))
        #expect(firstDifference(resumed.parameters, straight.parameters) == nil)
        func rows(_ run: String) throws -> [String] {
            try String(contentsOfFile: run + "/log.csv", encoding: .utf8).split(separator: "\n").map {
                var f = $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                if f.count > 3 { f[3] = "" }  // elapsed seconds differ
                return f.joined(separator: ",")
            }
        }
        #expect(try rows(a) == rows(b))
        let model = try SafeTensors.read(b + "/model.safetensors")
        #expect(model.metadata["training_steps"] == "6")
        #expect(FileManager.default.fileExists(atPath: b + "/loss.svg"))
    }

    @Test("resume refuses a checkpoint made with another configuration")
    func resumeChecksConfig() throws {
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        let t = try Trainer(config: tinyConfig(data, steps: 3), run: run)
        try t.prepare()
        try t.train()
        var other = tinyConfig(data, steps: 3)
        other.seed = 99
        try JSONEncoder().encode(other).write(to: URL(fileURLWithPath: run + "/config.json"))
        #expect(throws: TrainingError.self) { try Trainer.resume(run, steps: 6) }
    }

    @Test("noise weighting: pair σ is the RMS of low − normal in the body; weight (20/σ)^p within [1/25, 25]; absent option keeps old hashes")
    func noiseWeighting() throws {
        #expect(Trainer.noiseWeight(sigma: 20, power: 2) == 1)
        #expect(abs(Trainer.noiseWeight(sigma: 10, power: 2) - 4) < 1e-5)
        #expect(abs(Trainer.noiseWeight(sigma: 40, power: 2) - 0.25) < 1e-6)
        #expect(abs(Trainer.noiseWeight(sigma: 10, power: 1) - 2) < 1e-5)
        #expect(abs(Trainer.noiseWeight(sigma: 80, power: 1) - 0.25) < 1e-6)
        #expect(Trainer.noiseWeight(sigma: 1, power: 2) == 25)
        #expect(Trainer.noiseWeight(sigma: 0, power: 1) == 25)
        #expect(abs(Trainer.noiseWeight(sigma: 1000, power: 2) - 1 / Float(25)) < 1e-9)
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        var config = tinyConfig(data, steps: 1)
        let before = config.hash
        // Runs made before the flag existed keep their hash (resume checks it): nil is not encoded.
        #expect(!String(decoding: try JSONEncoder().encode(config), as: UTF8.self).contains("noiseWeight"))
        config.noiseWeightPower = 1
        #expect(config.hash != before)
        let t = try Trainer(config: config, run: run)
        // Air (−1000 HU in the normal image) does not count; body pixels differ by ±3 HU.
        let normal: [Float] = [-1000, -1000, 40, 40, 40, 40], low: [Float] = [-700, -1300, 43, 37, 43, 37]
        let pair = t.makePair(low: low, normal: normal, rows: 2, columns: 3, series: "s")
        #expect(abs(pair.noiseSigma - 3) < 1e-5)
        // Every sampled patch carries its pair's weight.
        try t.prepare()
        let (_, _, w) = t.nextBatch()
        let allowed = Set(t.train.map { Trainer.noiseWeight(sigma: $0.noiseSigma, power: 1) })
        #expect(w.count == config.batch && w.allSatisfy { allowed.contains($0) })
    }

    @Test("a short run of a small model lowers the loss")
    func lossFalls() throws {
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        var config = tinyConfig(data, steps: 40)
        config.width = 6
        config.checkpointEvery = 40
        config.validationEvery = 1000
        let t = try Trainer(config: config, run: run)
        try t.prepare()
        try t.train()
        let losses = try String(contentsOfFile: run + "/log.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .compactMap { Double($0.split(separator: ",")[1]) }
        #expect(losses.count == 40)
        let early = losses.prefix(8).reduce(0, +) / 8, late = losses.suffix(8).reduce(0, +) / 8
        #expect(late < 0.7 * early, "loss \(early) → \(late)")
    }

    @Test("pairing: through Source Image Sequence, else by frame of reference and geometry; misses are reported")
    func pairing() throws {
        let normalDir = tempDir(), lowDir = tempDir(), posDir = tempDir()
        defer { for d in [normalDir, lowDir, posDir] { try? FileManager.default.removeItem(atPath: d) } }
        try PhantomStudy(seed: 3, slices: 3, size: 48).write(to: normalDir)
        _ = try DoseSimulationRun(doseFraction: 0.5, photons: .fixed(1e5), seed: 1).run([normalDir], outputRoot: lowDir)
        let normal = StudyScanner.scan([normalDir]).series, low = StudyScanner.scan([lowDir]).series
        let bySource = Pairing.pair(low: low, normal: normal)
        #expect(bySource.pairs.count == 3 && bySource.unpaired.isEmpty)
        #expect(bySource.pairs.allSatisfy { $0.method == .source && $0.low.sourceReference == $0.normal.referenceKey })
        // An independent "low-dose acquisition": same frame of reference and positions, shuffled
        // file names, one extra slice with no partner.
        let n = normal[0]
        var spec = NewSeriesSpec(studyInstanceUID: n.studyInstanceUID, seriesInstanceUID: "2.25.777", rows: 48, columns: 48)
        spec.frameOfReferenceUID = n.frameOfReferenceUID
        spec.pixelSpacing = n.pixelSpacing ?? [1, 1]
        spec.origin = n.slices[0].position ?? [0, 0, 0]
        spec.sliceSpacing = 2.5
        spec.convolutionKernel = n.convolutionKernel  // another kernel would be refused (PairingTests)
        spec.sliceThickness = n.sliceThickness ?? 2.5
        let images = (0..<4).map { _ in SliceImage(rows: 48, columns: 48, hu: [Float](repeating: 0, count: 48 * 48)) }
        try NewSeriesWriter.writeClassic(spec, images: images, directory: posDir, fileName: { ["zz", "aa", "mm", "bb"][$0] })
        let byPosition = Pairing.pair(low: StudyScanner.scan([posDir]).series, normal: normal)
        #expect(byPosition.pairs.count == 3 && byPosition.pairs.allSatisfy { $0.method == .frame })
        for p in byPosition.pairs { #expect(abs((p.low.normalPosition ?? 0) - (p.normal.normalPosition ?? 1)) < 0.05) }
        #expect(byPosition.unpaired.count == 1, "\(byPosition.unpaired)")
    }

    @Test("configuration errors are refused")
    func configErrors() {
        var c = TrainingConfig(normal: ["/x"])
        #expect(throws: TrainingError.self) { try c.validate() }  // neither --low nor --simulate-dose
        c.simulateDoses = [1.5]
        #expect(throws: TrainingError.self) { try c.validate() }
        c.simulateDoses = [0.25]
        c.patch = 11
        #expect(throws: TrainingError.self) { try c.validate() }
        c.patch = 55
        c.simulation = "legacy"
        #expect(throws: TrainingError.self) { try c.validate() }  // only "realistic" or absent
    }
}

@Suite("Training: validation per kernel and HU bias")
struct ValidationTests {
    @Test("validation scores every kernel held out and measures the HU bias in uniform tissue")
    func perKernelAndBias() throws {
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        let trainer = try Trainer(config: tinyConfig(data, steps: 1), run: run)
        try trainer.prepare()
        // A flat 64² "liver" at 60 HU; the low-dose partner reads 10 HU too high (a shifted input).
        func pair(_ kernel: String, shift: Float) -> PairImage {
            let normal = [Float](repeating: 60, count: 64 * 64)
            var p = trainer.makePair(low: normal.map { $0 + shift }, normal: normal, rows: 64, columns: 64, series: kernel)
            p.kernel = kernel
            return p
        }
        trainer.validation = [pair("B30f", shift: 10), pair("D45f", shift: 10), pair("D45f", shift: 10)]
        let result = trainer.validate()
        #expect(result.perKernel.map(\.group) == ["B30f", "D45f"])
        #expect(result.perKernel.map(\.slices) == [1, 2])
        #expect(result.all.slices == 3)
        let bias = try #require(result.all.huBiasLow)
        #expect(abs(bias - 10) < 1e-3, "input bias \(bias)")
        #expect(result.all.huBias != nil)
        #expect(result.summary.contains("D45f (2)") && result.summary.contains("HU bias +10.00"))
    }

    @Test("--validation-low: every series trains, validation comes from the separate folders; bad combinations are refused")
    func separateValidationPairs() throws {
        let data = try smallStudies()
        let (run, val) = (tempDir(), tempDir())
        defer { for d in [data, run, val] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try DoseSimulationRun(doseFraction: 0.25, photons: .fixed(4e4), seed: 3).run([data + "/s1"], outputRoot: val)
        var config = tinyConfig(data, steps: 3)
        config.validationLow = [val]
        var lines: [String] = []
        let trainer = try Trainer(config: config, run: run)
        try trainer.prepare { lines.append($0) }
        #expect(Set(trainer.train.map(\.series)).count == 2, "no series held out of training")
        #expect(!trainer.validation.isEmpty)
        #expect(Set(trainer.validation.map(\.series)).count == 1)
        #expect(lines.contains { $0.hasPrefix("validation pairs from 1 folder(s)") })
        try trainer.train()
        #expect(FileManager.default.fileExists(atPath: run + "/validation.csv"))
        var bad = tinyConfig(data, steps: 1)
        bad.validationNormal = [data]
        #expect(throws: TrainingError.self) { try bad.validate() }
        bad.validationLow = []
        #expect(throws: TrainingError.self) { try bad.validate() }
    }

    @Test("a run writes validation.csv: one row for all slices and one per kernel at each validation")
    func validationLog() throws {
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        var config = tinyConfig(data, steps: 3)
        config.validationFraction = 0.5
        let trainer = try Trainer(config: config, run: run)
        try trainer.prepare()
        try trainer.train()
        let rows = try String(contentsOfFile: run + "/validation.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.first == "step,group,slices,psnr_low,psnr,ssim_low,ssim,hu_bias_low,hu_bias")
        #expect(rows.count >= 3, "\(rows)")   // header, "all", at least one kernel
        #expect(rows.dropFirst().allSatisfy { $0.hasPrefix("3,") })
        #expect(rows.contains { $0.hasPrefix("3,all,") })
    }
}

@Suite("Training on the Winograd path")
struct WinogradTrainingResumeTests {
    @Test("a Winograd run (width 8) resumed at step 3 equals the straight 6-step run bit for bit; config.json records the path")
    func resumeIsBitIdentical() throws {
        let data = try smallStudies()
        let (a, b) = (tempDir(), tempDir())
        defer { for d in [data, a, b] { try? FileManager.default.removeItem(atPath: d) } }
        func config(_ steps: Int) -> TrainingConfig {
            var c = tinyConfig(data, steps: steps)
            c.width = 8
            c.conv = .winograd
            return c
        }
        let (straight, resumed) = try straightAndResumed(config, runs: (a, b))
        #expect(resumed.config.conv == .winograd)
        #expect(firstDifference(resumed.parameters, straight.parameters) == nil)
        let json = try String(contentsOfFile: b + "/config.json", encoding: .utf8)
        #expect(json.contains("\"conv\" : \"winograd\""))
    }
}
