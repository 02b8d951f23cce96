/// Reusable scratch memory for the column matrices, one buffer per worker. `maxColumnFloats`
/// bounds the columns in use at once (all workers together): a layer whose full column matrix
/// would be larger is computed in bands of output rows, so the memory of a whole-slice forward
/// pass does not grow with K·N (2400 × 262 144 floats = 2.5 GB for one RED-CNN layer at 512²).
///
/// The workspace also says how stride-1 convolutions are computed (`algorithm`) and keeps the
/// Winograd-transformed filters of the weights it has seen.
public final class Workspace {
    public let maxColumnFloats: Int
    /// im2col, Winograd, or auto (Winograd where it measured faster).
    public var algorithm: ConvolutionAlgorithm
    /// Tiles per Winograd band (the N of each transformed-domain sgemm). The band split fixes the
    /// order in which weight gradients are summed, so a training run keeps it constant (resume
    /// stays bit-identical); `ldct bench --tiles` changes it for measurement only.
    public var winogradTargetTiles = Winograd.defaultTargetTiles
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var capacity = 0
    let filterCache = WinogradFilterCache()

    /// Default budget: 16 M floats (64 MiB) shared by the workers.
    public init(maxColumnFloats: Int = 16 << 20, algorithm: ConvolutionAlgorithm = .auto) {
        self.maxColumnFloats = max(maxColumnFloats, 1)
        self.algorithm = algorithm
    }

    deinit { for b in buffers { b.deallocate() } }

    /// Makes sure every worker has a buffer of at least `count` floats. Call before a parallel region.
    func prepare(_ count: Int) {
        let workers = Parallelism.workers
        if count > capacity || buffers.count < workers {
            for b in buffers { b.deallocate() }
            capacity = max(count, capacity)
            buffers = (0..<workers).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: capacity) }
        }
    }

    /// Worker `w`'s buffer (after `prepare`).
    func columns(worker w: Int) -> UnsafeMutablePointer<Float> { buffers[w] }

    /// Output rows per band so that every worker's band fits the shared budget (at least one row).
    func bandRows(patchSize: Int, outWidth: Int, outHeight: Int) -> Int {
        let perWorker = maxColumnFloats / Parallelism.workers
        return max(1, min(outHeight, perWorker / max(patchSize * outWidth, 1)))
    }
}

/// A tensor handed to a callee that writes into it in place: the box gives up its reference on
/// `take()`, so the callee holds the only one and no copy is made.
final class Handover {
    private var tensor: Tensor?
    init(_ tensor: consuming Tensor) { self.tensor = tensor }
    func take() -> Tensor? {
        let t = tensor
        tensor = nil
        return t
    }
}

/// Raw pointers handed to workers that touch disjoint parts.
struct Shared<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
}

/// Forward of a convolution over a batch with a [Cout, Cin·k·k] weight matrix: bands of output
/// rows (of every image) spread over the workers; each band is im2col + one sgemm + bias.
///
/// Epilogue, applied per band while it is in cache: y = relu?(conv + bias + residual?).
///
/// Stride-1 layers go to `winogradConvolution` when the workspace's algorithm says so
/// (filters transformed once per distinct weights, cached in the workspace).
///
/// `output`: when given, it holds the residual and receives the result in place (y = relu?(conv +
/// bias + output)): inference then keeps one activation fewer; `epilogue.residual` must be nil.
func convolutionForward(_ x: Tensor, geometry g: ConvGeometry, outChannels: Int, weights: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>, workspace: Workspace, epilogue: Epilogue,
                        output: Handover? = nil) -> Tensor {
    precondition(output == nil || epilogue.residual == nil, "either a residual or an in-place output")
    if Winograd.applies(workspace.algorithm, g, outChannels: outChannels), let t = WinogradTransform.forKernel(g.kernel) {
        let count = outChannels * g.patchSize
        let key = WinogradFilterCache.key(weights, count: count, outChannels: outChannels, m: t.m)
        let u: [Float]
        if let cached = workspace.filterCache.lookup(key) {
            u = cached
        } else {
            var fresh = [Float](repeating: 0, count: t.alpha * t.alpha * count / (g.kernel * g.kernel))
            fresh.withUnsafeMutableBufferPointer { fb in
                Winograd.transformFilters(t, weights: weights, outChannels: outChannels, inChannels: g.channels, into: fb.baseAddress!)
            }
            workspace.filterCache.insert(key, fresh)
            u = fresh
        }
        return u.withUnsafeBufferPointer { ub in
            winogradConvolution(x, geometry: g, outChannels: outChannels, transform: t, filters: ub.baseAddress!, bias: bias,
                                workspace: workspace, epilogue: epilogue, output: output)
        }
    }
    let shape = [x.n, outChannels, g.outHeight, g.outWidth]
    let inPlace = output != nil
    var y = output?.take() ?? Tensor(uninitialized: shape)
    precondition(y.shape == shape, "in-place output \(y.shape) does not match \(shape)")
    if let r = epilogue.residual { precondition(r.shape == y.shape, "residual \(r.shape) does not match output \(y.shape)") }
    let hwIn = x.h * x.w, hwOut = g.outHeight * g.outWidth
    let band = workspace.bandRows(patchSize: g.patchSize, outWidth: g.outWidth, outHeight: g.outHeight)
    let bandsPerImage = (g.outHeight + band - 1) / band
    workspace.prepare(g.patchSize * band * g.outWidth)
    let residual = epilogue.residual?.data ?? []
    x.data.withUnsafeBufferPointer { xb in
      residual.withUnsafeBufferPointer { rb in
        y.data.withUnsafeMutableBufferPointer { yb in
            // An empty array may still have a base address: only a real residual counts.
            let (xs, ys, rs) = (xb.baseAddress!, yb.baseAddress!, epilogue.residual == nil ? nil : rb.baseAddress)
            Parallelism.run(x.n * bandsPerImage) { worker, task in
                let img = task / bandsPerImage, r0 = (task % bandsPerImage) * band
                let r1 = min(g.outHeight, r0 + band)
                let n = (r1 - r0) * g.outWidth
                let cols = workspace.columns(worker: worker)
                let yi = ys + img * outChannels * hwOut
                Im2Col.im2col(g, image: xs + img * g.channels * hwIn, rowStart: r0, rowEnd: r1, cols: cols)
                sgemm(m: outChannels, n: n, k: g.patchSize, a: weights, lda: g.patchSize, b: cols, ldb: n, beta: inPlace ? 1 : 0,
                      c: yi + r0 * g.outWidth, ldc: hwOut)
                for o in 0..<outChannels {
                    let start = img * outChannels * hwOut + o * hwOut + r0 * g.outWidth
                    epilogue.apply(ys + start, count: n, bias: bias[o], residual: rs.map { $0 + start })
                }
            }
        }
      }
    }
    return y
}

/// What follows a convolution's GEMM, element-wise: bias, then an optional residual add, then an
/// optional ReLU (RED-CNN's "sum, then ReLU" shortcuts).
public struct Epilogue: Sendable {
    public var residual: Tensor?
    public var relu: Bool
    public init(residual: Tensor? = nil, relu: Bool = false) {
        self.residual = residual
        self.relu = relu
    }
    public static let none = Epilogue()
    public static let relu = Epilogue(relu: true)

    @inline(__always)
    func apply(_ y: UnsafeMutablePointer<Float>, count: Int, bias: Float, residual r: UnsafePointer<Float>?) {
        if let r {
            if relu { for j in 0..<count { y[j] = max(y[j] + bias + r[j], 0) } } else { for j in 0..<count { y[j] += bias + r[j] } }
        } else {
            if relu { for j in 0..<count { y[j] = max(y[j] + bias, 0) } } else { for j in 0..<count { y[j] += bias } }
        }
    }
}

/// The frame both layers' backward passes share: images spread over the workers (static
/// assignment: reproducible sums), each image's bias gradient summed into the worker's private
/// accumulator, then `bands` does the layer's own GEMMs for that image.
func backwardOverImages(_ x: Tensor, _ dy: Tensor, dx: inout Tensor, inputGradient: Bool, weightCount: Int,
                        sums: PrivateGradients,
                        _ bands: (_ worker: Int, _ xi: UnsafePointer<Float>, _ dyi: UnsafePointer<Float>,
                                  _ dxi: UnsafeMutablePointer<Float>?, _ dW: UnsafeMutablePointer<Float>) -> Void) {
    let hwIn = x.h * x.w, hwOut = dy.h * dy.w, (cin, cout) = (x.c, dy.c)
    x.data.withUnsafeBufferPointer { xb in
        dy.data.withUnsafeBufferPointer { dyb in
            dx.data.withUnsafeMutableBufferPointer { dxb in
                let (xs, dys, dxs) = (xb.baseAddress!, dyb.baseAddress!, inputGradient ? dxb.baseAddress : nil)
                Parallelism.runStatic(x.n) { worker, img in
                    let dyi = dys + img * cout * hwOut
                    let dW = sums.buffer(worker), dB = dW + weightCount
                    for o in 0..<cout {
                        var s: Float = 0
                        let row = dyi + o * hwOut
                        for j in 0..<hwOut { s += row[j] }
                        dB[o] += s
                    }
                    bands(worker, xs + img * cin * hwIn, dyi, dxs.map { $0 + img * cin * hwIn }, dW)
                }
            }
        }
    }
}

/// Per-worker gradient accumulators for one layer (one raw block, a slice per worker, so workers
/// never touch shared Swift containers), summed into the shared gradient buffer at the end.
final class PrivateGradients {
    let count: Int
    let workers: Int
    private let storage: UnsafeMutablePointer<Float>

    init(count: Int) {
        self.count = count
        workers = Parallelism.workers
        storage = UnsafeMutablePointer<Float>.allocate(capacity: max(count * workers, 1))
        storage.initialize(repeating: 0, count: max(count * workers, 1))
    }

    deinit { storage.deallocate() }

    /// Worker `w`'s accumulator.
    func buffer(_ w: Int) -> UnsafeMutablePointer<Float> { storage + w * count }

    /// Adds every worker's sums into `grads[offset ..< offset + count]`.
    func reduce(into grads: UnsafeMutablePointer<Float>, offset: Int) {
        for w in 0..<workers {
            let b = buffer(w)
            for i in 0..<count { grads[offset + i] += b[i] }
        }
    }
}

/// A view of one parameter tensor inside the contiguous parameter buffer.
public struct ParameterView: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// 2-D convolution (cross-correlation, as PyTorch's Conv2d), via im2col + sgemm.
///
/// Shapes: x [N, Cin, H, W] → y [N, Cout, Hout, Wout]; weight [Cout, Cin, k, k]; bias [Cout].
/// Forward per image: Y[Cout, HWout] = W[Cout, Cin·k·k] × cols[Cin·k·k, HWout] + b.
/// Backward per image: dW += dY × colsᵀ, db += Σ dY, dcols = Wᵀ × dY, dx = col2im(dcols).
public struct Conv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let weight: ParameterView
    public let bias: ParameterView

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                layout: inout ParameterLayout) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        weight = layout.add(name + ".weight", [outChannels, inChannels, kernel, kernel])
        bias = layout.add(name + ".bias", [outChannels])
        precondition(bias.offset == weight.offset + weight.count, "bias must follow its weight in the layout")
    }

    public func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inChannels, height: height, width: width, kernel: kernel, stride: stride, padding: padding)
    }

    public func outputShape(_ x: [Int]) -> [Int] {
        let g = geometry(height: x[2], width: x[3])
        return [x[0], outChannels, g.outHeight, g.outWidth]
    }

    /// y = epilogue(conv(x)). `params` is the whole parameter buffer.
    public func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace, epilogue: Epilogue = .none) -> Tensor {
        precondition(x.shape.count == 4 && x.c == inChannels, "conv input \(x.shape), expected \(inChannels) channels")
        let g = geometry(height: x.h, width: x.w)
        precondition(g.isValid, "conv input \(x.h)×\(x.w) smaller than kernel \(kernel)")
        return convolutionForward(x, geometry: g, outChannels: outChannels, weights: params + weight.offset,
                                  bias: params + bias.offset, workspace: workspace, epilogue: epilogue)
    }

    /// Accumulates dW and db into `grads` (same layout as params) and returns dx (when asked).
    /// Images are spread over the workers, each with private weight-gradient sums.
    ///
    /// With stride 1, dx is computed as a convolution of dy (padding k − 1 − p) with the kernel
    /// flipped and its channel axes swapped: one im2col + a wide sgemm (M = Cin, K = Cout·k·k)
    /// instead of a tall sgemm with K = Cout followed by col2im; measured 20 % faster per
    /// training step at RED-CNN's shapes (docs/benchmarks.md).
    public func backward(_ x: Tensor, dy: Tensor, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                         workspace: Workspace, inputGradient: Bool = true) -> Tensor? {
        let g = geometry(height: x.h, width: x.w)
        precondition(dy.shape == outputShape(x.shape), "conv dy \(dy.shape) does not match output \(outputShape(x.shape))")
        if Winograd.applies(workspace.algorithm, g, outChannels: outChannels) {
            biasGradient(dy, into: grads + bias.offset)
            winogradWeightGradient(input: x, outputGradient: dy, padding: padding, kernel: kernel, workspace: workspace,
                                   into: grads + weight.offset)
            return inputGradient ? inputGradientAsConvolution(dy, params: params, workspace: workspace) : nil
        }
        if inputGradient && stride == 1 && padding <= kernel - 1 {
            _ = backward(x, dy: dy, params: params, grads: grads, workspace: workspace, inputGradient: false)
            return inputGradientAsConvolution(dy, params: params, workspace: workspace)
        }
        var dx = Tensor(zeros: inputGradient ? x.shape : [0])
        let hwOut = g.outHeight * g.outWidth
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: g.outWidth, outHeight: g.outHeight)
        workspace.prepare(g.patchSize * band * g.outWidth)
        let sums = PrivateGradients(count: weight.count + bias.count)
        let w = params + weight.offset
        backwardOverImages(x, dy, dx: &dx, inputGradient: inputGradient, weightCount: weight.count, sums: sums) { worker, xi, dyi, dxi, dW in
            let cols = workspace.columns(worker: worker)
            var r0 = 0
            while r0 < g.outHeight {
                let r1 = min(g.outHeight, r0 + band)
                let n = (r1 - r0) * g.outWidth
                Im2Col.im2col(g, image: xi, rowStart: r0, rowEnd: r1, cols: cols)
                // dW[Cout, K] += dY[Cout, n] × cols[K, n]ᵀ
                sgemm(transB: true, m: outChannels, n: g.patchSize, k: n, a: dyi + r0 * g.outWidth, lda: hwOut,
                      b: cols, ldb: n, beta: 1, c: dW, ldc: g.patchSize)
                if let dxi {
                    // dcols[K, n] = Wᵀ[K, Cout] × dY[Cout, n], then back onto the image
                    sgemm(transA: true, m: g.patchSize, n: n, k: outChannels, a: w, lda: g.patchSize,
                          b: dyi + r0 * g.outWidth, ldb: hwOut, beta: 0, c: cols, ldc: n)
                    Im2Col.col2im(g, cols: cols, rowStart: r0, rowEnd: r1, image: dxi)
                }
                r0 = r1
            }
        }
        sums.reduce(into: grads, offset: weight.offset)  // weight then bias: contiguous in the layout
        return inputGradient ? dx : nil
    }

    /// dx for stride 1: conv(dy, Wf, padding k − 1 − p) with Wf[c, o, i, j] = W[o, c, k−1−i, k−1−j].
    func inputGradientAsConvolution(_ dy: Tensor, params: UnsafePointer<Float>, workspace: Workspace) -> Tensor {
        let k = kernel
        let w = params + weight.offset
        var flipped = [Float](repeating: 0, count: inChannels * outChannels * k * k)
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                for i in 0..<k {
                    for j in 0..<k {
                        flipped[((c * outChannels + o) * k + i) * k + j] = w[((o * inChannels + c) * k + (k - 1 - i)) * k + (k - 1 - j)]
                    }
                }
            }
        }
        let zeros = [Float](repeating: 0, count: inChannels)
        let g = ConvGeometry(channels: outChannels, height: dy.h, width: dy.w, kernel: k, stride: 1, padding: k - 1 - padding)
        return flipped.withUnsafeBufferPointer { fb in
            zeros.withUnsafeBufferPointer { zb in
                convolutionForward(dy, geometry: g, outChannels: inChannels, weights: fb.baseAddress!, bias: zb.baseAddress!,
                                   workspace: workspace, epilogue: .none)
            }
        }
    }
}

/// Transposed 2-D convolution (PyTorch's ConvTranspose2d): the adjoint of Conv2D's data path.
///
/// Shapes: x [N, Cin, H, W] → y [N, Cout, Hout, Wout], Hout = (H − 1)·s − 2p + k + output_padding;
/// weight [Cin, Cout, k, k] (PyTorch's layout); bias [Cout].
/// Forward per image: cols[Cout·k·k, HW] = Wᵀ × X[Cin, HW]; y = col2im(cols) + b, where the
/// col2im runs over the convolution geometry that maps y back onto x.
/// Backward per image: colsY = im2col(dY); dX = W × colsY; dW += X × colsYᵀ; db += Σ dY.
public struct TransposedConv2D: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    /// Extra rows/columns at the bottom/right (PyTorch's output_padding, < stride): makes the
    /// output the exact adjoint size of a strided convolution whose input did not divide evenly.
    public let outputPadding: Int
    public let weight: ParameterView
    public let bias: ParameterView

    public init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, layout: inout ParameterLayout) {
        precondition(outputPadding >= 0 && (outputPadding < stride || outputPadding == 0), "output padding must be < stride")
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        weight = layout.add(name + ".weight", [inChannels, outChannels, kernel, kernel])
        bias = layout.add(name + ".bias", [outChannels])
        precondition(bias.offset == weight.offset + weight.count, "bias must follow its weight in the layout")
    }

    public func outputShape(_ x: [Int]) -> [Int] {
        [x[0], outChannels, (x[2] - 1) * stride - 2 * padding + kernel + outputPadding,
         (x[3] - 1) * stride - 2 * padding + kernel + outputPadding]
    }

    /// The convolution geometry over the output (Cout × Hout × Wout) whose output grid is x's grid.
    func geometry(outHeight: Int, outWidth: Int) -> ConvGeometry {
        ConvGeometry(channels: outChannels, height: outHeight, width: outWidth, kernel: kernel, stride: stride, padding: padding)
    }

    /// y = epilogue(tconv(x)).
    public func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace, epilogue: Epilogue = .none) -> Tensor {
        forward(x, params: params, workspace: workspace, epilogue: epilogue, output: nil)
    }

    /// y = relu?(tconv(x) + bias + residual), written into the residual's own storage (inference
    /// keeps one activation fewer). Pass the residual with `consume` so that it is not copied.
    public func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace, addingTo residual: consuming Tensor,
                        relu: Bool) -> Tensor {
        let outShape = outputShape(x.shape)
        if stride == 1 && outputPadding == 0 && padding <= kernel - 1 {
            return forward(x, params: params, workspace: workspace, epilogue: Epilogue(relu: relu), output: Handover(residual))
        }
        precondition(residual.shape == outShape, "residual \(residual.shape) does not match output \(outShape)")
        return forward(x, params: params, workspace: workspace, epilogue: Epilogue(residual: residual, relu: relu), output: nil)
    }

    func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace, epilogue: Epilogue, output: Handover?) -> Tensor {
        precondition(x.shape.count == 4 && x.c == inChannels, "tconv input \(x.shape), expected \(inChannels) channels")
        let outShape = outputShape(x.shape)
        precondition(outShape[2] > 0 && outShape[3] > 0, "tconv output would be empty")
        if stride == 1 && outputPadding == 0 && padding <= kernel - 1 {
            return forwardAsConvolution(x, params: params, workspace: workspace, epilogue: epilogue, output: output)
        }
        if let r = epilogue.residual { precondition(r.shape == outShape, "residual \(r.shape) does not match output \(outShape)") }
        // General stride/padding: cols = Wᵀ × X, then scatter-add (col2im). Bands of one image
        // overlap in the output, so images (not bands) go to the workers.
        var y = Tensor(zeros: outShape)
        let g = geometry(outHeight: outShape[2], outWidth: outShape[3])
        precondition(g.outHeight == x.h && g.outWidth == x.w, "tconv geometry mismatch")
        let hwIn = x.h * x.w, hwOut = outShape[2] * outShape[3]
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: x.w, outHeight: x.h)
        workspace.prepare(g.patchSize * band * x.w)
        let epilogueResidual = epilogue.residual?.data ?? []
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                let (xs, ys) = (xb.baseAddress!, yb.baseAddress!)
                Parallelism.run(x.n) { worker, img in
                    let cols = workspace.columns(worker: worker)
                    let xi = xs + img * inChannels * hwIn
                    let yi = ys + img * outChannels * hwOut
                    var r0 = 0
                    while r0 < x.h {
                        let r1 = min(x.h, r0 + band)
                        let n = (r1 - r0) * x.w
                        // cols[Cout·k·k, n] = Wᵀ[Cout·k·k, Cin] × X[Cin, n]
                        sgemm(transA: true, m: g.patchSize, n: n, k: inChannels, a: params + weight.offset,
                              lda: g.patchSize, b: xi + r0 * x.w, ldb: hwIn, beta: 0, c: cols, ldc: n)
                        Im2Col.col2im(g, cols: cols, rowStart: r0, rowEnd: r1, image: yi)
                        r0 = r1
                    }
                    epilogueResidual.withUnsafeBufferPointer { rb in
                        for o in 0..<outChannels {
                            let start = img * outChannels * hwOut + o * hwOut
                            epilogue.apply(ys + start, count: hwOut, bias: params[bias.offset + o],
                                           residual: epilogue.residual == nil ? nil : rb.baseAddress.map { $0 + start })
                        }
                    }
                }
            }
        }
        return y
    }

    /// Stride 1: a transposed convolution is a convolution with padding k − 1 − p and the kernel
    /// flipped and its channel axes swapped, Wf[o, c, i, j] = W[c, o, k−1−i, k−1−j]. This path
    /// runs the same im2col + sgemm (M = Cout, K = Cin·k·k) as Conv2D instead of a tall GEMM
    /// followed by a scatter-add (col2im).
    func forwardAsConvolution(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace, epilogue: Epilogue,
                              output: Handover? = nil) -> Tensor {
        let k = kernel, kk = kernel * kernel
        var flipped = [Float](repeating: 0, count: outChannels * inChannels * kk)
        let w = params + weight.offset
        for c in 0..<inChannels {
            for o in 0..<outChannels {
                for i in 0..<k {
                    for j in 0..<k {
                        flipped[((o * inChannels + c) * k + i) * k + j] = w[((c * outChannels + o) * k + (k - 1 - i)) * k + (k - 1 - j)]
                    }
                }
            }
        }
        let g = ConvGeometry(channels: inChannels, height: x.h, width: x.w, kernel: k, stride: 1, padding: k - 1 - padding)
        return flipped.withUnsafeBufferPointer { fb in
            convolutionForward(x, geometry: g, outChannels: outChannels, weights: fb.baseAddress!,
                               bias: params + bias.offset, workspace: workspace, epilogue: epilogue, output: output)
        }
    }

    /// Accumulates dW and db, returns dx: per image, colsY = im2col(dY); dX = W × colsY;
    /// dW += X × colsYᵀ; db += Σ dY. Images are spread over the workers.
    public func backward(_ x: Tensor, dy: Tensor, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                         workspace: Workspace, inputGradient: Bool = true) -> Tensor? {
        let outShape = outputShape(x.shape)
        precondition(dy.shape == outShape, "tconv dy \(dy.shape) does not match output \(outShape)")
        let g = geometry(outHeight: outShape[2], outWidth: outShape[3])
        if Winograd.applies(workspace.algorithm, g, outChannels: inChannels) {
            // dW[Cin, Cout, k, k] is the weight gradient of the convolution dY → X over g;
            // dX = conv(dY, W) with W [Cin, Cout, k, k] read as [out = Cin, in = Cout, k, k].
            biasGradient(dy, into: grads + bias.offset)
            winogradWeightGradient(input: dy, outputGradient: x, padding: padding, kernel: kernel, workspace: workspace,
                                   into: grads + weight.offset)
            guard inputGradient else { return nil }
            let zeros = [Float](repeating: 0, count: inChannels)
            return zeros.withUnsafeBufferPointer { zb in
                convolutionForward(dy, geometry: g, outChannels: inChannels, weights: params + weight.offset,
                                   bias: zb.baseAddress!, workspace: workspace, epilogue: .none)
            }
        }
        var dx = Tensor(zeros: inputGradient ? x.shape : [0])
        let hwIn = x.h * x.w
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: x.w, outHeight: x.h)
        workspace.prepare(g.patchSize * band * x.w)
        let sums = PrivateGradients(count: weight.count + bias.count)
        let w = params + weight.offset
        backwardOverImages(x, dy, dx: &dx, inputGradient: inputGradient, weightCount: weight.count, sums: sums) { worker, xi, dyi, dxi, dW in
            let cols = workspace.columns(worker: worker)
            var r0 = 0
            while r0 < x.h {
                let r1 = min(x.h, r0 + band)
                let n = (r1 - r0) * x.w
                Im2Col.im2col(g, image: dyi, rowStart: r0, rowEnd: r1, cols: cols)
                // dW[Cin, Cout·k·k] += X[Cin, n] × cols[Cout·k·k, n]ᵀ
                sgemm(transB: true, m: inChannels, n: g.patchSize, k: n, a: xi + r0 * x.w, lda: hwIn,
                      b: cols, ldb: n, beta: 1, c: dW, ldc: g.patchSize)
                if let dxi {
                    // dX[Cin, n] = W[Cin, Cout·k·k] × cols[Cout·k·k, n]
                    sgemm(m: inChannels, n: n, k: g.patchSize, a: w, lda: g.patchSize, b: cols, ldb: n,
                          beta: 0, c: dxi + r0 * x.w, ldc: hwIn)
                }
                r0 = r1
            }
        }
        sums.reduce(into: grads, offset: weight.offset)
        return inputGradient ? dx : nil
    }
}
