@testable import ConvNet
import Foundation
import Testing

/// Shapes: (N, Cin, Cout, H, W, k, stride, padding). Includes 1×1 images, kernels as large as the
/// input, strides and paddings.
let convShapes: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 1, 1, 1, 1, 1, 1, 0),     // 1×1 image, 1×1 kernel
    (2, 3, 4, 1, 1, 3, 1, 1),     // 1×1 image, 3×3 kernel with padding
    (1, 2, 3, 5, 5, 5, 1, 0),     // kernel as large as the input
    (2, 3, 5, 9, 7, 5, 1, 0),     // RED-CNN's layer type, non-square
    (1, 4, 2, 8, 10, 3, 2, 1),    // stride 2, padding 1
    (3, 2, 3, 11, 8, 4, 3, 2),    // even kernel, stride 3, uneven division (output padding 2)
    (1, 6, 6, 13, 13, 5, 1, 2),   // "same" padding
]

@Suite("ConvNet: im2col convolution against a naive Double convolution")
struct ConvolutionTests {
    @Test("Conv2D forward matches direct convolution (banded and unbanded)", arguments: convShapes.indices)
    func convForward(_ i: Int) {
        let (n, cin, cout, h, w, k, s, p) = convShapes[i]
        let seed: UInt64 = 100 + UInt64(i)
        var rng = SeededGenerator(seed: seed)
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let weight = Tensor(shape: conv.weight.shape, data: Array(params[conv.weight.offset..<conv.weight.offset + conv.weight.count]))
        let expected = directConv(x, weight, Array(params[conv.bias.offset..<conv.bias.offset + cout]), stride: s, padding: p)
        for budget in [1, 1 << 20] {  // 1 float: one output row per band
            let y = params.withUnsafeBufferPointer { conv.forward(x, params: $0.baseAddress!, workspace: Workspace(maxColumnFloats: budget)) }
            #expect(y.shape == conv.outputShape(x.shape))
            #expect(relativeError(y.data, expected) < 1e-5, "seed \(seed), budget \(budget)")
        }
    }

    @Test("TransposedConv2D forward matches direct transposed convolution", arguments: convShapes.indices)
    func transposedForward(_ i: Int) {
        let (n, cin, cout, h, w, k, s, p) = convShapes[i]
        guard (h - 1) * s - 2 * p + k > 0, (w - 1) * s - 2 * p + k > 0 else { return }
        let seed: UInt64 = 200 + UInt64(i)
        var rng = SeededGenerator(seed: seed)
        var layout = ParameterLayout()
        let op = s > 1 ? s - 1 : 0  // strided cases also exercise output_padding
        let t = TransposedConv2D(name: "t", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p,
                                 outputPadding: op, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let weight = Tensor(shape: t.weight.shape, data: Array(params[t.weight.offset..<t.weight.offset + t.weight.count]))
        let expected = directTransposedConv(x, weight, Array(params[t.bias.offset..<t.bias.offset + cout]), stride: s, padding: p,
                                            outputPadding: op)
        for budget in [1, 1 << 20] {
            let y = params.withUnsafeBufferPointer { t.forward(x, params: $0.baseAddress!, workspace: Workspace(maxColumnFloats: budget)) }
            #expect(y.shape == t.outputShape(x.shape))
            #expect(relativeError(y.data, expected) < 1e-5, "seed \(seed), budget \(budget)")
        }
    }

    @Test("transposed convolution is the adjoint of convolution: ⟨Ax, y⟩ = ⟨x, Aᵀy⟩", arguments: convShapes.indices)
    func adjoint(_ i: Int) {
        let (n, cin, cout, h, w, k, s, p) = convShapes[i]
        var rng = SeededGenerator(seed: 300 + UInt64(i))
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, layout: &layout)
        var tlayout = ParameterLayout()
        // Same weight buffer: Conv2d [Cout, Cin, k, k] is ConvTranspose2d [in = Cout, out = Cin, k, k].
        // When (H + 2p − k) is not a multiple of s the adjoint needs output_padding (the shapes here
        // divide the same way in H and W).
        let op = (h + 2 * p - k) % s
        #expect(op == (w + 2 * p - k) % s)
        let t = TransposedConv2D(name: "t", inChannels: cout, outChannels: cin, kernel: k, stride: s, padding: p,
                                 outputPadding: op, layout: &tlayout)
        var params = randomTensor([layout.count], &rng).data
        for j in conv.bias.offset..<conv.bias.offset + cout { params[j] = 0 }
        let x = randomTensor([n, cin, h, w], &rng)
        let ws = Workspace(maxColumnFloats: 64)
        let ax = params.withUnsafeBufferPointer { conv.forward(x, params: $0.baseAddress!, workspace: ws) }
        let y = randomTensor(ax.shape, &rng)
        var tparams = [Float](repeating: 0, count: tlayout.count)
        tparams.replaceSubrange(0..<conv.weight.count, with: params[0..<conv.weight.count])
        let aty = tparams.withUnsafeBufferPointer { t.forward(y, params: $0.baseAddress!, workspace: ws) }
        // A transposed conv can produce a larger image than x when (H + 2p − k) is not divisible
        // by s; the extra border receives no contribution from x.
        var atyCropped = [Float]()
        for b in 0..<n { for c in 0..<cin { for r in 0..<h { for q in 0..<w {
            atyCropped.append(r < aty.h && q < aty.w ? aty.data[((b * cin + c) * aty.h + r) * aty.w + q] : 0)
        } } } }
        let lhs = dot(ax.data, y.data), rhs = dot(x.data, atyCropped)
        #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)), "⟨Ax,y⟩ = \(lhs), ⟨x,Aᵀy⟩ = \(rhs)")
    }
}
