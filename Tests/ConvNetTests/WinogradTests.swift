@testable import ConvNet
import Foundation
import Testing

/// Named tolerances of the Winograd path (relative to the largest |value| of the tensor, ≥ 1).
/// F(4×4, 5×5) evaluates at ±2 and ±½, so its transforms lose a few bits more than im2col (1e-6).
enum WinogradTolerance {
    /// One layer against the naive Double convolution, inputs and weights in [−1, 1].
    static let layer = 2e-5
    /// One layer, F(2×2, 5×5) and F(3×3, 5×5) (fewer, smaller points).
    static let smallTile = 5e-6
    /// Weight and bias gradients (sums over every pixel of a batch) against the im2col path.
    static let gradient = 5e-5
}

/// Shapes: (N, Cin, Cout, H, W, k, padding): stride-1 layers, the last tile row/column sticking
/// out, images smaller than a tile, RED-CNN's valid and full paddings, batches.
let winogradShapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 1, 1, 5, 5, 5, 0),       // one output pixel
    (2, 3, 5, 9, 7, 5, 0),       // RED-CNN's conv, non-square, partial tiles
    (2, 4, 3, 7, 11, 5, 4),      // RED-CNN's transposed conv as a full convolution
    (1, 6, 6, 13, 13, 5, 2),     // "same" padding
    (3, 8, 8, 16, 16, 5, 0),     // whole tiles, batch
    (1, 5, 4, 12, 9, 3, 1),      // 3×3 kernel: F(6×6, 3×3)
    (1, 2, 3, 8, 8, 7, 3),       // 7×7 kernel: F(2×2, 7×7)
    (2, 3, 2, 6, 45, 5, 4),      // 13 tiles per row: runs of eight (the AVX2 transposes) and a rest
]

@Suite("ConvNet: Winograd convolution against a naive Double convolution and im2col")
struct WinogradTests {
    @Test("transform matrices satisfy the Toom-Cook identity", arguments: [(2, 5), (3, 5), (4, 5), (6, 3), (2, 7), (2, 3)])
    func identity(_ mr: (Int, Int)) {
        let t = WinogradTransform(m: mr.0, r: mr.1)
        #expect(t.identityError < 1e-10, "F(\(mr.0), \(mr.1)): \(t.identityError)")
        // 1-D check: Aᵀ[(G g) ⊙ (Bᵀ d)] is the correlation of d with g.
        var rng = SeededGenerator(seed: 7)
        let a = t.alpha
        let d = (0..<a).map { _ in Double(rng.uniform()) }, g = (0..<t.r).map { _ in Double(rng.uniform()) }
        let gg = (0..<a).map { j in (0..<t.r).reduce(0.0) { $0 + t.g[j * t.r + $1] * g[$1] } }
        let bd = (0..<a).map { j in (0..<a).reduce(0.0) { $0 + t.bt[j * a + $1] * d[$1] } }
        for i in 0..<t.m {
            let y = (0..<a).reduce(0.0) { $0 + t.at[i * a + $1] * gg[$1] * bd[$1] }
            let expected = (0..<t.r).reduce(0.0) { $0 + g[$1] * d[i + $1] }
            #expect(abs(y - expected) < 1e-12)
        }
    }

    @Test("forward matches the direct convolution, banded and unbanded", arguments: winogradShapes.indices)
    func forward(_ i: Int) {
        let (n, cin, cout, h, w, k, p) = winogradShapes[i]
        var rng = SeededGenerator(seed: 900 + UInt64(i))
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: k, padding: p, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let weight = Tensor(shape: conv.weight.shape, data: Array(params[conv.weight.offset..<conv.weight.offset + conv.weight.count]))
        let bias = Array(params[conv.bias.offset..<conv.bias.offset + cout])
        let expected = directConv(x, weight, bias, stride: 1, padding: p)
        for (budget, target) in [(1, 1), (1 << 22, 1), (1 << 22, 256)] {  // one tile row per band, then whole batches
            let ws = Workspace(maxColumnFloats: budget, algorithm: .winograd)
            ws.winogradTargetTiles = target
            let y = params.withUnsafeBufferPointer { conv.forward(x, params: $0.baseAddress!, workspace: ws) }
            #expect(y.shape == conv.outputShape(x.shape))
            #expect(relativeError(y.data, expected) < WinogradTolerance.layer, "shape \(i), budget \(budget)")
        }
    }

    @Test("smaller tiles F(2×2, 5×5) and F(3×3, 5×5) are more precise than F(4×4, 5×5)")
    func tileSizes() {
        var rng = SeededGenerator(seed: 950)
        let x = randomTensor([1, 16, 20, 20], &rng), weight = randomTensor([16, 16, 5, 5], &rng)
        let bias = [Float](repeating: 0, count: 16)
        let expected = directConv(x, weight, bias, stride: 1, padding: 4)
        let g = ConvGeometry(channels: 16, height: 20, width: 20, kernel: 5, stride: 1, padding: 4)
        var errors: [Int: Double] = [:]
        for m in [2, 3, 4] {
            let t = WinogradTransform(m: m, r: 5)
            var u = [Float](repeating: 0, count: t.alpha * t.alpha * 16 * 16)
            weight.data.withUnsafeBufferPointer { wb in
                u.withUnsafeMutableBufferPointer { Winograd.transformFilters(t, weights: wb.baseAddress!, outChannels: 16, inChannels: 16, into: $0.baseAddress!) }
            }
            let y = u.withUnsafeBufferPointer { ub in
                bias.withUnsafeBufferPointer { bb in
                    winogradConvolution(x, geometry: g, outChannels: 16, transform: t, filters: ub.baseAddress!, bias: bb.baseAddress!,
                                        workspace: Workspace(), epilogue: .none)
                }
            }
            errors[m] = relativeError(y.data, expected)
        }
        #expect(errors[2]! < WinogradTolerance.smallTile && errors[3]! < WinogradTolerance.smallTile)
        #expect(errors[4]! < WinogradTolerance.layer)
        #expect(errors[2]! <= errors[4]!)
    }

    @Test("epilogue (bias, residual, ReLU) and transposed convolution agree with im2col")
    func epilogueAndTransposed() {
        var rng = SeededGenerator(seed: 960)
        var layout = ParameterLayout()
        let t = TransposedConv2D(name: "t", inChannels: 12, outChannels: 10, kernel: 5, layout: &layout)
        let params = randomTensor([layout.count], &rng, scale: 0.2).data
        let x = randomTensor([2, 12, 11, 14], &rng)
        let residual = randomTensor(t.outputShape(x.shape), &rng)
        let e = Epilogue(residual: residual, relu: true)
        let run = { (a: ConvolutionAlgorithm) in
            params.withUnsafeBufferPointer { t.forward(x, params: $0.baseAddress!, workspace: Workspace(algorithm: a), epilogue: e) }
        }
        let (reference, fast) = (run(.im2col), run(.winograd))
        #expect(fast.shape == reference.shape)
        #expect(relativeError(fast.data, reference.data) < WinogradTolerance.layer)
        #expect(fast.data.contains(0) && fast.data.contains { $0 > 0 })  // the ReLU did something
    }

    @Test("auto keeps im2col for layers with one channel and for strided layers")
    func autoChoice() {
        let g = ConvGeometry(channels: 1, height: 32, width: 32, kernel: 5)
        #expect(!Winograd.applies(.auto, g, outChannels: 96))
        #expect(Winograd.applies(.winograd, g, outChannels: 96))
        #expect(Winograd.applies(.auto, ConvGeometry(channels: 96, height: 32, width: 32, kernel: 5, padding: 4), outChannels: 96))
        #expect(!Winograd.applies(.auto, ConvGeometry(channels: 96, height: 32, width: 32, kernel: 5, stride: 2), outChannels: 96))
        #expect(!Winograd.applies(.winograd, ConvGeometry(channels: 96, height: 32, width: 32, kernel: 9), outChannels: 96))
        #expect(!Winograd.applies(.im2col, ConvGeometry(channels: 96, height: 32, width: 32, kernel: 5), outChannels: 96))
    }
}

@Suite("ConvNet: Winograd backward passes against im2col and finite differences")
struct WinogradBackwardTests {
    /// Shapes (N, Cin, Cout, H, W, padding) of stride-1 5×5 layers: valid, full, same.
    static let shapes: [(Int, Int, Int, Int, Int, Int)] = [(2, 3, 4, 11, 9, 0), (3, 5, 2, 7, 8, 4), (1, 4, 4, 10, 10, 2), (2, 2, 3, 9, 41, 2)]

    @Test("Conv2D: dW, db and dx agree with the im2col path", arguments: shapes.indices)
    func conv(_ i: Int) {
        let (n, cin, cout, h, w, p) = Self.shapes[i]
        var rng = SeededGenerator(seed: 970 + UInt64(i))
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: 5, padding: p, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let dy = randomTensor(conv.outputShape(x.shape), &rng)
        func run(_ a: ConvolutionAlgorithm, budget: Int) -> ([Float], [Float]) {
            var grads = [Float](repeating: 0, count: layout.count)
            let dx = params.withUnsafeBufferPointer { pb in
                grads.withUnsafeMutableBufferPointer { gb in
                    conv.backward(x, dy: dy, params: pb.baseAddress!, grads: gb.baseAddress!,
                                  workspace: Workspace(maxColumnFloats: budget, algorithm: a))!
                }
            }
            return (grads, dx.data)
        }
        let (g0, dx0) = run(.im2col, budget: 1 << 20)
        for budget in [1, 1 << 20] {
            let (g1, dx1) = run(.winograd, budget: budget)
            #expect(relativeError(g1, g0) < WinogradTolerance.gradient, "dW/db, budget \(budget)")
            #expect(relativeError(dx1, dx0) < WinogradTolerance.layer, "dx, budget \(budget)")
        }
    }

    @Test("TransposedConv2D: dW, db and dx agree with the im2col path", arguments: shapes.indices)
    func transposed(_ i: Int) {
        let (n, cin, cout, h, w, p) = Self.shapes[i]
        var rng = SeededGenerator(seed: 980 + UInt64(i))
        var layout = ParameterLayout()
        let t = TransposedConv2D(name: "t", inChannels: cin, outChannels: cout, kernel: 5, padding: min(p, 2), layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let dy = randomTensor(t.outputShape(x.shape), &rng)
        func run(_ a: ConvolutionAlgorithm) -> ([Float], [Float]) {
            var grads = [Float](repeating: 0, count: layout.count)
            let dx = params.withUnsafeBufferPointer { pb in
                grads.withUnsafeMutableBufferPointer { gb in
                    t.backward(x, dy: dy, params: pb.baseAddress!, grads: gb.baseAddress!, workspace: Workspace(algorithm: a))!
                }
            }
            return (grads, dx.data)
        }
        let (g0, dx0) = run(.im2col), (g1, dx1) = run(.winograd)
        #expect(relativeError(g1, g0) < WinogradTolerance.gradient)
        #expect(relativeError(dx1, dx0) < WinogradTolerance.layer)
    }

    @Test("Winograd weight gradient matches central finite differences of ⟨conv(x), dy⟩")
    func finiteDifferences() {
        var rng = SeededGenerator(seed: 990)
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: 3, outChannels: 2, kernel: 5, padding: 4, layout: &layout)
        let params = randomTensor([layout.count], &rng, scale: 0.5).data
        let x = randomTensor([2, 3, 6, 7], &rng)
        let dy = randomTensor(conv.outputShape(x.shape), &rng)
        let ws = Workspace(algorithm: .winograd)
        // L(θ) = Σ conv(x; θ) · dy, so dL/dθ is exactly what backward accumulates.
        func loss(_ p: [Float]) -> Double {
            let y = p.withUnsafeBufferPointer { conv.forward(x, params: $0.baseAddress!, workspace: ws) }
            return dot(y.data, dy.data)
        }
        var grads = [Float](repeating: 0, count: layout.count)
        params.withUnsafeBufferPointer { pb in
            grads.withUnsafeMutableBufferPointer { gb in
                _ = conv.backward(x, dy: dy, params: pb.baseAddress!, grads: gb.baseAddress!, workspace: ws, inputGradient: false)
            }
        }
        for index in [0, 7, 24, 31, 77, 149, layout.count - 1] {
            var plus = params, minus = params
            plus[index] += 1e-2
            minus[index] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            #expect(abs(numeric - Double(grads[index])) < 2e-3 * max(1, abs(numeric)), "parameter \(index)")
        }
    }
}
