import ConvNet
import Foundation

/// Self-ensemble ("test-time augmentation"): the network runs on N mirrored or rotated views of a
/// slice, each output is turned back, and the N are averaged. A convolutional network is not
/// exactly mirror-symmetric, so its errors differ between views and partly cancel; the average is
/// symmetric under the views' group. Costs N network passes per slice. Measured with the bundled
/// model at 8 views (docs/model-card.md; attempt 14 of docs/default-model-training.md): +0.15 …
/// +0.20 dB and +0.001 … +0.003 SSIM on the held-out patient and the pydicom slices.
///
/// Views, in the order they are added: 1 = the slice; 2 = + left–right mirror; 4 = + top–bottom
/// mirror and the 180° rotation (all mirrors); 8 = + the same four transposed (the rotations by
/// ±90° and the two diagonal mirrors: the whole dihedral group of the square).
public struct ViewEnsemble: Sendable, Equatable, CustomStringConvertible {
    /// One view: optionally transpose, then optionally mirror columns (left–right) and rows.
    public struct View: Sendable, Equatable {
        public var transpose: Bool
        public var mirrorColumns: Bool
        public var mirrorRows: Bool

        /// [1, C, H, W] → the view ([1, C, W, H] when transposed), every channel alike.
        public func apply(_ x: Tensor) -> Tensor {
            var y = transpose ? Self.transposed(x) : x
            if mirrorColumns || mirrorRows { y = Self.mirrored(y, columns: mirrorColumns, rows: mirrorRows) }
            return y
        }

        /// The inverse of `apply` (mirrors are their own inverse; the transpose comes last).
        public func invert(_ y: Tensor) -> Tensor {
            var x = y
            if mirrorColumns || mirrorRows { x = Self.mirrored(x, columns: mirrorColumns, rows: mirrorRows) }
            return transpose ? Self.transposed(x) : x
        }

        static func transposed(_ x: Tensor) -> Tensor {
            let (h, w) = (x.h, x.w)
            var y = Tensor(zeros: [x.n, x.c, w, h])
            x.data.withUnsafeBufferPointer { src in
                y.data.withUnsafeMutableBufferPointer { dst in
                    for p in 0..<x.n * x.c {
                        let o = p * h * w
                        for r in 0..<h { for c in 0..<w { dst[o + c * h + r] = src[o + r * w + c] } }
                    }
                }
            }
            return y
        }

        static func mirrored(_ x: Tensor, columns: Bool, rows: Bool) -> Tensor {
            let (h, w) = (x.h, x.w)
            var y = Tensor(zeros: x.shape)
            x.data.withUnsafeBufferPointer { src in
                y.data.withUnsafeMutableBufferPointer { dst in
                    for p in 0..<x.n * x.c {
                        let o = p * h * w
                        for r in 0..<h {
                            let sr = rows ? h - 1 - r : r
                            for c in 0..<w { dst[o + r * w + c] = src[o + sr * w + (columns ? w - 1 - c : c)] }
                        }
                    }
                }
            }
            return y
        }
    }

    /// 1, 2, 4 or 8.
    public let count: Int
    public let views: [View]

    public static let allowedCounts = [1, 2, 4, 8]
    /// The network's output as it is (one pass).
    public static let single = ViewEnsemble(uncheckedCount: 1)

    /// Nil unless `count` is 1, 2, 4 or 8.
    public init?(count: Int) {
        guard Self.allowedCounts.contains(count) else { return nil }
        self.init(uncheckedCount: count)
    }

    private init(uncheckedCount count: Int) {
        self.count = count
        let mirrors = [(false, false), (true, false), (false, true), (true, true)]
        views = (0..<count).map { k in
            let (columns, rows) = mirrors[k % 4]
            return View(transpose: k >= 4, mirrorColumns: columns, mirrorRows: rows)
        }
    }

    public var isSingle: Bool { count == 1 }

    /// "1", "8": for logs and the restore manifest.
    public var description: String { String(count) }

    /// The mean over the views of view⁻¹(network(view(x))) for a [1, C, H, W] input (the network's
    /// output [1, 1, H, W]; a noise-level channel is constant, so every view carries it unchanged).
    public func run(_ x: Tensor, _ network: (Tensor) -> Tensor) -> Tensor {
        guard count > 1 else { return network(x) }
        var sum: [Double] = []
        var shape = x.shape
        for view in views {
            let y = view.invert(network(view.apply(x)))
            if sum.isEmpty { sum = [Double](repeating: 0, count: y.count); shape = y.shape }
            for i in sum.indices { sum[i] += Double(y.data[i]) }
        }
        var mean = Tensor(zeros: shape)
        let n = Double(count)
        for i in sum.indices { mean.data[i] = Float(sum[i] / n) }
        return mean
    }
}

/// `--ensemble` refused.
public struct EnsembleError: Error, CustomStringConvertible, Equatable {
    public let text: String
    public var description: String {
        "ensemble '\(text)' is not one of \(ViewEnsemble.allowedCounts.map(String.init).joined(separator: ", ")) (views averaged per slice)"
    }

    public init(text: String) { self.text = text }
}

extension ViewEnsemble {
    /// Parses "1", "2", "4" or "8".
    public static func parse(_ text: String) throws -> ViewEnsemble {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), let e = ViewEnsemble(count: n) else {
            throw EnsembleError(text: text)
        }
        return e
    }
}
