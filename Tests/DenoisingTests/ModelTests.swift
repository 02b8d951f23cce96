import ConvNet
import DICOMIO
@testable import Denoising
import Foundation
import Testing

@Suite("RED-CNN model, weights files and slice restoration")
struct ModelTests {
    @Test("the paper's model has 1,848,865 parameters; output size equals input size")
    func structure() {
        let model = REDCNN(config: REDCNNConfig(width: 96))
        #expect(model.parameterCount == 1_848_865)
        let small = REDCNN(config: REDCNNConfig(width: 4), seed: 3)
        let y = small.infer(Tensor(zeros: [2, 1, 21, 30]))
        #expect(y.shape == [2, 1, 21, 30])
        #expect(REDCNNConfig().receptiveField == 41)
    }

    @Test("whole-slice inference in bands equals unbanded, and equals the training forward")
    func banding() {
        var rng = SeededGenerator(seed: 11)
        let x = Tensor(shape: [1, 1, 64, 48], data: (0..<64 * 48).map { _ in rng.uniform() * 0.5 })
        let big = REDCNN(config: REDCNNConfig(width: 8), seed: 5, workspace: Workspace(maxColumnFloats: 1 << 26))
        let tiny = REDCNN(config: REDCNNConfig(width: 8), seed: 5, workspace: Workspace(maxColumnFloats: 1000))
        let a = big.infer(x), b = tiny.infer(x)
        #expect(relError(a.data, b.data) < 1e-6, "banded vs unbanded: \(relError(a.data, b.data))")
        #expect(relError(big.forward(x).y.data, a.data) == 0)
    }

    @Test("gradients of the whole network pass a finite-difference check (tiny model)")
    func networkGradient() {
        var rng = SeededGenerator(seed: 21)
        let model = REDCNN(config: REDCNNConfig(width: 3, finalReLU: false), seed: 8)
        let x = Tensor(shape: [1, 1, 22, 21], data: (0..<22 * 21).map { _ in 0.2 + 0.3 * rng.uniform() })
        let target = Tensor(shape: x.shape, data: x.data.map { $0 + 0.05 * (rng.uniform() - 0.5) })
        let saved = model.forward(x)
        let (_, dy) = Losses.mse(saved.y, target)
        let grads = model.backward(saved, outputGradient: dy)
        let v = (0..<model.parameterCount).map { _ in 2 * rng.uniform() - 1 }
        let base = model.parameters
        func loss(_ p: [Float]) -> Double {
            model.parameters = p
            defer { model.parameters = base }
            return Losses.mse(model.forward(x).y, target).loss
        }
        let eps: Float = 1e-3
        let numeric = (loss(zip(base, v).map { $0 + eps * $1 }) - loss(zip(base, v).map { $0 - eps * $1 })) / (2 * Double(eps))
        let exact = zip(grads, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(numeric - exact) / max(abs(exact), 1e-9) < 2e-2, "numeric \(numeric) vs analytic \(exact)")
    }

    @Test("save → load keeps weights, width, final ReLU and metadata")
    func saveLoad() throws {
        let model = REDCNN(config: REDCNNConfig(width: 5, finalReLU: false), seed: 9)
        let path = NSTemporaryDirectory() + "ldct-model-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.save(model, to: path, metadata: ["trained_steps": "12"])
        let (back, meta) = try ModelFile.load(path)
        #expect(back.parameters == model.parameters)
        #expect(back.config == model.config)
        #expect(meta["trained_steps"] == "12" && meta["format"] == ModelFile.formatTag)
        #expect(ModelFile.fingerprint(back) == ModelFile.fingerprint(model))
        #expect(ModelFile.fingerprint(REDCNN(config: REDCNNConfig(width: 5), seed: 10)) != ModelFile.fingerprint(model))
    }

    @Test("bad weights files: missing, unexpected and mis-shaped tensors are named")
    func badWeights() throws {
        let model = REDCNN(config: REDCNNConfig(width: 4), seed: 1)
        var file = SafeTensors()
        for v in model.layout.views { file.tensors[v.name] = Tensor(shape: v.shape, data: Array(model.parameters[v.offset..<v.offset + v.count])) }
        let dir = NSTemporaryDirectory() + "ldct-bad-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var missing = file; missing.tensors["tconv3.bias"] = nil
        try missing.write(to: dir + "/missing.safetensors")
        #expect(throws: ConvNetError.missingTensor(file: dir + "/missing.safetensors", name: "tconv3.bias")) {
            try ModelFile.load(dir + "/missing.safetensors")
        }
        var extra = file; extra.tensors["fc.weight"] = Tensor(shape: [1], data: [0])
        try extra.write(to: dir + "/extra.safetensors")
        #expect(throws: ConvNetError.unexpectedTensor(file: dir + "/extra.safetensors", name: "fc.weight")) {
            try ModelFile.load(dir + "/extra.safetensors")
        }
        var shaped = file; shaped.tensors["conv2.weight"] = Tensor(zeros: [4, 4, 3, 3])
        try shaped.write(to: dir + "/shape.safetensors")
        #expect(throws: ConvNetError.shapeMismatch(file: dir + "/shape.safetensors", name: "conv2.weight",
                                                   expected: [4, 4, 5, 5], found: [4, 4, 3, 3])) {
            try ModelFile.load(dir + "/shape.safetensors")
        }
        var prefixed = SafeTensors()  // DataParallel export: "module." prefix is accepted
        for (k, v) in file.tensors { prefixed.tensors["module." + k] = v }
        try prefixed.write(to: dir + "/dp.safetensors")
        #expect(try ModelFile.load(dir + "/dp.safetensors").model.parameters == model.parameters)
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: dir + "/junk.safetensors"))
        #expect(throws: ConvNetError.self) { try ModelFile.load(dir + "/junk.safetensors") }
    }

    @Test("slice restoration: padding keeps its HU, tiny slices work, normalisation round-trips")
    func restorer() {
        let model = REDCNN(config: REDCNNConfig(width: 4), seed: 2)
        let restorer = SliceRestorer(model: model)
        var rng = SeededGenerator(seed: 4)
        var image = SliceImage(rows: 40, columns: 30, hu: (0..<1200).map { _ in 40 + 20 * (rng.uniform() - 0.5) })
        image.paddingMask = [UInt8](repeating: 0, count: 1200)
        for i in 0..<60 { image.paddingMask[i] = 1; image.hu[i] = -3024 }
        let out = restorer.restore(image)
        #expect(out.rows == 40 && out.columns == 30 && out.hu.count == 1200)
        #expect(out.hu[0..<60].allSatisfy { $0 == -3024 })
        #expect(out.paddingMask == image.paddingMask)
        #expect(out.hu[60...].contains { $0 != 40 })
        let tiny = restorer.restore(SliceImage(rows: 5, columns: 7, hu: [Float](repeating: 0, count: 35)))
        #expect(tiny.hu.count == 35)
        #expect(abs(model.denormalize(model.normalize(-1000)) + 1000) < 1e-3)
        #expect(model.normalize(-1024) == 0)
    }
}
