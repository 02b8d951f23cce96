import ConvNet
import Foundation
import Testing
@testable import Training

@Suite("Training: loss options (--outside-weight, --ssim-weight)")
struct LossOptionsTests {
    /// `steps` steps of the tiny configuration after `edit`; the trained parameters and the model's metadata.
    func run(_ edit: (inout TrainingConfig) -> Void, data: String) throws -> (parameters: [Float], metadata: [String: String]) {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = tinyConfig(data, steps: 2)
        edit(&config)
        let t = try Trainer(config: config, run: dir)
        try t.prepare()
        try t.train()
        return (t.parameters, try SafeTensors.read(dir + "/model.safetensors").metadata)
    }

    @Test("the outside weight reaches the steps (0.2 trains differently, 1 exactly as none) and the model's metadata")
    func outsideWeight() throws {
        let data = try smallStudies()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let plain = try run({ _ in }, data: data)
        let one = try run({ $0.outsideWeight = 1 }, data: data)
        let weighted = try run({ $0.outsideWeight = 0.2 }, data: data)
        #expect(firstDifference(one.parameters, plain.parameters) == nil)
        #expect(firstDifference(weighted.parameters, plain.parameters) != nil, "the weight did not reach the loss")
        #expect(weighted.metadata["training_outside_weight"] == "0.2 outside -160…240 HU")
        #expect(plain.metadata["training_outside_weight"] == nil && plain.metadata["training_ssim_weight"] == nil)
        let psnrSSIM = try run({ $0.loss = .psnrSSIM }, data: data)
        let w10 = try run({ $0.loss = .psnrSSIM; $0.ssimWeight = 10 }, data: data)
        let w50 = try run({ $0.loss = .psnrSSIM; $0.ssimWeight = 50 }, data: data)
        #expect(firstDifference(w50.parameters, psnrSSIM.parameters) == nil)
        #expect(firstDifference(w10.parameters, psnrSSIM.parameters) != nil, "the SSIM weight did not reach the loss")
        #expect(w10.metadata["training_ssim_weight"] == "10.0")
    }

    @Test("out-of-range values and an SSIM weight without psnr-ssim are refused; unset, the hash is unchanged")
    func validation() throws {
        var config = TrainingConfig(normal: ["n"])
        config.simulateDoses = [0.25]
        let before = config.hash
        let text = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        #expect(!text.contains("outsideWeight") && !text.contains("ssimWeight"))
        for bad: Float in [0, -0.5, 1.5, .nan] {
            var c = config
            c.outsideWeight = bad
            #expect(throws: TrainingError.self) { try c.validate() }
        }
        var c = config
        c.outsideWeight = 0.2
        try c.validate()
        #expect(c.hash != before)
        c.ssimWeight = 10
        #expect(throws: TrainingError.self) { try c.validate() }   // loss is mse
        c.loss = .psnrSSIM
        try c.validate()
        for bad in [-1, 5000, Double.nan] {
            c.ssimWeight = bad
            #expect(throws: TrainingError.self) { try c.validate() }
        }
    }
}
