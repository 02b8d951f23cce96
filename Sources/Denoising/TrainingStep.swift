import ConvNet
import Foundation

/// One optimisation step of RED-CNN on a batch: forward, loss, backward, Adam.
public enum TrainingStep {
    /// Returns the loss before the update. `sampleWeights`, `pixelWeights` and `ssimWeight` as in
    /// `Loss.evaluate`. `combine`, when given, turns this process's gradient
    /// and loss into those of the whole batch before the update (data-parallel training: the mean
    /// over the ranks).
    @discardableResult
    public static func run(model: REDCNN, optimizer: inout Adam, input: Tensor, target: Tensor, loss: Loss = .mse,
                           sampleWeights: [Float]? = nil, pixelWeights: Tensor? = nil, ssimWeight: Double? = nil,
                           learningRate: Float,
                           combine: ((_ gradients: inout [Float], _ loss: inout Double) -> Void)? = nil) -> Double {
        let saved = model.forward(input)
        var (value, dy) = loss.evaluate(saved.y, target, sampleWeights: sampleWeights, pixelWeights: pixelWeights, ssimWeight: ssimWeight)
        var grads = model.backward(saved, outputGradient: dy)
        combine?(&grads, &value)
        optimizer.update(&model.parameters, gradients: grads, learningRate: learningRate)
        return value
    }

    /// Multiply-add counted as 2 FLOP: the forward pass for an N×1×H×W input.
    public static func forwardFLOPs(_ config: REDCNNConfig, batch: Int, height: Int, width: Int) -> Double {
        let k = Double(config.kernel * config.kernel), w = Double(config.width)
        var total = 0.0
        var (h, ww) = (height, width)
        for i in 0..<5 {  // convolutions shrink by k − 1
            h -= config.kernel - 1; ww -= config.kernel - 1
            total += 2 * (i == 0 ? 1 : w) * w * k * Double(h * ww)
        }
        for i in 0..<5 {  // transposed convolutions: work counted on their input grid
            total += 2 * w * (i == 4 ? 1 : w) * k * Double(h * ww)
            h += config.kernel - 1; ww += config.kernel - 1
        }
        return total * Double(batch)
    }

    /// Forward + backward (weight and input gradients, none for the network input).
    public static func trainingFLOPs(_ config: REDCNNConfig, batch: Int, height: Int, width: Int) -> Double {
        let f = forwardFLOPs(config, batch: batch, height: height, width: width)
        let conv1 = 2 * Double(config.width * config.kernel * config.kernel) * Double((height - config.kernel + 1) * (width - config.kernel + 1)) * Double(batch)
        return 3 * f - conv1
    }
}
