import ConvNet
import Foundation

/// RED-CNN (Chen et al. 2017) as the authors released it: five 5×5 valid convolutions, five 5×5
/// transposed convolutions, three shortcuts each followed by ReLU, optional final ReLU.
///
/// Parameter names and layouts are PyTorch's state_dict of the common re-implementation
/// (`conv1.weight` [W, C, 5, 5] … `tconv5.bias` [1]; ConvTranspose2d weights [in, out, k, k]), all in
/// one contiguous buffer in that order. C = 1 (the paper), or 2 with the noise-level channel
/// (`NoiseLevel`): the output is still one channel, and the global shortcut adds channel 0 only.
public struct REDCNNConfig: Sendable, Equatable, Codable {
    /// Filters per layer (96 in the paper).
    public var width: Int = 96
    public var kernel: Int = 5
    /// ReLU on the output (on in the release; one later benchmark drops it).
    public var finalReLU: Bool = true
    /// The network sees (HU + offset) / scale.
    public var huOffset: Float = 1024
    public var huScale: Float = 4096
    /// A second input channel holding the slice's blind noise level (`NoiseLevel`).
    public var noiseLevelChannel: Bool = false

    public init(width: Int = 96, kernel: Int = 5, finalReLU: Bool = true, huOffset: Float = 1024, huScale: Float = 4096,
                noiseLevelChannel: Bool = false) {
        self.width = width
        self.kernel = kernel
        self.finalReLU = finalReLU
        self.huOffset = huOffset
        self.huScale = huScale
        self.noiseLevelChannel = noiseLevelChannel
    }

    /// 1, or 2 with the noise-level channel.
    public var inputChannels: Int { noiseLevelChannel ? 2 : 1 }

    /// Smallest input side the network accepts (five valid convolutions).
    public var minimumInput: Int { 5 * (kernel - 1) + 1 }
    /// Receptive field of one output pixel (41 for k = 5).
    public var receptiveField: Int { 10 * (kernel - 1) + 1 }
}

/// The values forward saves for backward, by name (shapes for an input [N, C, H, W], W = width):
/// x [N,C,H,W]; a1…a5 = relu(conv1…5) [N,W,H−4k']; b1 = relu(tconv1(a5) + a4), b2 = relu(tconv2(b1)),
/// b3 = relu(tconv3(b2) + a2), b4 = relu(tconv4(b3)); y = relu?(tconv5(b4) + x₀) [N,1,H,W] (x₀: channel 0).
public struct REDCNNActivations: Sendable {
    public var x, a1, a2, a3, a4, a5, b1, b2, b3, b4, y: Tensor

    /// The saved tensors in forward order with their names (for oracle comparisons).
    public var named: [(String, Tensor)] {
        [("x", x), ("a1", a1), ("a2", a2), ("a3", a3), ("a4", a4), ("a5", a5), ("b1", b1), ("b2", b2), ("b3", b3),
         ("b4", b4), ("y", y)]
    }
}

public final class REDCNN {
    public let config: REDCNNConfig
    public let layout: ParameterLayout
    /// All parameters, contiguous, in `layout` order.
    public var parameters: [Float]
    public let conv: [Conv2D]
    public let tconv: [TransposedConv2D]
    /// Column-buffer budget for every layer (bounded memory for whole slices).
    public let workspace: Workspace

    public init(config: REDCNNConfig = REDCNNConfig(), initialization: Initialization = .pytorchDefault, seed: UInt64 = 0,
                workspace: Workspace = Workspace()) {
        self.config = config
        self.workspace = workspace
        var layout = ParameterLayout()
        let w = config.width, k = config.kernel
        var convs: [Conv2D] = []
        for i in 1...5 {
            convs.append(Conv2D(name: "conv\(i)", inChannels: i == 1 ? config.inputChannels : w, outChannels: w, kernel: k, layout: &layout))
        }
        var tconvs: [TransposedConv2D] = []
        for i in 1...5 {
            tconvs.append(TransposedConv2D(name: "tconv\(i)", inChannels: w, outChannels: i == 5 ? 1 : w, kernel: k,
                                           layout: &layout))
        }
        conv = convs
        tconv = tconvs
        self.layout = layout
        parameters = [Float](repeating: 0, count: layout.count)
        var rng = SeededGenerator(seed: seed)
        ParameterInit.initialize(&parameters, layout: layout, method: initialization, rng: &rng)
    }

    public var parameterCount: Int { layout.count }

    /// Zeroes tconv5's weight and bias: the residual branch then outputs 0 and the network is the
    /// identity on non-negative input (its global shortcut), the start a short training wants.
    public func zeroLastLayer() {
        for name in ["tconv5.weight", "tconv5.bias"] {
            guard let v = layout.view(name) else { continue }
            for i in v.offset..<(v.offset + v.count) { parameters[i] = 0 }
        }
    }

    /// Adds `hu` to every output pixel (through tconv5's bias: the last layer's output is summed
    /// with the input before the final ReLU, so the shift is exact wherever the output is above
    /// −huOffset HU, i.e. everywhere but air clipped at the bottom of the range). `ldct tune
    /// --correct-hu` uses it to cancel a network's mean CT-number shift in soft tissue.
    public func shiftOutput(hu: Float) {
        guard let v = layout.view("tconv5.bias") else { return }
        for i in v.offset..<(v.offset + v.count) { parameters[i] += hu / config.huScale }
    }

    /// A copy with the noise-level channel added and zero weights on it: the same network (its
    /// output does not depend on the channel's value), the start of a fine-tune that learns to use
    /// it. Returns self's copy unchanged when the channel is already there.
    public func addingNoiseLevelChannel() -> REDCNN {
        var c = config
        c.noiseLevelChannel = true
        let out = REDCNN(config: c, initialization: .gaussian(sigma: 0), workspace: workspace)
        guard !config.noiseLevelChannel else {
            out.parameters = parameters
            return out
        }
        for view in layout.views {
            guard let target = out.layout.view(view.name) else { continue }
            if view.name == "conv1.weight" {
                // [W, 1, k, k] → [W, 2, k, k]: each filter's image taps, then zeros.
                let taps = config.kernel * config.kernel
                for o in 0..<config.width {
                    for t in 0..<taps { out.parameters[target.offset + o * 2 * taps + t] = parameters[view.offset + o * taps + t] }
                }
            } else {
                out.parameters.replaceSubrange(target.offset..<target.offset + target.count,
                                               with: parameters[view.offset..<view.offset + view.count])
            }
        }
        return out
    }

    /// The network's input for one slice [1, C, H, W]: the normalised slice, and with the
    /// noise-level channel `noiseLevel` (`NoiseLevel.channelValue`) in every pixel of channel 1.
    public func input(normalized: [Float], rows: Int, columns: Int, noiseLevel: Float) -> Tensor {
        var data = normalized
        if config.noiseLevelChannel { data += [Float](repeating: noiseLevel, count: rows * columns) }
        return Tensor(shape: [1, config.inputChannels, rows, columns], data: data)
    }

    /// Channel 0 of [N, C, H, W] (the slice: what the global shortcut adds); x itself when C = 1.
    func imageChannel(_ x: Tensor) -> Tensor {
        guard x.c > 1 else { return x }
        let plane = x.h * x.w
        var y = Tensor(uninitialized: [x.n, 1, x.h, x.w])
        for i in 0..<x.n { y.data.replaceSubrange(i * plane..<(i + 1) * plane, with: x.data[i * x.c * plane..<(i * x.c + 1) * plane]) }
        return y
    }

    /// Forward pass on normalised input [N, C, H, W]; returns the output and the saved values.
    /// Shortcut sums and ReLUs run in each layer's epilogue, band by band.
    public func forward(_ x: Tensor) -> REDCNNActivations {
        checkInput(x)
        return parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            func c(_ i: Int, _ input: Tensor) -> Tensor { conv[i].forward(input, params: p, workspace: workspace, epilogue: .relu) }
            func t(_ i: Int, _ input: Tensor, _ e: Epilogue) -> Tensor { tconv[i].forward(input, params: p, workspace: workspace, epilogue: e) }
            let a1 = c(0, x), a2 = c(1, a1), a3 = c(2, a2), a4 = c(3, a3), a5 = c(4, a4)
            let b1 = t(0, a5, Epilogue(residual: a4, relu: true))
            let b2 = t(1, b1, .relu)
            let b3 = t(2, b2, Epilogue(residual: a2, relu: true))
            let b4 = t(3, b3, .relu)
            let y = t(4, b4, Epilogue(residual: imageChannel(x), relu: config.finalReLU))
            return REDCNNActivations(x: x, a1: a1, a2: a2, a3: a3, a4: a4, a5: a5, b1: b1, b2: b2, b3: b3, b4: b4, y: y)
        }
    }

    /// Forward for inference: keeps only what later layers need (x, a2, a4), and the shortcut
    /// layers (tconv1, tconv3) write their output into the shortcut's own storage, so a 512² slice
    /// at width 96 holds at most three activations (≈ 100 MB each) plus the column budget.
    public func infer(_ x: Tensor) -> Tensor {
        checkInput(x)
        return parameters.withUnsafeBufferPointer { pb in
            let p = pb.baseAddress!
            func c(_ i: Int, _ input: Tensor) -> Tensor { conv[i].forward(input, params: p, workspace: workspace, epilogue: .relu) }
            let a2 = c(1, c(0, x))
            let a4 = c(3, c(2, a2))
            let a5 = c(4, a4)
            var h = tconv[0].forward(a5, params: p, workspace: workspace, addingTo: consume a4, relu: true)
            h = tconv[1].forward(h, params: p, workspace: workspace, epilogue: .relu)
            h = tconv[2].forward(h, params: p, workspace: workspace, addingTo: consume a2, relu: true)
            h = tconv[3].forward(h, params: p, workspace: workspace, epilogue: .relu)
            return tconv[4].forward(h, params: p, workspace: workspace, epilogue: Epilogue(residual: imageChannel(x), relu: config.finalReLU))
        }
    }

    private func checkInput(_ x: Tensor) {
        precondition(x.shape.count == 4 && x.c == config.inputChannels,
                     "RED-CNN input must be [N, \(config.inputChannels), H, W], got \(x.shape)")
        precondition(x.h >= config.minimumInput && x.w >= config.minimumInput,
                     "RED-CNN input must be at least \(config.minimumInput)×\(config.minimumInput)")
    }

    /// Backward pass: gradients of every parameter (same layout as `parameters`) for dL/dy.
    public func backward(_ s: REDCNNActivations, outputGradient dy: Tensor) -> [Float] {
        var grads = [Float](repeating: 0, count: layout.count)
        parameters.withUnsafeBufferPointer { pb in
            grads.withUnsafeMutableBufferPointer { gb in
                let p = pb.baseAddress!, g = gb.baseAddress!
                var d = dy
                if config.finalReLU { ReLU.backward(&d, output: s.y) }
                // d is dL/d(tconv5 out); the shortcut to x needs no parameters.
                var db4 = tconv[4].backward(s.b4, dy: d, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&db4, output: s.b4)
                var db3 = tconv[3].backward(s.b3, dy: db4, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&db3, output: s.b3)
                let ds3 = db3  // to tconv3 and, through the shortcut, to a2
                var db2 = tconv[2].backward(s.b2, dy: ds3, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&db2, output: s.b2)
                var db1 = tconv[1].backward(s.b1, dy: db2, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&db1, output: s.b1)
                let ds1 = db1  // to tconv1 and to a4
                var da5 = tconv[0].backward(s.a5, dy: ds1, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&da5, output: s.a5)
                var da4 = conv[4].backward(s.a4, dy: da5, params: p, grads: g, workspace: workspace)!
                Residual.add(&da4, ds1)
                ReLU.backward(&da4, output: s.a4)
                var da3 = conv[3].backward(s.a3, dy: da4, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&da3, output: s.a3)
                var da2 = conv[2].backward(s.a2, dy: da3, params: p, grads: g, workspace: workspace)!
                Residual.add(&da2, ds3)
                ReLU.backward(&da2, output: s.a2)
                var da1 = conv[1].backward(s.a1, dy: da2, params: p, grads: g, workspace: workspace)!
                ReLU.backward(&da1, output: s.a1)
                _ = conv[0].backward(s.x, dy: da1, params: p, grads: g, workspace: workspace, inputGradient: false)
            }
        }
        return grads
    }

    /// A view of one named parameter tensor.
    public func tensor(_ name: String) -> Tensor? {
        guard let v = layout.view(name) else { return nil }
        return Tensor(shape: v.shape, data: Array(parameters[v.offset..<v.offset + v.count]))
    }

    // MARK: normalisation

    public func normalize(_ hu: Float) -> Float { (hu + config.huOffset) / config.huScale }
    public func denormalize(_ v: Float) -> Float { v * config.huScale - config.huOffset }
}
