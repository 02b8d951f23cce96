import CWinograd
import Foundation

/// How stride-1 convolutions are computed (`--conv`).
///
/// - `im2col`: column matrix + one sgemm per band (K = Cin·k·k): the reference path.
/// - `winograd`: Winograd minimal filtering F(m×m, k×k) with 8×8 tiles (F(4×4, 5×5) for RED-CNN):
///   6.25× fewer multiplications, the element-wise stage as α² sgemms (K = Cin) per band.
/// - `auto`: Winograd where it measured faster (both channel counts ≥ `Winograd.minimumChannels`),
///   im2col elsewhere (RED-CNN's first and last layer, strided layers).
public enum ConvolutionAlgorithm: String, Sendable, Codable, CaseIterable {
    case auto, im2col, winograd
}

/// Toom-Cook matrices of Winograd's minimal filtering algorithm F(m, r) for correlation
/// (what a CNN layer computes): y = Aᵀ[(G g) ⊙ (Bᵀ d)], with d an input tile of α = m + r − 1
/// values, g a filter of r taps and y m outputs; in 2-D, Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A.
///
/// Interpolation points 0, 1, −1, 2, −2, ½, −½, 3, −3 (the first α − 1) and ∞. Aᵀ[i][j] = p_jⁱ,
/// G[j][k] = p_jᵏ / Π_{l≠j}(p_j − p_l) (the scale sits in G, which is applied once per model),
/// the ∞ row/column picks the leading coefficient; Bᵀ is then solved in Double from the identity
/// Σ_j Aᵀ[i][j] G[j][k] Bᵀ[j][s] = δ(s, i + k), and checked to reproduce it.
public struct WinogradTransform: Sendable, Equatable {
    /// Outputs per tile side.
    public let m: Int
    /// Filter side.
    public let r: Int
    /// Aᵀ (m × α), G (α × r), Bᵀ (α × α), row-major, Double.
    public let at: [Double]
    public let g: [Double]
    public let bt: [Double]
    /// Largest |error| of the identity the matrices were solved from (≈ 1e-15 when sound).
    public let identityError: Double

    public var alpha: Int { m + r - 1 }

    static let points: [Double] = [0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1.0 / 3, -1.0 / 3]

    /// F(m×m, r×r); α = m + r − 1 must be 3 … 8 (one SIMD8 row per tile row).
    public init(m: Int, r: Int) {
        precondition(m >= 1 && r >= 1 && m + r - 1 >= 2 && m + r - 1 <= 8, "Winograd F(\(m), \(r)): α must be 2…8")
        self.m = m
        self.r = r
        let a = m + r - 1
        let p = Array(Self.points.prefix(a - 1))
        func power(_ x: Double, _ e: Int) -> Double { e == 0 ? 1 : (0..<e).reduce(1.0) { acc, _ in acc * x } }
        var at = [Double](repeating: 0, count: m * a)
        for i in 0..<m {
            for j in 0..<(a - 1) { at[i * a + j] = power(p[j], i) }
            at[i * a + a - 1] = i == m - 1 ? 1 : 0
        }
        var g = [Double](repeating: 0, count: a * r)
        for j in 0..<(a - 1) {
            var f = 1.0
            for l in 0..<(a - 1) where l != j { f *= p[j] - p[l] }
            for k in 0..<r { g[j * r + k] = power(p[j], k) / f }
        }
        g[(a - 1) * r + r - 1] = 1
        // Bᵀ column by column: E b = δ with E[(i,k)][j] = Aᵀ[i][j] G[j][k]; normal equations.
        let rows = m * r
        var e = [Double](repeating: 0, count: rows * a)
        for i in 0..<m { for k in 0..<r { for j in 0..<a { e[(i * r + k) * a + j] = at[i * a + j] * g[j * r + k] } } }
        var bt = [Double](repeating: 0, count: a * a)
        for s in 0..<a {
            var n = [Double](repeating: 0, count: a * a), rhs = [Double](repeating: 0, count: a)
            for q in 0..<rows {
                let (i, k) = (q / r, q % r)
                let target: Double = s == i + k ? 1 : 0
                for j in 0..<a {
                    rhs[j] += e[q * a + j] * target
                    for l in 0..<a { n[j * a + l] += e[q * a + j] * e[q * a + l] }
                }
            }
            let b = Self.solve(n, rhs, size: a)
            for j in 0..<a { bt[j * a + s] = b[j] }
        }
        var worst = 0.0
        for q in 0..<rows {
            let (i, k) = (q / r, q % r)
            for s in 0..<a {
                var v = 0.0
                for j in 0..<a { v += e[q * a + j] * bt[j * a + s] }
                worst = max(worst, abs(v - (s == i + k ? 1 : 0)))
            }
        }
        self.at = at
        self.g = g
        self.bt = bt
        identityError = worst
    }

    /// Gaussian elimination with partial pivoting (tiny dense systems).
    static func solve(_ matrix: [Double], _ rhs: [Double], size n: Int) -> [Double] {
        var a = matrix, b = rhs
        for col in 0..<n {
            var pivot = col
            for row in (col + 1)..<max(n, col + 1) where abs(a[row * n + col]) > abs(a[pivot * n + col]) { pivot = row }
            if pivot != col {
                for j in 0..<n { a.swapAt(col * n + j, pivot * n + j) }
                b.swapAt(col, pivot)
            }
            let d = a[col * n + col]
            guard d != 0 else { continue }
            for row in (col + 1)..<max(n, col + 1) {
                let f = a[row * n + col] / d
                if f == 0 { continue }
                for j in col..<n { a[row * n + j] -= f * a[col * n + j] }
                b[row] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var s = b[row]
            for j in (row + 1)..<max(n, row + 1) { s -= a[row * n + j] * x[j] }
            let d = a[row * n + row]
            x[row] = d == 0 ? 0 : s / d
        }
        // Round what is a small dyadic rational up to rounding (exact matrices stay exact).
        return x.map { v in
            let scaled = (v * 4096).rounded()
            return abs(v * 4096 - scaled) < 1e-9 ? scaled / 4096 : v
        }
    }

    /// Kron(G, G) as Float, (α·α) × (r·r): U[(η,ξ)] = Σ_{i,j} G[η][i] G[ξ][j] g[i][j] for one filter.
    var filterKron: [Float] {
        let a = alpha
        var k = [Float](repeating: 0, count: a * a * r * r)
        for eta in 0..<a {
            for xi in 0..<a {
                for i in 0..<r { for j in 0..<r { k[(eta * a + xi) * r * r + i * r + j] = Float(g[eta * r + i] * g[xi * r + j]) } }
            }
        }
        return k
    }

    /// The transform RED-CNN's layers use: α = 8 (one SIMD8 per tile row), m = 9 − k.
    public static func forKernel(_ k: Int) -> WinogradTransform? {
        guard k >= 2 && k <= 7 else { return nil }
        return WinogradTransform(m: 9 - k, r: k)
    }
}

/// Winograd convolution: settings, eligibility, filter transform cache.
public enum Winograd {
    /// `auto` uses Winograd only when both channel counts reach this (RED-CNN: every layer but
    /// conv1, Cin = 1, and tconv5, Cout = 1, where the transforms cost more than they save).
    public static let minimumChannels = 8
    /// Default tiles per band (rounded to whole tile rows): the N of each of the α² sgemms. A
    /// workspace carries its own value (`Workspace.winogradTargetTiles`), so that changing it for
    /// one model (a benchmark, a test) cannot change how another sums its weight gradients.
    public static let defaultTargetTiles = 256

    /// The build of the C transform kernels this CPU runs: "avx2+fma" or "portable".
    public static var kernelBuild: String { String(cString: ldct_winograd_isa()) }

    /// Whether `algorithm` computes this stride-1 convolution by Winograd.
    static func applies(_ algorithm: ConvolutionAlgorithm, _ g: ConvGeometry, outChannels: Int) -> Bool {
        guard g.stride == 1, g.kernel >= 2, g.kernel <= 7, g.padding < g.kernel else { return false }
        switch algorithm {
        case .im2col: return false
        case .winograd: return true
        case .auto: return g.channels >= minimumChannels && outChannels >= minimumChannels
        }
    }

    /// U[(η,ξ)][o][c] = (G g_{o,c} Gᵀ)[η][ξ] for weights [Cout, Cin, r, r]: one sgemm with Kron(G, G).
    static func transformFilters(_ t: WinogradTransform, weights: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                 into u: UnsafeMutablePointer<Float>) {
        let kron = t.filterKron
        kron.withUnsafeBufferPointer { kb in
            sgemm(transB: true, m: t.alpha * t.alpha, n: outChannels * inChannels, k: t.r * t.r, a: kb.baseAddress!,
                  lda: t.r * t.r, b: weights, ldb: t.r * t.r, beta: 0, c: u, ldc: outChannels * inChannels)
        }
    }
}

/// Transformed filters kept by a `Workspace` for weights it has seen (inference transforms each
/// layer's filters once per model); keyed by a hash of the weights' bits, so changed weights
/// (training) are transformed anew. Holds a few entries, the oldest dropped first.
final class WinogradFilterCache {
    private var entries: [(key: Key, u: [Float])] = []
    private let capacity = 24

    struct Key: Equatable {
        let hash: UInt64, count: Int, outChannels: Int, m: Int
    }

    static func key(_ w: UnsafePointer<Float>, count: Int, outChannels: Int, m: Int) -> Key {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        UnsafeRawPointer(w).withMemoryRebound(to: UInt32.self, capacity: count) { bits in
            for i in 0..<count { h = (h ^ UInt64(bits[i])) &* 0x100_0000_01b3 }
        }
        return Key(hash: h, count: count, outChannels: outChannels, m: m)
    }

    func lookup(_ key: Key) -> [Float]? { entries.first { $0.key == key }?.u }

    func insert(_ key: Key, _ u: [Float]) {
        if entries.count >= capacity { entries.removeFirst() }
        entries.append((key, u))
    }
}

/// Stride-1 convolution of a batch by Winograd F(m×m, k×k), α = m + k − 1 ≤ 8.
///
/// Shapes: x [N, Cin, H, W]; weights [Cout, Cin, k, k]; y [N, Cout, Hout, Wout], Hout = H + 2p − k + 1.
/// The output is cut into m×m tiles (the last row/column of tiles may stick out and is clipped);
/// tile rows of all images form one sequence cut into bands of about `workspace.winogradTargetTiles` tiles,
/// spread over the workers. Per band, in the worker's workspace buffer:
/// 1. the α input rows of each tile row are copied with their zero padding into P [Cin, α, Wp];
///    each tile's α×α patch d gives V[(η,ξ)][c][t] = (Bᵀ d B)[η][ξ] (SIMD8 rows, separable);
/// 2. M[(η,ξ)] [Cout × T] = U[(η,ξ)] [Cout × Cin] × V[(η,ξ)] [Cin × T]: α² sgemms;
/// 3. each tile's Y = Aᵀ M A (m×m) goes to a row buffer, then the epilogue
///    (bias, residual, ReLU) writes the output rows.
func winogradConvolution(_ x: Tensor, geometry gm: ConvGeometry, outChannels cout: Int, transform t: WinogradTransform,
                         filters u: UnsafePointer<Float>, bias: UnsafePointer<Float>, workspace: Workspace,
                         epilogue: Epilogue, output: Handover? = nil) -> Tensor {
    let (cin, h, w, pad) = (gm.channels, gm.height, gm.width, gm.padding)
    let (hout, wout) = (gm.outHeight, gm.outWidth)
    let m = t.m, a = t.alpha, aa = a * a
    let tilesH = (hout + m - 1) / m, tilesW = (wout + m - 1) / m
    let wp = m * tilesW + 8 - m           // padded input row: every SIMD8 load stays inside
    let rowW = m * tilesW + 8             // output row buffer: SIMD8 stores of the last tile fit
    let inPlace = output != nil   // output holds the residual and receives the result
    var y = output?.take() ?? Tensor(uninitialized: [x.n, cout, hout, wout])
    precondition(y.shape == [x.n, cout, hout, wout], "in-place output \(y.shape) does not match")
    if let r = epilogue.residual { precondition(r.shape == y.shape, "residual \(r.shape) does not match output \(y.shape)") }
    // Band size: whole tile rows, about the workspace's target tiles, within the per-worker budget.
    let scratchFloats = ldct_winograd_scratch_floats()
    let perRow = cin * a * wp + m * rowW + aa * (cin + cout) * tilesW + 4 * tilesW  // + two Int offsets per tile
    let perWorker = max(workspace.maxColumnFloats / Parallelism.workers, scratchFloats + perRow)
    let budgetRows = max(1, (perWorker - scratchFloats) / perRow)
    let targetRows = max(1, (workspace.winogradTargetTiles + tilesW / 2) / tilesW)
    let totalRows = x.n * tilesH
    let bandRows = min(totalRows, budgetRows, targetRows)
    let bands = (totalRows + bandRows - 1) / bandRows
    workspace.prepare(scratchFloats + perRow * bandRows + 2)

    // Operations the transform kernels do (dense): input 2·α²·(α + α) per tile and input channel,
    // output 2·(α·m·α + m·m·α) per tile and output channel.
    let allTiles = Double(totalRows * tilesW)
    SgemmClock.count(transforms: allTiles * (Double(cin) * Double(4 * aa * a) + Double(cout) * Double(2 * (a * m * a + m * m * a))))
    let btF = t.bt.map(Float.init), atF = t.at.map(Float.init)
    let residual = epilogue.residual?.data ?? []
    let relu = epilogue.relu
    let hwIn = h * w, hwOut = hout * wout

    x.data.withUnsafeBufferPointer { xb in
      residual.withUnsafeBufferPointer { rb in
        y.data.withUnsafeMutableBufferPointer { yb in
          btF.withUnsafeBufferPointer { btp in
            atF.withUnsafeBufferPointer { atp in
            let (xs, ys) = (xb.baseAddress!, yb.baseAddress!)
            let rs: UnsafePointer<Float>? = inPlace ? UnsafePointer(ys) : (epilogue.residual == nil ? nil : rb.baseAddress)
            let (btv, atv) = (btp.baseAddress!, atp.baseAddress!)
            Parallelism.run(bands) { worker, band in
                let row0 = band * bandRows, row1 = min(totalRows, row0 + bandRows), nRows = row1 - row0
                let tiles = nRows * tilesW
                // Per-worker layout: scratch | P [Cin][row][α][Wp] | out rows [row][m][rowW] | V | M | offsets
                let scratch = workspace.columns(worker: worker)
                let pbuf = scratch + scratchFloats
                let obuf = pbuf + cin * nRows * a * wp
                let v = obuf + nRows * m * rowW, mm = v + aa * cin * tiles
                let offsetsRaw = UnsafeMutableRawPointer(mm + aa * cout * tiles)
                let offsets = offsetsRaw.alignedUp(for: Int.self).bindMemory(to: Int.self, capacity: 2 * tiles)
                let outOffsets = offsets + tiles
                let vPlane = cin * tiles, mPlane = cout * tiles
                let pChannel = nRows * a * wp
                for r in 0..<nRows {
                    for tx in 0..<tilesW {
                        offsets[r * tilesW + tx] = r * a * wp + m * tx
                        outOffsets[r * tilesW + tx] = r * m * rowW + m * tx
                    }
                }
                // 1. input rows with their zero padding, then the input transform per channel
                for r in 0..<nRows {
                    let gr = row0 + r
                    let img = gr / tilesH, ty = gr % tilesH
                    let xi = xs + img * cin * hwIn
                    for c in 0..<cin {
                        for i in 0..<a {
                            paddedRow(pbuf + c * pChannel + (r * a + i) * wp, width: wp, source: xi + c * hwIn, row: m * ty - pad + i,
                                      height: h, columns: w, padding: pad)
                        }
                    }
                }
                for c in 0..<cin {
                    ldct_winograd_input(pbuf + c * pChannel, offsets, tiles, wp, a, a, btv, v + c * tiles, vPlane, scratch)
                }
                // 2. element-wise stage as α² sgemms
                for xi in 0..<aa {
                    sgemm(m: cout, n: tiles, k: cin, a: u + xi * cout * cin, lda: cin, b: v + xi * vPlane, ldb: tiles,
                          beta: 0, c: mm + xi * mPlane, ldc: tiles)
                }
                // 3. output transform per channel, then the epilogue writes the output rows
                for o in 0..<cout {
                    ldct_winograd_output(mm + o * tiles, mPlane, tiles, m, a, atv, obuf, outOffsets, rowW, scratch)
                    let b = bias[o]
                    for r in 0..<nRows {
                        let gr = row0 + r
                        let img = gr / tilesH, ty = gr % tilesH
                        let y0 = m * ty, rows = min(m, hout - y0)
                        let base = (img * cout + o) * hwOut + y0 * wout
                        for i in 0..<rows {
                            let src = obuf + (r * m + i) * rowW, dst = ys + base + i * wout
                            if let rs {
                                let res = rs + base + i * wout
                                if relu { for j in 0..<wout { dst[j] = max(src[j] + b + res[j], 0) } } else { for j in 0..<wout { dst[j] = src[j] + b + res[j] } }
                            } else {
                                if relu { for j in 0..<wout { dst[j] = max(src[j] + b, 0) } } else { for j in 0..<wout { dst[j] = src[j] + b } }
                            }
                        }
                    }
                }
            }
            }
          }
        }
      }
    }
    return y
}

/// Weight gradient of a stride-1 convolution by Winograd F(k×k, m×m), α = k + m − 1 = 8:
/// dW[o, c, ki, kj] += Σ_n Σ_(y,x) O[n, o, y, x] · I[n, c, y − p + ki, x − p + kj].
///
/// Shapes: input I [N, C_I, H, W]; outputGradient O [N, C_O, Ho, Wo] with Ho = H + 2p − k + 1;
/// dW [C_O, C_I, k, k] (accumulated). Per m×m tile of O, the contribution is the correlation of
/// the input patch (α×α) with the O tile as filter, k×k outputs: in the transformed domain
/// S[(η,ξ)][o][c] = Σ_tiles (G O_t Gᵀ)[η][ξ] · (Bᵀ I_t B)[η][ξ], α² sgemms with K = tiles per band,
/// then dW = Aᵀ S A once per layer (one sgemm with Kron(A, A)). Bands go to the workers in a fixed
/// order (`runStatic`), each with private sums reduced in worker order: the result is the same from
/// run to run (bit-identical resume).
func winogradWeightGradient(input: Tensor, outputGradient dy: Tensor, padding pad: Int, kernel r: Int, workspace: Workspace,
                            into dW: UnsafeMutablePointer<Float>) {
    let t = WinogradTransform(m: r, r: 9 - r)   // outputs: the k×k weights; "filter": the m×m tile of O
    let mt = t.r, a = t.alpha, aa = a * a
    let (ci, co) = (input.c, dy.c)
    let (h, w, hout, wout) = (input.h, input.w, dy.h, dy.w)
    precondition(hout == h + 2 * pad - r + 1 && wout == w + 2 * pad - r + 1 && input.n == dy.n, "weight gradient shapes")
    let tilesH = (hout + mt - 1) / mt, tilesW = (wout + mt - 1) / mt
    let wpI = mt * tilesW + 8 - mt, wpO = mt * tilesW
    let scratchFloats = ldct_winograd_scratch_floats()
    let perRow = ci * a * wpI + co * mt * wpO + aa * (ci + co) * tilesW + 4 * tilesW
    let workers = Parallelism.workers
    let perWorker = max(workspace.maxColumnFloats / workers, scratchFloats + perRow)
    let budgetRows = max(1, (perWorker - scratchFloats) / perRow)
    let totalRows = dy.n * tilesH
    let targetRows = max(1, min(budgetRows, (workspace.winogradTargetTiles + tilesW / 2) / tilesW))
    // A multiple of the worker count of about equal bands (static assignment).
    let rounds = (totalRows + workers * targetRows - 1) / (workers * targetRows)
    let bandRows = max(1, (totalRows + workers * rounds - 1) / (workers * rounds))
    let bands = (totalRows + bandRows - 1) / bandRows
    workspace.prepare(scratchFloats + perRow * bandRows + 2)
    let sCount = aa * co * ci
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: sCount * workers)
    sums.initialize(repeating: 0, count: sCount * workers)
    defer { sums.deallocate() }
    // Transform operations (dense): input side 2·α²·(α + α) per tile and channel, the O side
    // 2·(mt·α·mt + α·α·mt) per tile and channel.
    SgemmClock.count(transforms: Double(totalRows * tilesW) * (Double(ci) * Double(4 * aa * a) + Double(co) * Double(2 * (mt * a * mt + a * a * mt))))
    let btF = t.bt.map(Float.init), gF = t.g.map(Float.init)
    let hwI = h * w, hwO = hout * wout
    input.data.withUnsafeBufferPointer { ib in
      dy.data.withUnsafeBufferPointer { ob in
        btF.withUnsafeBufferPointer { btp in
          gF.withUnsafeBufferPointer { gp in
            let (xs, ys, btv, gv) = (ib.baseAddress!, ob.baseAddress!, btp.baseAddress!, gp.baseAddress!)
            Parallelism.runStatic(bands) { worker, band in
                let row0 = band * bandRows, row1 = min(totalRows, row0 + bandRows), nRows = row1 - row0
                let tiles = nRows * tilesW
                let scratch = workspace.columns(worker: worker)
                let pI = scratch + scratchFloats, pO = pI + ci * nRows * a * wpI
                let vI = pO + co * nRows * mt * wpO, vO = vI + aa * ci * tiles
                let offI = UnsafeMutableRawPointer(vO + aa * co * tiles).alignedUp(for: Int.self)
                    .bindMemory(to: Int.self, capacity: 2 * tiles)
                let offO = offI + tiles
                for rr in 0..<nRows {
                    for tx in 0..<tilesW {
                        offI[rr * tilesW + tx] = rr * a * wpI + mt * tx
                        offO[rr * tilesW + tx] = rr * mt * wpO + mt * tx
                    }
                }
                let chanI = nRows * a * wpI, chanO = nRows * mt * wpO
                for rr in 0..<nRows {
                    let gr = row0 + rr, img = gr / tilesH, ty = gr % tilesH
                    for c in 0..<ci {
                        for i in 0..<a {
                            paddedRow(pI + c * chanI + (rr * a + i) * wpI, width: wpI, source: xs + (img * ci + c) * hwI,
                                      row: mt * ty - pad + i, height: h, columns: w, padding: pad)
                        }
                    }
                    for o in 0..<co {
                        for i in 0..<mt {
                            let dst = pO + o * chanO + (rr * mt + i) * wpO
                            let yy = mt * ty + i
                            if yy >= hout {
                                dst.update(repeating: 0, count: wpO)
                            } else {
                                dst.update(from: ys + (img * co + o) * hwO + yy * wout, count: wout)
                                if wpO > wout { dst.advanced(by: wout).update(repeating: 0, count: wpO - wout) }
                            }
                        }
                    }
                }
                for c in 0..<ci {
                    ldct_winograd_input(pI + c * chanI, offI, tiles, wpI, a, a, btv, vI + c * tiles, ci * tiles, scratch)
                }
                for o in 0..<co {
                    ldct_winograd_input(pO + o * chanO, offO, tiles, wpO, a, mt, gv, vO + o * tiles, co * tiles, scratch)
                }
                let s = sums + worker * sCount
                for xi in 0..<aa {
                    sgemm(transB: true, m: co, n: ci, k: tiles, a: vO + xi * co * tiles, lda: tiles, b: vI + xi * ci * tiles,
                          ldb: tiles, beta: 1, c: s + xi * co * ci, ldc: ci)
                }
            }
          }
        }
      }
    }
    for wk in 1..<max(workers, 1) {
        let s = sums + wk * sCount
        for i in 0..<sCount { sums[i] += s[i] }
    }
    // dW[(o,c)][(ki,kj)] += Σ_(η,ξ) S[(η,ξ)][(o,c)] · Aᵀ[ki][η] Aᵀ[kj][ξ]
    var kronA = [Float](repeating: 0, count: aa * r * r)
    for eta in 0..<a { for xi in 0..<a { for ki in 0..<r { for kj in 0..<r {
        kronA[(eta * a + xi) * r * r + ki * r + kj] = Float(t.at[ki * a + eta] * t.at[kj * a + xi])
    } } } }
    kronA.withUnsafeBufferPointer { kb in
        sgemm(transA: true, m: co * ci, n: r * r, k: aa, a: sums, lda: co * ci, b: kb.baseAddress!, ldb: r * r, beta: 1, c: dW, ldc: r * r)
    }
}

/// One row of a zero-padded input copy: `dst[0 ..< width]` = image row `row` of `source` (H × W)
/// shifted right by `padding`, zeros outside the image (rows above/below included).
@inline(__always)
func paddedRow(_ dst: UnsafeMutablePointer<Float>, width: Int, source: UnsafePointer<Float>, row: Int, height: Int, columns: Int,
               padding: Int) {
    guard row >= 0 && row < height else {
        dst.update(repeating: 0, count: width)
        return
    }
    if padding > 0 { dst.update(repeating: 0, count: padding) }
    dst.advanced(by: padding).update(from: source + row * columns, count: columns)
    let tail = width - padding - columns
    if tail > 0 { dst.advanced(by: padding + columns).update(repeating: 0, count: tail) }
}

/// db[o] += Σ over images and pixels of dy[n, o, ·, ·] (sequential: the same sum every run).
func biasGradient(_ dy: Tensor, into db: UnsafeMutablePointer<Float>) {
    let hw = dy.h * dy.w
    dy.data.withUnsafeBufferPointer { b in
        let p = b.baseAddress!
        for o in 0..<dy.c {
            var s: Float = 0
            for img in 0..<dy.n {
                let row = p + (img * dy.c + o) * hw
                for j in 0..<hw { s += row[j] }
            }
            db[o] += s
        }
    }
}
