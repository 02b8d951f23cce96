import ConvNet
import Foundation
@testable import Training
import Testing

@Suite("Training: kernel augmentation (--kernel-augment)")
struct KernelAugmentTests {
    /// `Trainer.kernelFilter` on a copy of `x` (side × side).
    func filtered(_ x: [Float], side: Int, a: Float) -> [Float] {
        var y = x
        y.withUnsafeMutableBufferPointer { Trainer.kernelFilter($0.baseAddress!, side: side, a: a) }
        return y
    }

    @Test("the filter: a = 0 is the identity, a flat patch stays flat, an interior pixel is the 3×3 outer-product kernel")
    func filter() {
        var rng = SeededGenerator(seed: 41)
        let n = 9
        let x = (0..<n * n).map { _ in rng.uniform() }
        #expect(filtered(x, side: n, a: 0) == x)
        let flat = [Float](repeating: 0.37, count: n * n)
        #expect(filtered(flat, side: n, a: 0.2).allSatisfy { abs($0 - 0.37) < 1e-6 })
        #expect(filtered(flat, side: n, a: -0.1).allSatisfy { abs($0 - 0.37) < 1e-6 })
        for a: Float in [0.2, -0.1] {
            let taps = [a, 1 - 2 * a, a]
            let y = filtered(x, side: n, a: a)
            for (r, c) in [(1, 1), (4, 5), (7, 7)] {
                var expected: Float = 0
                for i in -1...1 { for j in -1...1 { expected += taps[i + 1] * taps[j + 1] * x[(r + i) * n + c + j] } }
                #expect(abs(y[r * n + c] - expected) < 1e-5, "a \(a) at (\(r), \(c))")
            }
        }
    }

    @Test("white noise: a > 0 lowers its variance by ((1−2a)² + 2a²)², a < 0 raises it")
    func noiseVariance() {
        var rng = SeededGenerator(seed: 42)
        let n = 128
        let x = (0..<n * n).map { _ in rng.gaussian() }
        func interiorVariance(_ y: [Float]) -> Double {
            var s = 0.0, s2 = 0.0, k = 0.0
            for r in 2..<n - 2 { for c in 2..<n - 2 { let v = Double(y[r * n + c]); s += v; s2 += v * v; k += 1 } }
            return s2 / k - (s / k) * (s / k)
        }
        let base = interiorVariance(x)
        for a: Float in [0.2, -0.1] {
            let gain = Double((1 - 2 * a) * (1 - 2 * a) + 2 * a * a)
            let ratio = interiorVariance(filtered(x, side: n, a: a)) / base
            #expect(abs(ratio / (gain * gain) - 1) < 0.08, "a \(a): variance ratio \(ratio), expected \(gain * gain)")
            #expect(a > 0 ? ratio < 0.6 : ratio > 1.3)
        }
    }

    @Test("batches: low and normal get the same filter (their difference stays the pair's), and it is applied; off, patches are copied as they are")
    func batches() throws {
        let data = try smallStudies()
        let run = tempDir()
        defer { for d in [data, run] { try? FileManager.default.removeItem(atPath: d) } }
        // A checkerboard normal image (two values) and a low image offset by a constant: any filter
        // with taps summing to 1 keeps the offset, only a filter makes values other than the two.
        let side = 64, offset: Float = 0.02, values: Set<Float> = [0.1, 0.3]
        let normal = (0..<side * side).map { ($0 / side + $0 % side) % 2 == 0 ? Float(0.1) : Float(0.3) }
        func batch(_ augment: Float?) throws -> (Tensor, Tensor) {
            var config = tinyConfig(data, steps: 1)
            config.kernelAugment = augment
            let t = try Trainer(config: config, run: run)
            t.train = [PairImage(low: normal.map { $0 + offset }, normal: normal, rows: side, columns: side, series: "board",
                                 lowHU: [], normalHU: [], noiseSigma: 1)]
            let (input, target, _) = t.nextBatch()
            return (input, target)
        }
        let (input, target) = try batch(0.2)
        #expect(zip(input.data, target.data).allSatisfy { abs($0 - $1 - offset) < 1e-5 })
        #expect(target.data.contains { !values.contains($0) }, "no patch was filtered")
        for off in [nil, Float(0)] {
            let (_, plain) = try batch(off)
            #expect(plain.data.allSatisfy { values.contains($0) })
        }
    }

    @Test("a run with kernel augmentation resumes bit for bit and records it; out-of-range values are refused; off, the hash is unchanged")
    func resumeAndConfig() throws {
        let data = try smallStudies()
        let (a, b) = (tempDir(), tempDir())
        defer { for d in [data, a, b] { try? FileManager.default.removeItem(atPath: d) } }
        let (straight, resumed) = try straightAndResumed({
            var c = tinyConfig(data, steps: $0)
            c.kernelAugment = 0.2
            return c
        }, runs: (a, b))
        #expect(resumed.config.kernelAugment == 0.2)
        #expect(firstDifference(resumed.parameters, straight.parameters) == nil)
        var config = tinyConfig(data, steps: 1)
        #expect(!String(decoding: try JSONEncoder().encode(config), as: UTF8.self).contains("kernelAugment"))
        for bad: Float in [-0.1, 0.3] {
            config.kernelAugment = bad
            #expect(throws: TrainingError.self) { try config.validate() }
        }
    }
}

@Suite("Training: the loss curve")
struct LossCurveTests {
    @Test("log scale for positive losses; linear when a loss is ≤ 0 (psnr-ssim), never NaN")
    func scales() throws {
        let dir = NSTemporaryDirectory() + "ldct-losscurve-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LossCurve.write(log: "step,loss\n1,0.5\n2,0.25\n3,0.2\n", to: dir + "/a.svg")
        try LossCurve.write(log: "step,loss\n1,-20.5\n2,-24\n3,-25.5\n", to: dir + "/b.svg")
        let a = try String(contentsOfFile: dir + "/a.svg", encoding: .utf8), b = try String(contentsOfFile: dir + "/b.svg", encoding: .utf8)
        #expect(a.contains("(log scale), 3 steps") && !a.lowercased().contains("nan"))
        #expect(a.contains(">0.5<") && a.contains(">0.2<"), "the log axis labels the losses themselves")
        #expect(b.contains("training loss, 3 steps") && !b.lowercased().contains("nan"))
        #expect(b.contains(">-20<") && (b.contains(">-26<") || b.contains(">-25<")), "the linear axis labels the highest and lowest loss")
    }
}
