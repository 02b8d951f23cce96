import ConvNet
import Denoising
import Foundation
import Testing
@testable import Training

@Suite("Training: the noise-level channel (--noise-channel)")
struct NoiseChannelTrainingTests {
    @Test("from one-channel weights the first step is the one-channel run's step; then the channel's taps learn; the file says so")
    func startsIdentical() throws {
        let data = try smallStudies()
        let dirs = (tempDir(), tempDir(), tempDir())
        defer { for d in [data, dirs.0, dirs.1, dirs.2] { try? FileManager.default.removeItem(atPath: d) } }
        let start = dirs.2 + "/start.safetensors"
        try ModelFile.save(REDCNN(config: REDCNNConfig(width: 4), seed: 5), to: start)
        func config(_ channel: Bool) -> TrainingConfig {
            var c = tinyConfig(data, steps: 3)
            c.initialWeights = start
            c.noiseChannel = channel ? true : nil
            return c
        }
        let plain = try Trainer(config: config(false), run: dirs.0)
        try plain.prepare()
        try plain.train()
        let two = try Trainer(config: config(true), run: dirs.1)
        try two.prepare()
        #expect(two.train.allSatisfy { $0.noiseLevel > 0 }, "every pair gets its slice's level")
        #expect(two.train.map(\.noiseLevel) == two.train.map { NoiseLevel.channelValue(sigma: NoiseLevel.estimate(hu: $0.lowHU, rows: $0.rows, columns: $0.columns)) })
        try two.train()
        func losses(_ run: String) throws -> [String] {
            try String(contentsOfFile: run + "/log.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[1]) }
        }
        let (a, b) = (try losses(dirs.0), try losses(dirs.1))
        #expect(a.count == 3 && b.count == 3)
        #expect(a[0] == b[0], "zero taps on the channel: the same network, the same first loss (\(a[0]) vs \(b[0]))")
        let (model, meta) = try ModelFile.load(dirs.1 + "/model.safetensors")
        #expect(model.config.noiseLevelChannel && meta[NoiseLevel.metadataKey] == NoiseLevel.estimator)
        let conv1 = try #require(model.tensor("conv1.weight"))
        #expect(conv1.shape == [4, 2, 5, 5])
        #expect((0..<4).contains { o in conv1.data[(o * 2 + 1) * 25..<(o * 2 + 2) * 25].contains { $0 != 0 } }, "the channel's taps did not learn")
        // The batch: channel 1 is the patch's slice level everywhere.
        let (x, _, _) = two.nextBatch()
        #expect(x.shape == [3, 2, 25, 25])
        for k in 0..<3 {
            let plane = Array(x.data[(k * 2 + 1) * 625..<(k * 2 + 2) * 625])
            #expect(Set(plane).count == 1 && two.train.contains { $0.noiseLevel == plane[0] })
        }
    }

    @Test("a pair's level leaves padding out, as restore does (a small slice, where the body fallback would take it in)")
    func paddingOutOfTheLevel() throws {
        var config = tinyConfig("unused", steps: 1)
        config.noiseChannel = true
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trainer = try Trainer(config: config, run: dir)
        var rng = SeededGenerator(seed: 61)
        let (rows, columns) = (30, 30)
        var low = [Float](repeating: 0, count: rows * columns), mask = [UInt8](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                let i = r * columns + c
                if c < 10 { low[i] = (r + c) % 2 == 0 ? 3000 : -1000; mask[i] = 1 } else { low[i] = 60 + 20 * (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) * 2 }
            }
        }
        let masked = trainer.makePair(low: low, normal: low, rows: rows, columns: columns, series: "s", paddingMask: mask).noiseLevel
        let expected = NoiseLevel.channelValue(sigma: NoiseLevel.estimate(hu: low, rows: rows, columns: columns, paddingMask: mask))
        #expect(masked == expected)
        let unmasked = trainer.makePair(low: low, normal: low, rows: rows, columns: columns, series: "s").noiseLevel
        #expect(abs(masked * NoiseLevel.scaleHU / 20 - 1) < 0.15, "the flat part's σ is 20 HU: \(masked * NoiseLevel.scaleHU)")
        #expect(unmasked > 1.5 * masked, "without the mask the padding's ±2000 HU steps would count (\(unmasked) vs \(masked))")
    }

    @Test("3 steps + resume to 6 equals 6 steps, bit for bit, with the channel")
    func resume() throws {
        let data = try smallStudies()
        let runs = (tempDir(), tempDir())
        defer { for d in [data, runs.0, runs.1] { try? FileManager.default.removeItem(atPath: d) } }
        let (straight, resumed) = try straightAndResumed({ steps in
            var c = tinyConfig(data, steps: steps)
            c.noiseChannel = true
            return c
        }, runs: runs)
        #expect(firstDifference(straight.parameters, resumed.parameters) == nil)
    }

    @Test("refused: kernel augmentation with the channel; two-channel weights without it; unset, the hash is unchanged")
    func refusals() throws {
        var config = TrainingConfig(normal: ["n"])
        config.simulateDoses = [0.25]
        let before = config.hash
        #expect(!String(decoding: try JSONEncoder().encode(config), as: UTF8.self).contains("noiseChannel"))
        var c = config
        c.noiseChannel = true
        try c.validate()
        #expect(c.hash != before)
        c.kernelAugment = 0.2
        #expect(throws: TrainingError.invalidConfiguration(reason: "--kernel-augment and --noise-channel exclude each other: the filter changes a patch's noise after its slice's noise level was measured")) {
            try c.validate()
        }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelFile.save(REDCNN(config: REDCNNConfig(width: 96, noiseLevelChannel: true), seed: 1), to: dir + "/two.safetensors")
        var plain = config
        plain.initialWeights = dir + "/two.safetensors"
        #expect(throws: TrainingError.invalidConfiguration(reason: "\(dir)/two.safetensors has a noise-level channel: train it with --noise-channel")) {
            _ = try Trainer(config: plain, run: dir + "/run")
        }
    }
}
