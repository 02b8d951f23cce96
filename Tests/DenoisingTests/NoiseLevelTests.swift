import ConvNet
import DICOMIO
@testable import Denoising
import Foundation
import Testing

/// A naive Double RED-CNN (direct loops, no im2col, no BLAS) for any number of input channels:
/// the reference the two-channel path is checked against.
enum NaiveREDCNN {
    /// Valid convolution, weight [O, I, k, k] (PyTorch Conv2d); x [I][H][W] → [O][H−k+1][W−k+1].
    static func conv(_ x: [[[Double]]], _ w: [Float], _ b: [Float], outChannels o: Int, k: Int) -> [[[Double]]] {
        let ic = x.count, h = x[0].count - k + 1, wd = x[0][0].count - k + 1
        return (0..<o).map { oc in
            (0..<h).map { r in
                (0..<wd).map { c in
                    var s = Double(b[oc])
                    for i in 0..<ic { for u in 0..<k { for v in 0..<k { s += Double(w[((oc * ic + i) * k + u) * k + v]) * x[i][r + u][c + v] } } }
                    return s
                }
            }
        }
    }

    /// Transposed convolution, weight [I, O, k, k] (PyTorch ConvTranspose2d); [I][H][W] → [O][H+k−1][W+k−1].
    static func tconv(_ x: [[[Double]]], _ w: [Float], _ b: [Float], outChannels o: Int, k: Int) -> [[[Double]]] {
        let ic = x.count, h = x[0].count, wd = x[0][0].count
        var y = (0..<o).map { oc in [[Double]](repeating: [Double](repeating: Double(b[oc]), count: wd + k - 1), count: h + k - 1) }
        for i in 0..<ic { for oc in 0..<o { for r in 0..<h { for c in 0..<wd {
            let xv = x[i][r][c]
            for u in 0..<k { for v in 0..<k { y[oc][r + u][c + v] += xv * Double(w[((i * o + oc) * k + u) * k + v]) } }
        } } } }
        return y
    }

    static func relu(_ x: [[[Double]]]) -> [[[Double]]] { x.map { $0.map { $0.map { max($0, 0) } } } }
    static func add(_ a: [[[Double]]], _ b: [[[Double]]]) -> [[[Double]]] {
        zip(a, b).map { zip($0, $1).map { zip($0, $1).map { $0 + $1 } } }
    }

    /// The output [H][W] of `model` for one item [C][H][W].
    static func forward(_ model: REDCNN, _ x: [[[Double]]]) -> [[Double]] {
        func p(_ name: String) -> [Float] {
            guard let v = model.layout.view(name) else { return [] }
            return Array(model.parameters[v.offset..<v.offset + v.count])
        }
        let w = model.config.width, k = model.config.kernel
        func c(_ i: Int, _ t: [[[Double]]]) -> [[[Double]]] { relu(conv(t, p("conv\(i).weight"), p("conv\(i).bias"), outChannels: w, k: k)) }
        func t(_ i: Int, _ v: [[[Double]]], out: Int = 0) -> [[[Double]]] {
            tconv(v, p("tconv\(i).weight"), p("tconv\(i).bias"), outChannels: out == 0 ? w : out, k: k)
        }
        let a1 = c(1, x), a2 = c(2, a1), a3 = c(3, a2), a4 = c(4, a3), a5 = c(5, a4)
        let b1 = relu(add(t(1, a5), a4)), b2 = relu(t(2, b1)), b3 = relu(add(t(3, b2), a2)), b4 = relu(t(4, b3))
        var y = add(t(5, b4, out: 1), [x[0]])
        if model.config.finalReLU { y = relu(y) }
        return y[0]
    }
}

@Suite("Noise-level channel: the blind estimate, a two-channel RED-CNN, files, merges and restoring")
struct NoiseLevelTests {
    /// A flat 60 HU slice (soft tissue) with white noise σ, seeded.
    func flat(_ side: Int, sigma: Float, seed: UInt64) -> SliceImage {
        SliceImage(rows: side, columns: side, hu: gaussians(side * side, seed: seed).map { 60 + sigma * $0 })
    }

    @Test("the blind estimate reads white noise's σ within 5 %, ignores padding and a bone edge, and has fallbacks")
    func estimate() {
        for sigma: Float in [10, 20, 40] {
            let s = flat(128, sigma: sigma, seed: UInt64(sigma))
            let e = NoiseLevel.estimate(hu: s.hu, rows: 128, columns: 128)
            #expect(abs(e / sigma - 1) < 0.05, "σ \(sigma): read \(e)")
        }
        // Padding (wild values) changes nothing when masked; a 1000 HU block (bone) is not soft tissue.
        var s = flat(128, sigma: 20, seed: 3)
        let plain = NoiseLevel.estimate(hu: s.hu, rows: 128, columns: 128)
        s.paddingMask = [UInt8](repeating: 0, count: s.hu.count)
        for r in 0..<128 { for c in 0..<20 { s.hu[r * 128 + c] = (r + c) % 2 == 0 ? -3024 : 3000; s.paddingMask[r * 128 + c] = 1 } }
        for r in 40..<80 { for c in 60..<100 { s.hu[r * 128 + c] += 1000 } }
        let masked = NoiseLevel.estimate(hu: s.hu, rows: 128, columns: 128, paddingMask: s.paddingMask)
        #expect(abs(masked / plain - 1) < 0.06, "plain \(plain), padded and boned \(masked)")
        // No soft tissue (fat at −100 HU): the body estimate; a tiny slice: the whole slice; nothing: 0.
        let fat = flat(64, sigma: 30, seed: 4).hu.map { $0 - 160 }
        #expect(abs(NoiseLevel.estimate(hu: fat, rows: 64, columns: 64) / 30 - 1) < 0.1)
        let tiny = flat(8, sigma: 30, seed: 5)
        let t = NoiseLevel.estimate(hu: tiny.hu, rows: 8, columns: 8)
        #expect(t.isFinite && t > 10)
        #expect(NoiseLevel.estimate(hu: [], rows: 0, columns: 0) == 0)
        #expect(NoiseLevel.channelValue(sigma: 50) == 2)
    }

    @Test("two input channels: forward equals a naive Double RED-CNN; the shortcut adds channel 0 only")
    func naiveReference() {
        var rng = SeededGenerator(seed: 31)
        let model = REDCNN(config: REDCNNConfig(width: 3, noiseLevelChannel: true), seed: 7)
        #expect(model.layout.view("conv1.weight")?.shape == [3, 2, 5, 5])
        let (h, w) = (23, 22)
        let image = (0..<h * w).map { _ in 0.2 + 0.3 * rng.uniform() }
        let x = model.input(normalized: image, rows: h, columns: w, noiseLevel: 1.6)
        #expect(x.shape == [1, 2, h, w] && x.data[h * w..<2 * h * w].allSatisfy { $0 == 1.6 })
        let reference = NaiveREDCNN.forward(model, (0..<2).map { ch in (0..<h).map { r in (0..<w).map { c in Double(x.data[(ch * h + r) * w + c]) } } })
        let flatReference = reference.flatMap { $0 }
        for y in [model.infer(x), model.forward(x).y] {
            #expect(y.shape == [1, 1, h, w])
            let err = zip(y.data, flatReference).map { abs(Double($0) - $1) }.max() ?? 1
            #expect(err < 1e-5, "largest difference from the naive network \(err)")
        }
    }

    @Test("two-channel gradients pass a finite-difference check, the channel's weights included")
    func gradient() throws {
        var rng = SeededGenerator(seed: 41)
        let model = REDCNN(config: REDCNNConfig(width: 3, finalReLU: false, noiseLevelChannel: true), seed: 9)
        let (h, w) = (22, 21)
        let x = model.input(normalized: (0..<h * w).map { _ in 0.2 + 0.3 * rng.uniform() }, rows: h, columns: w, noiseLevel: 0.8)
        let target = Tensor(shape: [1, 1, h, w], data: x.data[0..<h * w].map { $0 + 0.05 * (rng.uniform() - 0.5) })
        let saved = model.forward(x)
        let grads = model.backward(saved, outputGradient: Losses.mse(saved.y, target).gradient)
        let base = model.parameters
        func loss(_ p: [Float]) -> Double {
            model.parameters = p
            defer { model.parameters = base }
            return Losses.mse(model.forward(x).y, target).loss
        }
        // A random direction over all weights, and one over the noise channel's taps alone.
        let conv1 = try #require(model.layout.view("conv1.weight"))
        var channelOnly = [Float](repeating: 0, count: base.count)
        for o in 0..<3 { for t in 0..<25 { channelOnly[conv1.offset + (o * 2 + 1) * 25 + t] = 2 * rng.uniform() - 1 } }
        for v in [(0..<base.count).map { _ in 2 * rng.uniform() - 1 }, channelOnly] {
            let eps: Float = 1e-3
            let numeric = (loss(zip(base, v).map { $0 + eps * $1 }) - loss(zip(base, v).map { $0 - eps * $1 })) / (2 * Double(eps))
            let exact = zip(grads, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(exact) > 1e-9 && abs(numeric - exact) / abs(exact) < 2e-2, "numeric \(numeric) vs analytic \(exact)")
        }
    }

    @Test("adding the channel keeps the network: same output whatever the level; its taps start at zero")
    func addingChannel() throws {
        var rng = SeededGenerator(seed: 51)
        let plain = REDCNN(config: REDCNNConfig(width: 4), seed: 3)
        let two = plain.addingNoiseLevelChannel()
        #expect(two.config.noiseLevelChannel && !plain.config.noiseLevelChannel)
        let image = (0..<30 * 26).map { _ in 0.2 + 0.3 * rng.uniform() }
        let y = plain.infer(Tensor(shape: [1, 1, 30, 26], data: image)).data
        for level: Float in [0, 0.7, 5] {
            let y2 = two.infer(two.input(normalized: image, rows: 30, columns: 26, noiseLevel: level)).data
            #expect(relError(y2, y) < 1e-6, "level \(level): \(relError(y2, y))")
        }
        let c1 = try #require(two.tensor("conv1.weight")), old = try #require(plain.tensor("conv1.weight"))
        for o in 0..<4 {
            #expect(Array(c1.data[(o * 2) * 25..<(o * 2 + 1) * 25]) == Array(old.data[o * 25..<(o + 1) * 25]))
            #expect(c1.data[(o * 2 + 1) * 25..<(o * 2 + 2) * 25].allSatisfy { $0 == 0 })
        }
        #expect(try #require(two.tensor("tconv5.weight")) == (try #require(plain.tensor("tconv5.weight"))))
        #expect(two.addingNoiseLevelChannel().parameters == two.parameters)
        // At the paper's width the channel adds 96 × 25 taps.
        #expect(REDCNN(config: REDCNNConfig(width: 96, noiseLevelChannel: true)).parameterCount == 1_848_865 + 2_400)
    }

    @Test("files: a two-channel model saves and loads with its estimator named; other estimators and a channel-less key are refused")
    func files() throws {
        let dir = NSTemporaryDirectory() + "ldct-noise-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = REDCNN(config: REDCNNConfig(width: 4, noiseLevelChannel: true), seed: 2)
        try ModelFile.save(model, to: dir + "/two.safetensors")
        let (back, meta) = try ModelFile.load(dir + "/two.safetensors")
        #expect(back.config == model.config && back.parameters == model.parameters)
        #expect(meta[NoiseLevel.metadataKey] == NoiseLevel.estimator)
        #expect(ModelFile.fingerprint(back) != ModelFile.fingerprint(REDCNN(config: REDCNNConfig(width: 4), seed: 2)))
        // A plain PyTorch export (no metadata) with two input channels loads as ours.
        var file = try SafeTensors.read(dir + "/two.safetensors")
        file.metadata = [:]
        try file.write(to: dir + "/export.safetensors")
        #expect(try ModelFile.load(dir + "/export.safetensors").model.config.noiseLevelChannel)
        file.metadata = [NoiseLevel.metadataKey: "someone-else-v9"]
        try file.write(to: dir + "/other.safetensors")
        #expect(throws: ConvNetError.malformed(file: dir + "/other.safetensors",
                                               reason: "its noise-level channel was made by an estimator this version does not have (someone-else-v9)")) {
            try ModelFile.load(dir + "/other.safetensors")
        }
        try ModelFile.save(REDCNN(config: REDCNNConfig(width: 4), seed: 2), to: dir + "/one.safetensors")
        var one = try SafeTensors.read(dir + "/one.safetensors")
        one.metadata[NoiseLevel.metadataKey] = NoiseLevel.estimator
        try one.write(to: dir + "/one-keyed.safetensors")
        #expect(throws: ConvNetError.malformed(file: dir + "/one-keyed.safetensors",
                                               reason: "metadata names a noise-level channel, but conv1.weight has one input channel")) {
            try ModelFile.load(dir + "/one-keyed.safetensors")
        }
        // Three input channels is no RED-CNN of ours.
        var three = file
        three.metadata = [:]
        let c1 = try #require(three.tensors["conv1.weight"])
        three.tensors["conv1.weight"] = Tensor(shape: [4, 3, 5, 5], data: c1.data + [Float](repeating: 0, count: 100))
        try three.write(to: dir + "/three.safetensors")
        #expect(throws: ConvNetError.shapeMismatch(file: dir + "/three.safetensors", name: "conv1.weight", expected: [-1, 1, 5, 5], found: [4, 3, 5, 5])) {
            try ModelFile.load(dir + "/three.safetensors")
        }
    }

    @Test("a one-channel model merges with a two-channel one as its zero-tapped self")
    func merge() throws {
        let plain = REDCNN(config: REDCNNConfig(width: 4), seed: 1)
        let two = REDCNN(config: REDCNNConfig(width: 4, noiseLevelChannel: true), seed: 2)
        let expected = try ModelMerge.interpolate(base: plain.addingNoiseLevelChannel(), tuned: two, weight: 0.8)
        for (a, b) in [(plain, two), (two, plain)] {
            let merged = try ModelMerge.interpolate(base: a, tuned: b, weight: a === plain ? 0.8 : 0.2)
            #expect(merged.config.noiseLevelChannel)
            #expect(relError(merged.parameters, expected.parameters) < 1e-6)
        }
        let meta = ModelMerge.metadata(base: ("a", plain, [:]), tuned: ("b", two, [NoiseLevel.metadataKey: NoiseLevel.estimator]), weight: 0.8)
        #expect(meta[NoiseLevel.metadataKey] == nil, "ModelFile.save writes it from the merged network itself")
    }

    @Test("restoring: the level is measured on the slice, reaches the network, and an ensemble carries it to every view")
    func restoring() throws {
        var model = REDCNN(config: REDCNNConfig(width: 4, noiseLevelChannel: true), seed: 6)
        // Strong taps on the channel, so that its value shows in the output.
        let conv1 = try #require(model.layout.view("conv1.weight"))
        for o in 0..<4 { for t in 0..<25 { model.parameters[conv1.offset + (o * 2 + 1) * 25 + t] = 0.05 } }
        let quiet = flat(40, sigma: 10, seed: 7), noisy = flat(40, sigma: 40, seed: 7)
        let restorer = SliceRestorer(model: model)
        let (_, detail) = restorer.restoreWithDetail(noisy)
        let level = try #require(detail.noiseLevel)
        #expect(abs(level / 40 - 1) < 0.15, "measured \(level)")
        #expect(restorer.networkOutput(noisy).hu == restorer.networkOutput(noisy, noiseLevel: level).hu)
        #expect(restorer.networkOutput(noisy, noiseLevel: 10).hu != restorer.networkOutput(noisy, noiseLevel: 80).hu)
        #expect(SliceRestorer(model: REDCNN(config: REDCNNConfig(width: 4), seed: 6)).restoreWithDetail(quiet).detail.noiseLevel == nil)
        // Eight views: each sees the same constant level, so the mean equals the views run by hand.
        let eight = SliceRestorer(model: model, ensemble: try #require(ViewEnsemble(count: 8)))
        let x = model.input(normalized: noisy.hu.map(model.normalize), rows: 40, columns: 40, noiseLevel: NoiseLevel.channelValue(sigma: level))
        var sum = [Double](repeating: 0, count: 1600)
        for v in try #require(ViewEnsemble(count: 8)).views {
            let y = v.invert(model.infer(v.apply(x)))
            #expect(y.shape == [1, 1, 40, 40])
            for i in sum.indices { sum[i] += Double(y.data[i]) }
        }
        let byHand = sum.map { model.denormalize(Float($0 / 8)) }
        let out = eight.networkOutput(noisy).hu
        #expect(zip(out, byHand).map { abs($0 - $1) }.max() ?? 1 < 1e-2)
        model = model.addingNoiseLevelChannel()
        #expect(model.config.inputChannels == 2)
    }
}
