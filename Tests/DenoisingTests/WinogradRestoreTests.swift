import ConvNet
import DICOMIO
@testable import Denoising
import Foundation
import Testing

/// The bound: restored HU of the Winograd path within 0.25 HU of im2col, before rounding.
let winogradRestoreBoundHU: Float = 0.25

@Suite("Winograd restore against im2col on real CT (SampleDICOM, bundled model)")
struct WinogradRestoreTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A 160×160 crop through the heart and the left hilar mass of two real quarter-dose slices.
    @Test("restored HU agree within 0.25 HU (before integer rounding) on real chest slices")
    func realSlices() throws {
        let scan = StudyScanner.scan([Self.root + "/SampleDICOM/quarter-dose"])
        let info = try #require(scan.series.first)
        let series = try #require(SeriesLoader.load(info).series)
        let modelPath = try #require(DefaultModel.locate())
        let (model, _) = try ModelFile.load(modelPath)
        let restorer = SliceRestorer(model: model)
        var worst: Float = 0, changed: Float = 0
        for index in [2, 7] {
            let full = series.slice(index)
            let (r0, c0, side) = (180, 170, 160)
            var hu = [Float](repeating: 0, count: side * side)
            for r in 0..<side { for c in 0..<side { hu[r * side + c] = full.hu[(r0 + r) * full.columns + c0 + c] } }
            let crop = SliceImage(rows: side, columns: side, hu: hu)
            model.workspace.algorithm = .im2col
            let reference = restorer.networkOutput(crop)
            model.workspace.algorithm = .winograd
            let fast = restorer.networkOutput(crop)
            for i in hu.indices {
                worst = max(worst, abs(fast.hu[i] - reference.hu[i]))
                changed = max(changed, abs(reference.hu[i] - hu[i]))
            }
        }
        #expect(worst <= winogradRestoreBoundHU, "max |Winograd − im2col| = \(worst) HU")
        #expect(changed > 20, "the network changed the image (max \(changed) HU), so the comparison means something")
    }
}

@Suite("Winograd training against im2col")
struct WinogradTrainingTests {
    /// Relative difference allowed between the two paths' losses after the same 40 steps.
    static let lossTolerance = 0.02

    /// A width-16 RED-CNN (every inner layer on Winograd under `auto`) from the same random start,
    /// trained 40 Adam steps on the same seeded denoising batches: both paths learn (the loss of the
    /// random residual falls by more than half) and end within 2 % of each other; the weights stay close.
    @Test("a short training run reaches the same loss on both paths")
    func sameLoss() {
        func train(_ algorithm: ConvolutionAlgorithm) -> (first: Double, last: Double, params: [Float]) {
            let model = REDCNN(config: REDCNNConfig(width: 16), seed: 11, workspace: Workspace(algorithm: algorithm))
            var adam = Adam(parameterCount: model.parameterCount)
            var rng = SeededGenerator(seed: 12)
            var first = 0.0, last = 0.0
            for step in 0..<40 {
                // Smooth "anatomy" (sums of sines) plus noise; the target is the clean image.
                var clean = [Float](), noisy = [Float]()
                for _ in 0..<4 {
                    let (f1, f2, ph) = (rng.uniform() * 0.3, rng.uniform() * 0.3, rng.uniform() * 6)
                    for r in 0..<29 { for c in 0..<29 {
                        let v = 0.25 + 0.05 * sin(f1 * Float(r) + ph) * cos(f2 * Float(c))
                        clean.append(v)
                        noisy.append(v + 0.01 * rng.gaussian())
                    } }
                }
                let x = Tensor(shape: [4, 1, 29, 29], data: noisy), t = Tensor(shape: [4, 1, 29, 29], data: clean)
                let loss = TrainingStep.run(model: model, optimizer: &adam, input: x, target: t, learningRate: 1e-3)
                if step == 0 { first = loss }
                last = loss
            }
            return (first, last, model.parameters)
        }
        let reference = train(.im2col), fast = train(.winograd)
        #expect(reference.last < 0.5 * reference.first && fast.last < 0.5 * fast.first, "both learn: \(reference.first) → \(reference.last), \(fast.first) → \(fast.last)")
        #expect(abs(fast.last - reference.last) / reference.last < Self.lossTolerance,
                "loss after 40 steps: im2col \(reference.last), Winograd \(fast.last)")
        let drift = zip(fast.params, reference.params).map { abs($0 - $1) }.max() ?? 0
        #expect(drift < 1e-2, "largest weight difference \(drift)")
    }
}
