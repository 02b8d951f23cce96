@testable import ConvNet
import Foundation
import Testing

/// Central-difference directional derivative of f along v, compared with ⟨analytic gradient, v⟩.
func checkDirectional(_ label: String, point: [Float], direction v: [Float], analytic: [Float], epsilon: Float = 1e-2,
                      tolerance: Double = 1e-2, _ f: ([Float]) -> Double, sourceLocation: SourceLocation = #_sourceLocation) {
    let plus = zip(point, v).map { $0 + epsilon * $1 }
    let minus = zip(point, v).map { $0 - epsilon * $1 }
    let numeric = (f(plus) - f(minus)) / (2 * Double(epsilon))
    let exact = dot(analytic, v)
    let err = abs(numeric - exact) / max(1e-6, abs(exact), abs(numeric))
    #expect(err < tolerance, "\(label): finite difference \(numeric) vs analytic \(exact)", sourceLocation: sourceLocation)
}

@Suite("ConvNet: finite-difference gradient checks on tiny shapes")
struct GradientTests {
    @Test("Conv2D: weight, bias and input gradients", arguments: [0, 3, 4, 5])
    func conv(_ i: Int) {
        let (n, cin, cout, h, w, k, s, p) = convShapes[i]
        var rng = SeededGenerator(seed: 400 + UInt64(i))
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let ws = Workspace(maxColumnFloats: 50)
        let r = randomTensor(conv.outputShape(x.shape), &rng)  // L = ⟨y, r⟩, so dL/dy = r
        func loss(_ p: [Float], _ x: Tensor) -> Double {
            dot(p.withUnsafeBufferPointer { conv.forward(x, params: $0.baseAddress!, workspace: ws) }.data, r.data)
        }
        var grads = [Float](repeating: 0, count: layout.count)
        let dx = params.withUnsafeBufferPointer { pb in
            grads.withUnsafeMutableBufferPointer { conv.backward(x, dy: r, params: pb.baseAddress!, grads: $0.baseAddress!, workspace: ws)! }
        }
        let vp = randomTensor([layout.count], &rng).data
        checkDirectional("conv params", point: params, direction: vp, analytic: grads) { loss($0, x) }
        let vx = randomTensor(x.shape, &rng).data
        checkDirectional("conv input", point: x.data, direction: vx, analytic: dx.data) { loss(params, Tensor(shape: x.shape, data: $0)) }
    }

    @Test("TransposedConv2D: weight, bias and input gradients", arguments: [0, 2, 3, 4])
    func transposed(_ i: Int) {
        let (n, cin, cout, h, w, k, s, p) = convShapes[i]
        guard (h - 1) * s - 2 * p + k > 0, (w - 1) * s - 2 * p + k > 0 else { return }
        var rng = SeededGenerator(seed: 500 + UInt64(i))
        var layout = ParameterLayout()
        let t = TransposedConv2D(name: "t", inChannels: cin, outChannels: cout, kernel: k, stride: s, padding: p, layout: &layout)
        let params = randomTensor([layout.count], &rng).data
        let x = randomTensor([n, cin, h, w], &rng)
        let ws = Workspace(maxColumnFloats: 50)
        let r = randomTensor(t.outputShape(x.shape), &rng)
        func loss(_ p: [Float], _ x: Tensor) -> Double {
            dot(p.withUnsafeBufferPointer { t.forward(x, params: $0.baseAddress!, workspace: ws) }.data, r.data)
        }
        var grads = [Float](repeating: 0, count: layout.count)
        let dx = params.withUnsafeBufferPointer { pb in
            grads.withUnsafeMutableBufferPointer { t.backward(x, dy: r, params: pb.baseAddress!, grads: $0.baseAddress!, workspace: ws)! }
        }
        checkDirectional("tconv params", point: params, direction: randomTensor([layout.count], &rng).data, analytic: grads) { loss($0, x) }
        checkDirectional("tconv input", point: x.data, direction: randomTensor(x.shape, &rng).data, analytic: dx.data) {
            loss(params, Tensor(shape: x.shape, data: $0))
        }
    }

    @Test("ReLU and residual add")
    func elementwise() {
        var rng = SeededGenerator(seed: 600)
        let x = randomTensor([2, 3, 4, 4], &rng)
        let r = randomTensor(x.shape, &rng)
        func loss(_ v: [Float]) -> Double {
            var t = Tensor(shape: x.shape, data: v)
            ReLU.forward(&t)
            Residual.add(&t, x)  // y = relu(v) + x: the add passes dy through
            return dot(t.data, r.data)
        }
        var y = x
        ReLU.forward(&y)
        var d = r
        ReLU.backward(&d, output: y)
        checkDirectional("relu", point: x.data, direction: randomTensor(x.shape, &rng).data, analytic: d.data, epsilon: 1e-3, loss)
    }

    @Test("MSE, L1, softmax cross-entropy and Dice gradients")
    func losses() {
        var rng = SeededGenerator(seed: 700)
        let y = randomTensor([2, 3, 4, 5], &rng), t = randomTensor([2, 3, 4, 5], &rng)
        let (_, gm) = Losses.mse(y, t)
        checkDirectional("mse", point: y.data, direction: randomTensor(y.shape, &rng).data, analytic: gm.data, epsilon: 1e-3) {
            Losses.mse(Tensor(shape: y.shape, data: $0), t).loss
        }
        let (_, gl) = Losses.l1(y, t)
        checkDirectional("l1", point: y.data, direction: randomTensor(y.shape, &rng).data, analytic: gl.data, epsilon: 1e-4) {
            Losses.l1(Tensor(shape: y.shape, data: $0), t).loss
        }
        // Targets as per-pixel probabilities (rows sum to 1).
        let target = Losses.softmax(randomTensor([2, 3, 4, 5], &rng, scale: 3))
        let logits = randomTensor([2, 3, 4, 5], &rng, scale: 2)
        let (_, gce) = Losses.softmaxCrossEntropy(logits: logits, target: target)
        checkDirectional("cross-entropy", point: logits.data, direction: randomTensor(logits.shape, &rng).data,
                         analytic: gce.data, epsilon: 1e-3) {
            Losses.softmaxCrossEntropy(logits: Tensor(shape: logits.shape, data: $0), target: target).loss
        }
        let p = Losses.softmax(logits)
        let (_, gd) = Losses.dice(probabilities: p, target: target)
        checkDirectional("dice", point: p.data, direction: randomTensor(p.shape, &rng).data, analytic: gd.data, epsilon: 1e-3) {
            Losses.dice(probabilities: Tensor(shape: p.shape, data: $0), target: target).loss
        }
        // Chain: Dice on softmax(logits), through softmaxBackward.
        let dz = Losses.softmaxBackward(p, gd)
        checkDirectional("dice∘softmax", point: logits.data, direction: randomTensor(logits.shape, &rng).data,
                         analytic: dz.data, epsilon: 1e-3) {
            Losses.dice(probabilities: Losses.softmax(Tensor(shape: logits.shape, data: $0)), target: target).loss
        }
    }

    @Test("per-sample weighted MSE/L1: weights of 1 are the plain loss; each item's terms scale by its weight")
    func weightedLosses() {
        var rng = SeededGenerator(seed: 701)
        let y = randomTensor([3, 1, 4, 5], &rng), t = randomTensor([3, 1, 4, 5], &rng)
        let w: [Float] = [0.25, 1, 9]
        for loss in [Loss.mse, .l1] {
            let plain = loss.evaluate(y, t), ones = loss.evaluate(y, t, sampleWeights: [1, 1, 1])
            #expect(abs(plain.loss - ones.loss) < 1e-12)
            #expect(plain.gradient.data == ones.gradient.data)
            // Value: the weighted sum of each item's own plain loss, over the batch.
            let per = (0..<3).map { b in
                loss.evaluate(Tensor(shape: [1, 1, 4, 5], data: Array(y.data[b * 20..<(b + 1) * 20])),
                              Tensor(shape: [1, 1, 4, 5], data: Array(t.data[b * 20..<(b + 1) * 20]))).loss
            }
            let weighted = loss.evaluate(y, t, sampleWeights: w)
            let expected = zip(w, per).map { Double($0) * $1 }.reduce(0, +) / 3
            #expect(abs(weighted.loss - expected) < 1e-9 * max(1, expected), "\(loss)")
            checkDirectional("weighted \(loss)", point: y.data, direction: randomTensor(y.shape, &rng).data,
                             analytic: weighted.gradient.data, epsilon: loss == .mse ? 1e-3 : 1e-4) {
                loss.evaluate(Tensor(shape: y.shape, data: $0), t, sampleWeights: w).loss
            }
        }
    }

    @Test("loss values: known cases")
    func lossValues() {
        let a = Tensor(shape: [1, 1, 1, 2], data: [1, 3]), b = Tensor(shape: [1, 1, 1, 2], data: [0, 0])
        #expect(Losses.mse(a, b).loss == 5)
        #expect(Losses.l1(a, b).loss == 2)
        // Perfect overlap: Dice loss 0 per class; disjoint: 1 per class.
        let t = Tensor(shape: [1, 2, 1, 2], data: [1, 0, 0, 1])
        #expect(abs(Losses.dice(probabilities: t, target: t).loss) < 1e-12)
        let swapped = Tensor(shape: [1, 2, 1, 2], data: [0, 1, 1, 0])
        #expect(abs(Losses.dice(probabilities: swapped, target: t).loss - 2) < 1e-12)
        // Uniform logits over K classes: cross-entropy log K.
        let z = Tensor(zeros: [1, 4, 2, 2])
        var onehot = Tensor(zeros: [1, 4, 2, 2]); for j in 0..<4 { onehot.data[j] = 1 }
        #expect(abs(Losses.softmaxCrossEntropy(logits: z, target: onehot).loss - log(4.0)) < 1e-6)
    }
}

@Suite("ConvNet: optimiser, schedules, initialisation")
struct OptimiserTests {
    @Test("Adam follows PyTorch's update (bias correction, weight decay)")
    func adam() {
        for wd: Float in [0, 0.01] {
            var params: [Float] = [0.5, -1, 2]
            var adam = Adam(parameterCount: 3, weightDecay: wd)
            var (m, v) = ([Double](repeating: 0, count: 3), [Double](repeating: 0, count: 3))
            var expected = params.map(Double.init)
            for step in 1...3 {
                let grads: [Float] = [0.1 * Float(step), -0.2, 0.05]
                adam.update(&params, gradients: grads, learningRate: 0.01)
                for i in 0..<3 {
                    let g = Double(grads[i]) + Double(wd) * expected[i]
                    m[i] = 0.9 * m[i] + 0.1 * g
                    v[i] = 0.999 * v[i] + 0.001 * g * g
                    let mh = m[i] / (1 - pow(0.9, Double(step))), vh = v[i] / (1 - pow(0.999, Double(step)))
                    expected[i] -= 0.01 * mh / (vh.squareRoot() + 1e-8)
                }
            }
            #expect(adam.step == 3)
            #expect(relativeError(params, expected) < 1e-6, "wd \(wd): \(params) vs \(expected)")
        }
    }

    @Test("learning-rate schedules are pure functions of the step")
    func schedules() {
        #expect(LearningRateSchedule.constant(1e-4).rate(at: 1000) == 1e-4)
        let step = LearningRateSchedule.stepDecay(initial: 1, every: 10, gamma: 0.5)
        #expect(step.rate(at: 9) == 1 && step.rate(at: 10) == 0.5 && step.rate(at: 25) == 0.25)
        let exp = LearningRateSchedule.exponential(initial: 1e-4, final: 1e-5, steps: 100)
        #expect(abs(exp.rate(at: 0) - 1e-4) < 1e-10 && abs(exp.rate(at: 100) - 1e-5) < 1e-10 && abs(exp.rate(at: 500) - 1e-5) < 1e-10)
        #expect(abs(exp.rate(at: 50) - Float(1e-4 * pow(0.1, 0.5))) < 1e-9)
        let cos = LearningRateSchedule.cosine(initial: 1, final: 0, steps: 10)
        #expect(cos.rate(at: 0) == 1 && abs(cos.rate(at: 5) - 0.5) < 1e-6 && abs(cos.rate(at: 10)) < 1e-6)
        let warm = LearningRateSchedule.warmup(steps: 4, then: .constant(1))
        #expect(warm.rate(at: 0) == 0.25 && warm.rate(at: 3) == 1 && warm.rate(at: 9) == 1)
    }

    @Test("PyTorch default init: uniform ±1/√fan_in, fan_in from weight dim 1; Gaussian σ option")
    func initialization() {
        var layout = ParameterLayout()
        let conv = Conv2D(name: "c", inChannels: 8, outChannels: 16, kernel: 5, layout: &layout)
        let t = TransposedConv2D(name: "t", inChannels: 16, outChannels: 4, kernel: 5, layout: &layout)
        var params = [Float](repeating: 0, count: layout.count)
        var rng = SeededGenerator(seed: 1)
        ParameterInit.initialize(&params, layout: layout, method: .pytorchDefault, rng: &rng)
        func range(_ v: ParameterView) -> ArraySlice<Float> { params[v.offset..<v.offset + v.count] }
        let convBound = 1 / Float(8 * 25).squareRoot(), tBound = 1 / Float(4 * 25).squareRoot()
        #expect(range(conv.weight).allSatisfy { abs($0) <= convBound } && range(conv.weight).map(abs).max()! > 0.9 * convBound)
        #expect(range(conv.bias).allSatisfy { abs($0) <= convBound })
        #expect(range(t.weight).allSatisfy { abs($0) <= tBound } && range(t.weight).map(abs).max()! > 0.9 * tBound)
        var rng2 = SeededGenerator(seed: 1)
        ParameterInit.initialize(&params, layout: layout, method: .gaussian(sigma: 0.01), rng: &rng2)
        let w = range(conv.weight).map(Double.init)
        let sd = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(abs(sd - 0.01) < 0.001)
        #expect(range(conv.bias).allSatisfy { $0 == 0 })
    }
}

@Suite("ConvNet: safetensors")
struct SafeTensorsTests {
    @Test("write → read round trip keeps tensors and metadata; the layout is the documented one")
    func roundTrip() throws {
        let file = SafeTensors(tensors: ["b": Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), "a": Tensor(shape: [1], data: [-0.5])],
                               metadata: ["k": "v"])
        let data = try file.serialized()
        let headerLength = Int(data[0]) | Int(data[1]) << 8
        #expect((8 + headerLength) % 8 == 0)
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + headerLength)) as? [String: Any]
        #expect((header?["a"] as? [String: Any])?["dtype"] as? String == "F32")
        #expect(try SafeTensors.parse(data) == file)
    }

    @Test("F16, BF16 and F64 tensors are read as Float32")
    func dtypes() throws {
        func file(_ dtype: String, _ bytes: [UInt8]) -> Data {
            var json = Data("{\"t\":{\"dtype\":\"\(dtype)\",\"shape\":[1],\"data_offsets\":[0,\(bytes.count)]}}".utf8)
            while json.count % 8 != 0 { json.append(0x20) }
            var d = Data()
            withUnsafeBytes(of: UInt64(json.count).littleEndian) { d.append(contentsOf: $0) }
            return d + json + Data(bytes)
        }
        #expect(try SafeTensors.parse(file("F16", [0x00, 0x3C])).tensors["t"]?.data == [1])       // 1.0 in half
        #expect(try SafeTensors.parse(file("BF16", [0x80, 0xBF])).tensors["t"]?.data == [-1])     // -1.0 in bfloat16
        let d = withUnsafeBytes(of: (2.5 as Double).bitPattern.littleEndian) { Array($0) }
        #expect(try SafeTensors.parse(file("F64", d)).tensors["t"]?.data == [2.5])
        #expect(throws: ConvNetError.self) { try SafeTensors.parse(file("I64", [0, 0, 0, 0, 0, 0, 0, 0])) }
    }

    @Test("malformed files are refused with a reason")
    func malformed() throws {
        #expect(throws: ConvNetError.self) { try SafeTensors.parse(Data([1, 2, 3])) }
        var huge = Data(); withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { huge.append(contentsOf: $0) }
        #expect(throws: ConvNetError.self) { try SafeTensors.parse(huge + Data(repeating: 0, count: 16)) }
        var d = Data()
        let json = Data("{\"t\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}".utf8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { d.append(contentsOf: $0) }
        #expect(throws: ConvNetError.self) { try SafeTensors.parse(d + json + Data(repeating: 0, count: 8)) }  // data short
        #expect(throws: ConvNetError.self) { try SafeTensors.read("/nonexistent/model.safetensors") }
    }
}
