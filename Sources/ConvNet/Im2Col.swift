import Foundation

/// Geometry of a 2-D convolution over one image: input C×H×W, square kernel k, stride s,
/// zero padding p, output Hout×Wout with Hout = (H + 2p − k)/s + 1.
public struct ConvGeometry: Sendable, Equatable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        self.channels = channels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Rows of the column matrix: C·k·k.
    public var patchSize: Int { channels * kernel * kernel }
    public var isValid: Bool { height + 2 * padding >= kernel && width + 2 * padding >= kernel && kernel > 0 && stride > 0 }
}

/// im2col and col2im over a band of output rows [rowStart, rowEnd): the column matrix holds
/// C·k·k rows and (rowEnd − rowStart)·Wout columns; column (r·Wout + c) is the receptive field of
/// output pixel (rowStart + r, c). Bands let callers bound the buffer ("tile the GEMM over output
/// pixels"). Both run on the calling thread: the layers parallelise above them (one band or one
/// image per core), which keeps each core's column buffer hot in its own cache.
public enum Im2Col {
    /// cols[(ch·k + ki)·k + kj, (oh − rowStart)·Wout + ow] = x[ch, oh·s − p + ki, ow·s − p + kj] (0 outside).
    public static func im2col(_ g: ConvGeometry, image x: UnsafePointer<Float>, rowStart: Int, rowEnd: Int,
                              cols: UnsafeMutablePointer<Float>) {
        let k = g.kernel, s = g.stride, p = g.padding
        let wOut = g.outWidth, n = (rowEnd - rowStart) * wOut
        let rowsTotal = g.patchSize
        func body(_ row: Int) {
            let ch = row / (k * k), ki = (row / k) % k, kj = row % k
            let dst = cols + row * n
            let src = x + ch * g.height * g.width
            // Valid output columns for this kj: 0 ≤ ow·s − p + kj < W.
            let owFirst = max(0, (p - kj + s - 1) / s)
            let owEnd = min(wOut, (g.width + p - kj + s - 1) / s)
            for oh in rowStart..<rowEnd {
                let ih = oh * s - p + ki
                let d = dst + (oh - rowStart) * wOut
                if ih < 0 || ih >= g.height || owFirst >= owEnd {
                    d.update(repeating: 0, count: wOut)
                    continue
                }
                if owFirst > 0 { d.update(repeating: 0, count: owFirst) }
                let line = src + ih * g.width
                if s == 1 {
                    // A plain loop: rows are short (tens of floats), where a memmove call costs more than the copy.
                    let from = line + (owFirst - p + kj), to = d + owFirst
                    for j in 0..<(owEnd - owFirst) { to[j] = from[j] }
                } else {
                    for ow in owFirst..<owEnd { d[ow] = line[ow * s - p + kj] }
                }
                if owEnd < wOut { (d + owEnd).update(repeating: 0, count: wOut - owEnd) }
            }
        }
        for row in 0..<rowsTotal { body(row) }
    }

    /// The adjoint of im2col: adds each column entry back to the pixel it came from.
    /// `image` must be initialised (zeros to start); bands may be applied one after another.
    public static func col2im(_ g: ConvGeometry, cols: UnsafePointer<Float>, rowStart: Int, rowEnd: Int,
                              image x: UnsafeMutablePointer<Float>) {
        let k = g.kernel, s = g.stride, p = g.padding
        let wOut = g.outWidth, n = (rowEnd - rowStart) * wOut
        func body(_ ch: Int) {
            let dstChannel = x + ch * g.height * g.width
            for ki in 0..<k {
                for kj in 0..<k {
                    let src = cols + ((ch * k + ki) * k + kj) * n
                    let owFirst = max(0, (p - kj + s - 1) / s)
                    let owEnd = min(wOut, (g.width + p - kj + s - 1) / s)
                    guard owFirst < owEnd else { continue }
                    for oh in rowStart..<rowEnd {
                        let ih = oh * s - p + ki
                        if ih < 0 || ih >= g.height { continue }
                        let line = dstChannel + ih * g.width
                        let c = src + (oh - rowStart) * wOut
                        if s == 1 {
                            let base = line + (owFirst - p + kj)
                            for ow in owFirst..<owEnd { base[ow - owFirst] += c[ow] }
                        } else {
                            for ow in owFirst..<owEnd { line[ow * s - p + kj] += c[ow] }
                        }
                    }
                }
            }
        }
        for ch in 0..<g.channels { body(ch) }
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
