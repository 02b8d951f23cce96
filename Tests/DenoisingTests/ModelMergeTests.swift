import ConvNet
import Denoising
import Foundation
import Testing

@Suite("Weight-space merge of a fine-tuned model with its base (WiSE-FT)")
struct ModelMergeTests {
    @Test("every parameter is (1 − t) × base + t × tuned; t = 0 and 1 give the two models back; the merged network runs")
    func interpolation() throws {
        let base = REDCNN(config: REDCNNConfig(width: 4), seed: 1)
        let tuned = REDCNN(config: REDCNNConfig(width: 4), seed: 2)
        let quarter = try ModelMerge.interpolate(base: base, tuned: tuned, weight: 0.25)
        var worst: Float = 0
        for i in base.parameters.indices {
            worst = max(worst, abs(quarter.parameters[i] - (0.75 * base.parameters[i] + 0.25 * tuned.parameters[i])))
        }
        #expect(worst < 1e-7, "largest deviation \(worst)")
        #expect(quarter.parameters != base.parameters && quarter.parameters != tuned.parameters)
        #expect(try ModelMerge.interpolate(base: base, tuned: tuned, weight: 0).parameters == base.parameters)
        #expect(try ModelMerge.interpolate(base: base, tuned: tuned, weight: 1).parameters == tuned.parameters)
        // The biases interpolate too: a CT-number correction in the tuned model's last bias arrives scaled by t.
        let shifted = REDCNN(config: REDCNNConfig(width: 4), seed: 1)
        shifted.shiftOutput(hu: 8)
        let half = try ModelMerge.interpolate(base: base, tuned: shifted, weight: 0.5)
        let v = try #require(half.layout.view("tconv5.bias"))
        #expect(abs((half.parameters[v.offset] - base.parameters[v.offset]) * half.config.huScale - 4) < 1e-3)
        let y = quarter.infer(Tensor(shape: [1, 1, 24, 24], data: (0..<576).map { Float($0 % 7) / 20 }))
        #expect(y.shape == [1, 1, 24, 24] && y.data.allSatisfy(\.isFinite))
    }

    @Test("models of another width, kernel or normalisation are refused with both names and the reason; so is a weight outside 0…1")
    func refusals() {
        let base = REDCNN(config: REDCNNConfig(width: 4), seed: 1)
        #expect(throws: ModelMerge.MergeError.incompatible(base: "a.safetensors", tuned: "b.safetensors", reason: "width 4 against 6")) {
            _ = try ModelMerge.interpolate(base: base, tuned: REDCNN(config: REDCNNConfig(width: 6)), weight: 0.5,
                                           names: ("a.safetensors", "b.safetensors"))
        }
        #expect(throws: ModelMerge.MergeError.incompatible(base: "base", tuned: "tuned", reason: "kernel 5 against 3")) {
            _ = try ModelMerge.interpolate(base: base, tuned: REDCNN(config: REDCNNConfig(width: 4, kernel: 3)), weight: 0.5)
        }
        do {
            _ = try ModelMerge.interpolate(base: base, tuned: REDCNN(config: REDCNNConfig(width: 4, huOffset: 1000)), weight: 0.5)
            Issue.record("a different normalisation was merged")
        } catch {
            #expect("\(error)".contains("normalisation"), "\(error)")
        }
        for w in [-0.1, 1.5, Double.nan] {
            #expect(throws: ModelMerge.MergeError.self) { _ = try ModelMerge.interpolate(base: base, tuned: base, weight: w) }
        }
    }

    @Test("the merged model's metadata drops the curve and corrections of the tuned weights and names both fingerprints")
    func metadata() {
        let base = REDCNN(config: REDCNNConfig(width: 4), seed: 1), tuned = REDCNN(config: REDCNNConfig(width: 4), seed: 2)
        let meta = ModelMerge.metadata(
            base: ("/models/base.safetensors", base, ["strength_curve": "10:1"]),
            tuned: ("/runs/tuned.safetensors", tuned, ["strength_curve": "10:0.8", "strength_tuned_on": "x", "hu_correction": "+1 HU",
                                                        "training": "real pairs", "width": "4"]),
            weight: 0.6)
        #expect(meta["strength_curve"] == nil && meta["strength_tuned_on"] == nil && meta["hu_correction"] == nil && meta["width"] == nil)
        #expect(meta["training"] == "real pairs")
        #expect(meta["merged_from"] == "0.4 × base.safetensors (fingerprint \(ModelFile.fingerprint(base))) + 0.6 × tuned.safetensors (fingerprint \(ModelFile.fingerprint(tuned)))")
    }
}
