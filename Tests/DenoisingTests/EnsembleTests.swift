import ConvNet
import DICOMIO
import Denoising
import Foundation
import Testing

@Suite("Self-ensemble: views, their inverses, a symmetric average")
struct EnsembleTests {
    /// [1, 1, h, w] holding 0, 1, 2, … (every pixel different).
    func ramp(_ h: Int, _ w: Int) -> Tensor {
        var t = Tensor(zeros: [1, 1, h, w])
        for i in 0..<t.count { t.data[i] = Float(i) }
        return t
    }

    /// The slice mirrored left–right (`columns`) and/or top–bottom, or transposed.
    func turned(_ s: SliceImage, columns: Bool = false, rows: Bool = false, transpose: Bool = false) -> SliceImage {
        let (h, w) = (s.rows, s.columns)
        var out = SliceImage(rows: transpose ? w : h, columns: transpose ? h : w, hu: s.hu)
        for r in 0..<out.rows {
            for c in 0..<out.columns {
                var (sr, sc) = transpose ? (c, r) : (r, c)
                if columns { sc = w - 1 - sc }
                if rows { sr = h - 1 - sr }
                out.hu[r * out.columns + c] = s.hu[sr * w + sc]
            }
        }
        return out
    }

    @Test("1, 2, 4, 8 views: distinct, each undone by its inverse (non-square too); other counts refused")
    func views() throws {
        let x = ramp(5, 7)
        let eight = try #require(ViewEnsemble(count: 8))
        var seen: [[Float]] = []
        for v in eight.views {
            let y = v.apply(x)
            #expect(y.shape == (v.transpose ? [1, 1, 7, 5] : [1, 1, 5, 7]))
            #expect(v.invert(y).data == x.data && v.invert(y).shape == x.shape)
            #expect(!seen.contains(y.data), "view \(v) repeats another")
            seen.append(y.data)
        }
        // Left–right mirror: row 0 of 0…6 becomes 6…0.
        let two = try #require(ViewEnsemble(count: 2))
        #expect(Array(two.views[1].apply(x).data[0..<7]) == [6, 5, 4, 3, 2, 1, 0])
        #expect(ViewEnsemble(count: 4)?.views.allSatisfy { !$0.transpose } == true)
        #expect(ViewEnsemble.single.views.count == 1 && ViewEnsemble.single.isSingle)
        for bad in [0, 3, 5, 16, -1] { #expect(ViewEnsemble(count: bad) == nil) }
        #expect(try ViewEnsemble.parse(" 4 ").count == 4)
        #expect(throws: EnsembleError(text: "3")) { try ViewEnsemble.parse("3") }
    }

    @Test("2 views = mean of the network and its mirrored run; 8 views make restore mirror- and transpose-symmetric, 1 does not")
    func symmetric() throws {
        let model = REDCNN(config: REDCNNConfig(width: 4), seed: 5)
        let image = SliceImage(rows: 36, columns: 28, hu: gaussians(36 * 28, seed: 8).map { 40 + 30 * $0 })
        let single = SliceRestorer(model: model)
        let two = SliceRestorer(model: model, ensemble: try #require(ViewEnsemble(count: 2)))
        let plain = single.networkOutput(image).hu
        let mirroredRun = turned(single.networkOutput(turned(image, columns: true)), columns: true).hu
        let pair = two.networkOutput(image).hu
        for i in plain.indices { #expect(abs(pair[i] - (plain[i] + mirroredRun[i]) / 2) < 1e-3) }

        func largestAsymmetry(_ r: SliceRestorer, columns: Bool = false, rows: Bool = false, transpose: Bool = false) -> Float {
            let a = turned(r.restore(image), columns: columns, rows: rows, transpose: transpose).hu
            let b = r.restore(turned(image, columns: columns, rows: rows, transpose: transpose)).hu
            return zip(a, b).map { abs($0 - $1) }.max() ?? 0
        }
        let eight = SliceRestorer(model: model, ensemble: try #require(ViewEnsemble(count: 8)))
        let four = SliceRestorer(model: model, ensemble: try #require(ViewEnsemble(count: 4)))
        #expect(largestAsymmetry(single, columns: true) > 0.05, "a random network should not be mirror-symmetric")
        #expect(largestAsymmetry(eight, columns: true) < 1e-3)
        #expect(largestAsymmetry(eight, rows: true) < 1e-3)
        #expect(largestAsymmetry(eight, transpose: true) < 1e-3)
        #expect(largestAsymmetry(four, rows: true) < 1e-3)
        #expect(largestAsymmetry(four, transpose: true) > 0.05, "4 views are the mirrors only")
        // Padding keeps its HU under an ensemble too.
        var padded = image
        padded.paddingMask = [UInt8](repeating: 0, count: image.hu.count)
        for i in 0..<28 { padded.paddingMask[i] = 1; padded.hu[i] = -3024 }
        #expect(eight.restore(padded).hu[0..<28].allSatisfy { $0 == -3024 })
    }
}
