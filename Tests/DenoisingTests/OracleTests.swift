import ConvNet
@testable import Denoising
import Foundation
import Testing

let referenceFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/reference").path

/// Named tolerances (relative to the tensor's largest magnitude, at least 1).
enum Tolerance {
    static let forward = 1e-5
    static let gradient = 1e-4
    static let adamStep = 1e-6
    /// The Winograd path (F(4×4, 5×5) transforms lose a few bits: see WinogradTolerance).
    static let winogradForward = 3e-5
    static let winogradGradient = 3e-4

    static func forward(_ a: ConvolutionAlgorithm) -> Double { a == .winograd ? winogradForward : forward }
    static func gradient(_ a: ConvolutionAlgorithm) -> Double { a == .winograd ? winogradGradient : gradient }
}

func relError(_ a: [Float], _ b: [Float]) -> Double {
    guard a.count == b.count else { return .infinity }
    let scale = max(1, Double(b.map(abs).max() ?? 0))
    return zip(a, b).map { abs(Double($0) - Double($1)) }.max().map { $0 / scale } ?? 0
}

/// The PyTorch dump of scripts/reference/redcnn_oracle.py.
struct Oracle {
    let file: SafeTensors
    init() throws { file = try SafeTensors.read(referenceFolder + "/redcnn_oracle.safetensors") }
    func tensor(_ name: String) throws -> Tensor { try #require(file.tensors[name], "oracle lacks \(name)") }
    var parameterNames: Set<String> { Set(file.tensors.keys.filter { $0.hasPrefix("param/") }.map { String($0.dropFirst(6)) }) }

    /// A model with the oracle's width and starting weights.
    func model(workspace: Workspace = Workspace()) throws -> REDCNN {
        let width = Int(file.metadata["width"] ?? "") ?? 0
        let model = REDCNN(config: REDCNNConfig(width: width), workspace: workspace)
        for v in model.layout.views {
            let t = try tensor("param/" + v.name)
            #expect(t.shape == v.shape, "\(v.name): oracle \(t.shape), model \(v.shape)")
            model.parameters.replaceSubrange(v.offset..<v.offset + v.count, with: t.data)
        }
        return model
    }
}

@Suite("RED-CNN against the PyTorch oracle")
struct OracleTests {
    @Test("the dump's parameter names line up with the model's, in PyTorch's state_dict naming")
    func names() throws {
        let oracle = try Oracle()
        let model = try oracle.model()
        #expect(oracle.parameterNames == Set(model.layout.views.map(\.name)))
        #expect(model.layout.views.map(\.name).prefix(2) == ["conv1.weight", "conv1.bias"])
        #expect(model.layout.views.last?.name == "tconv5.bias")
        #expect(Set(oracle.file.tensors.keys.filter { $0.hasPrefix("grad/") }.map { String($0.dropFirst(5)) }) == oracle.parameterNames)
    }

    @Test("forward: every saved activation and the output match (banded columns too), on both convolution paths",
          arguments: [1 << 24, 97], [ConvolutionAlgorithm.im2col, .winograd])
    func forward(_ budget: Int, _ algorithm: ConvolutionAlgorithm) throws {
        let oracle = try Oracle()
        let model = try oracle.model(workspace: Workspace(maxColumnFloats: budget, algorithm: algorithm))
        let saved = model.forward(try oracle.tensor("input"))
        for (name, t) in saved.named {
            let ref = try oracle.tensor("act/" + name)
            #expect(t.shape == ref.shape, "\(name) shape")
            #expect(relError(t.data, ref.data) < Tolerance.forward(algorithm), "activation \(name): \(relError(t.data, ref.data))")
        }
        #expect(relError(model.infer(try oracle.tensor("input")).data, try oracle.tensor("act/y").data) < Tolerance.forward(algorithm))
    }

    @Test("MSE loss, every gradient and one Adam step match, on both convolution paths",
          arguments: [ConvolutionAlgorithm.im2col, .winograd])
    func backwardAndAdam(_ algorithm: ConvolutionAlgorithm) throws {
        let oracle = try Oracle()
        let model = try oracle.model(workspace: Workspace(algorithm: algorithm))
        let saved = model.forward(try oracle.tensor("input"))
        let (loss, dy) = Losses.mse(saved.y, try oracle.tensor("target"))
        let refLoss = Double(try oracle.tensor("loss").data[0])
        #expect(abs(loss - refLoss) / refLoss < Tolerance.forward(algorithm), "loss \(loss) vs \(refLoss)")
        let grads = model.backward(saved, outputGradient: dy)
        for v in model.layout.views {
            let mine = Array(grads[v.offset..<v.offset + v.count])
            let ref = try oracle.tensor("grad/" + v.name)
            let scale = Double(ref.data.map(abs).max() ?? 0)
            let err = zip(mine, ref.data).map { abs(Double($0) - Double($1)) }.max()! / max(scale, 1e-12)
            #expect(err < Tolerance.gradient(algorithm), "gradient of \(v.name): relative error \(err)")
        }
        var adam = Adam(parameterCount: model.parameterCount)
        let lr = Float(oracle.file.metadata["lr"] ?? "") ?? 0
        adam.update(&model.parameters, gradients: grads, learningRate: lr)
        for v in model.layout.views {
            let ref = try oracle.tensor("adam1/" + v.name)
            let err = relError(Array(model.parameters[v.offset..<v.offset + v.count]), ref.data)
            #expect(err < (algorithm == .winograd ? Tolerance.winogradGradient : Tolerance.adamStep), "after Adam, \(v.name): \(err)")
        }
    }

    @Test("a state_dict saved by PyTorch loads unchanged and gives PyTorch's output")
    func pytorchExport() throws {
        let (model, _) = try ModelFile.load(referenceFolder + "/redcnn_state_dict.safetensors")
        #expect(model.config.width == 6 && model.config.finalReLU)
        let io = try SafeTensors.read(referenceFolder + "/redcnn_state_dict_io.safetensors")
        let x = try #require(io.tensors["input"]), y = try #require(io.tensors["output"])
        #expect(relError(model.infer(x).data, y.data) < Tolerance.forward)
    }
}
