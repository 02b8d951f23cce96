@testable import ConvNet
import Foundation
import Testing

/// Naive Double-precision direct convolution (cross-correlation), PyTorch semantics.
/// x [N, Cin, H, W], w [Cout, Cin, k, k], b [Cout] → [N, Cout, Hout, Wout].
func directConv(_ x: Tensor, _ w: Tensor, _ b: [Float], stride s: Int, padding p: Int) -> [Double] {
    let (n, cin, h, wd) = (x.n, x.c, x.h, x.w)
    let (cout, k) = (w.shape[0], w.shape[2])
    let ho = (h + 2 * p - k) / s + 1, wo = (wd + 2 * p - k) / s + 1
    var y = [Double](repeating: 0, count: n * cout * ho * wo)
    for b0 in 0..<n { for o in 0..<cout { for i in 0..<ho { for j in 0..<wo {
        var acc = Double(b[o])
        for c in 0..<cin { for ki in 0..<k { for kj in 0..<k {
            let ih = i * s - p + ki, iw = j * s - p + kj
            if ih < 0 || ih >= h || iw < 0 || iw >= wd { continue }
            acc += Double(x.data[((b0 * cin + c) * h + ih) * wd + iw]) * Double(w.data[((o * cin + c) * k + ki) * k + kj])
        } } }
        y[((b0 * cout + o) * ho + i) * wo + j] = acc
    } } } }
    return y
}

/// Naive Double transposed convolution: every input pixel scatters its kernel-weighted value.
/// x [N, Cin, H, W], w [Cin, Cout, k, k] → [N, Cout, (H−1)s − 2p + k, …].
func directTransposedConv(_ x: Tensor, _ w: Tensor, _ b: [Float], stride s: Int, padding p: Int,
                          outputPadding op: Int = 0) -> [Double] {
    let (n, cin, h, wd) = (x.n, x.c, x.h, x.w)
    let (cout, k) = (w.shape[1], w.shape[2])
    let ho = (h - 1) * s - 2 * p + k + op, wo = (wd - 1) * s - 2 * p + k + op
    var y = [Double](repeating: 0, count: n * cout * ho * wo)
    for b0 in 0..<n { for o in 0..<cout { for i in 0..<ho { for j in 0..<wo { y[((b0 * cout + o) * ho + i) * wo + j] = Double(b[o]) } } } }
    for b0 in 0..<n { for c in 0..<cin { for i in 0..<h { for j in 0..<wd {
        let v = Double(x.data[((b0 * cin + c) * h + i) * wd + j])
        for o in 0..<cout { for ki in 0..<k { for kj in 0..<k {
            let oh = i * s - p + ki, ow = j * s - p + kj
            if oh < 0 || oh >= ho || ow < 0 || ow >= wo { continue }
            y[((b0 * cout + o) * ho + oh) * wo + ow] += v * Double(w.data[((c * cout + o) * k + ki) * k + kj])
        } } }
    } } } }
    return y
}

func randomTensor(_ shape: [Int], _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in scale * (2 * rng.uniform() - 1) })
}

/// max |a − b| / max(1, max |b|): one number for a whole tensor.
func relativeError(_ a: [Float], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    let scale = max(1, b.map(abs).max() ?? 0)
    return zip(a, b).map { abs(Double($0) - $1) }.max().map { $0 / scale } ?? 0
}

func relativeError(_ a: [Float], _ b: [Float]) -> Double { relativeError(a, b.map(Double.init)) }

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }
