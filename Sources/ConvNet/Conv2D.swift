/// Reusable scratch memory for the column matrices. `maxColumnFloats` bounds the column buffer:
/// a layer whose full column matrix would be larger is computed in bands of output rows, so the
/// memory of a whole-slice forward pass does not grow with K·N (2400 × 262 144 floats = 2.5 GB for
/// one RED-CNN layer at 512²).
public final class Workspace {
    public let maxColumnFloats: Int
    private(set) var buffer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    /// Default budget: 16 M floats (64 MiB).
    public init(maxColumnFloats: Int = 16 << 20) {
        self.maxColumnFloats = max(maxColumnFloats, 1)
        capacity = 0
        buffer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { buffer.deallocate() }

    /// A buffer of at least `count` floats (contents undefined).
    func columns(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            buffer.deallocate()
            buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            capacity = count
        }
        return buffer
    }

    /// Output rows per band so that patchSize × rows × Wout fits the budget (at least one row).
    func bandRows(patchSize: Int, outWidth: Int, outHeight: Int) -> Int {
        max(1, min(outHeight, maxColumnFloats / max(patchSize * outWidth, 1)))
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
    }

    public func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inChannels, height: height, width: width, kernel: kernel, stride: stride, padding: padding)
    }

    public func outputShape(_ x: [Int]) -> [Int] {
        let g = geometry(height: x[2], width: x[3])
        return [x[0], outChannels, g.outHeight, g.outWidth]
    }

    /// y = conv(x). `params` is the whole parameter buffer.
    public func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace) -> Tensor {
        precondition(x.shape.count == 4 && x.c == inChannels, "conv input \(x.shape), expected \(inChannels) channels")
        let g = geometry(height: x.h, width: x.w)
        precondition(g.isValid, "conv input \(x.h)×\(x.w) smaller than kernel \(kernel)")
        var y = Tensor(zeros: outputShape(x.shape))
        let hwIn = x.h * x.w, hwOut = g.outHeight * g.outWidth
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: g.outWidth, outHeight: g.outHeight)
        let cols = workspace.columns(g.patchSize * band * g.outWidth)
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                for img in 0..<x.n {
                    let xi = xb.baseAddress! + img * inChannels * hwIn
                    let yi = yb.baseAddress! + img * outChannels * hwOut
                    var r0 = 0
                    while r0 < g.outHeight {
                        let r1 = min(g.outHeight, r0 + band)
                        let n = (r1 - r0) * g.outWidth
                        Im2Col.im2col(g, image: xi, rowStart: r0, rowEnd: r1, cols: cols)
                        sgemm(m: outChannels, n: n, k: g.patchSize, a: params + weight.offset, lda: g.patchSize,
                              b: cols, ldb: n, beta: 0, c: yi + r0 * g.outWidth, ldc: hwOut)
                        r0 = r1
                    }
                    for o in 0..<outChannels {
                        let b = params[bias.offset + o]
                        let row = yi + o * hwOut
                        for j in 0..<hwOut { row[j] += b }
                    }
                }
            }
        }
        return y
    }

    /// Accumulates dW and db into `grads` (same layout as params) and returns dx (when asked).
    public func backward(_ x: Tensor, dy: Tensor, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                         workspace: Workspace, inputGradient: Bool = true) -> Tensor? {
        let g = geometry(height: x.h, width: x.w)
        precondition(dy.shape == outputShape(x.shape), "conv dy \(dy.shape) does not match output \(outputShape(x.shape))")
        var dx: Tensor? = inputGradient ? Tensor(zeros: x.shape) : nil
        let hwIn = x.h * x.w, hwOut = g.outHeight * g.outWidth
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: g.outWidth, outHeight: g.outHeight)
        let cols = workspace.columns(g.patchSize * band * g.outWidth)
        x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
                for img in 0..<x.n {
                    let xi = xb.baseAddress! + img * inChannels * hwIn
                    let dyi = dyb.baseAddress! + img * outChannels * hwOut
                    for o in 0..<outChannels {
                        var s: Float = 0
                        let row = dyi + o * hwOut
                        for j in 0..<hwOut { s += row[j] }
                        grads[bias.offset + o] += s
                    }
                    var r0 = 0
                    while r0 < g.outHeight {
                        let r1 = min(g.outHeight, r0 + band)
                        let n = (r1 - r0) * g.outWidth
                        Im2Col.im2col(g, image: xi, rowStart: r0, rowEnd: r1, cols: cols)
                        // dW[Cout, K] += dY[Cout, n] × cols[K, n]ᵀ
                        sgemm(transB: true, m: outChannels, n: g.patchSize, k: n, a: dyi + r0 * g.outWidth, lda: hwOut,
                              b: cols, ldb: n, beta: 1, c: grads + weight.offset, ldc: g.patchSize)
                        if dx != nil {
                            // dcols[K, n] = Wᵀ[K, Cout] × dY[Cout, n]
                            sgemm(transA: true, m: g.patchSize, n: n, k: outChannels, a: params + weight.offset,
                                  lda: g.patchSize, b: dyi + r0 * g.outWidth, ldb: hwOut, beta: 0, c: cols, ldc: n)
                            dx!.data.withUnsafeMutableBufferPointer { dxb in
                                Im2Col.col2im(g, cols: cols, rowStart: r0, rowEnd: r1,
                                              image: dxb.baseAddress! + img * inChannels * hwIn)
                            }
                        }
                        r0 = r1
                    }
                }
            }
        }
        return dx
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
    }

    public func outputShape(_ x: [Int]) -> [Int] {
        [x[0], outChannels, (x[2] - 1) * stride - 2 * padding + kernel + outputPadding,
         (x[3] - 1) * stride - 2 * padding + kernel + outputPadding]
    }

    /// The convolution geometry over the output (Cout × Hout × Wout) whose output grid is x's grid.
    func geometry(outHeight: Int, outWidth: Int) -> ConvGeometry {
        ConvGeometry(channels: outChannels, height: outHeight, width: outWidth, kernel: kernel, stride: stride, padding: padding)
    }

    public func forward(_ x: Tensor, params: UnsafePointer<Float>, workspace: Workspace) -> Tensor {
        precondition(x.shape.count == 4 && x.c == inChannels, "tconv input \(x.shape), expected \(inChannels) channels")
        let outShape = outputShape(x.shape)
        precondition(outShape[2] > 0 && outShape[3] > 0, "tconv output would be empty")
        var y = Tensor(zeros: outShape)
        let g = geometry(outHeight: outShape[2], outWidth: outShape[3])
        precondition(g.outHeight == x.h && g.outWidth == x.w, "tconv geometry mismatch")
        let hwIn = x.h * x.w, hwOut = outShape[2] * outShape[3]
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: x.w, outHeight: x.h)
        let cols = workspace.columns(g.patchSize * band * x.w)
        x.data.withUnsafeBufferPointer { xb in
            y.data.withUnsafeMutableBufferPointer { yb in
                for img in 0..<x.n {
                    let xi = xb.baseAddress! + img * inChannels * hwIn
                    let yi = yb.baseAddress! + img * outChannels * hwOut
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
                    for o in 0..<outChannels {
                        let b = params[bias.offset + o]
                        let row = yi + o * hwOut
                        for j in 0..<hwOut { row[j] += b }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ x: Tensor, dy: Tensor, params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>,
                         workspace: Workspace, inputGradient: Bool = true) -> Tensor? {
        let outShape = outputShape(x.shape)
        precondition(dy.shape == outShape, "tconv dy \(dy.shape) does not match output \(outShape)")
        let g = geometry(outHeight: outShape[2], outWidth: outShape[3])
        var dx: Tensor? = inputGradient ? Tensor(zeros: x.shape) : nil
        let hwIn = x.h * x.w, hwOut = outShape[2] * outShape[3]
        let band = workspace.bandRows(patchSize: g.patchSize, outWidth: x.w, outHeight: x.h)
        let cols = workspace.columns(g.patchSize * band * x.w)
        x.data.withUnsafeBufferPointer { xb in
            dy.data.withUnsafeBufferPointer { dyb in
                for img in 0..<x.n {
                    let xi = xb.baseAddress! + img * inChannels * hwIn
                    let dyi = dyb.baseAddress! + img * outChannels * hwOut
                    for o in 0..<outChannels {
                        var s: Float = 0
                        let row = dyi + o * hwOut
                        for j in 0..<hwOut { s += row[j] }
                        grads[bias.offset + o] += s
                    }
                    var r0 = 0
                    while r0 < x.h {
                        let r1 = min(x.h, r0 + band)
                        let n = (r1 - r0) * x.w
                        Im2Col.im2col(g, image: dyi, rowStart: r0, rowEnd: r1, cols: cols)
                        // dW[Cin, Cout·k·k] += X[Cin, n] × cols[Cout·k·k, n]ᵀ
                        sgemm(transB: true, m: inChannels, n: g.patchSize, k: n, a: xi + r0 * x.w, lda: hwIn,
                              b: cols, ldb: n, beta: 1, c: grads + weight.offset, ldc: g.patchSize)
                        if dx != nil {
                            // dX[Cin, n] = W[Cin, Cout·k·k] × cols[Cout·k·k, n]
                            dx!.data.withUnsafeMutableBufferPointer { dxb in
                                sgemm(m: inChannels, n: n, k: g.patchSize, a: params + weight.offset, lda: g.patchSize,
                                      b: cols, ldb: n, beta: 0, c: dxb.baseAddress! + img * inChannels * hwIn + r0 * x.w,
                                      ldc: hwIn)
                            }
                        }
                        r0 = r1
                    }
                }
            }
        }
        return dx
    }
}
