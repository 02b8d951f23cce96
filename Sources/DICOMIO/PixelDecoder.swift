import Foundation

/// Turns stored pixel values into Hounsfield units.
public enum PixelDecoder {
    /// HU below this value are not physical (air is −1000 HU); a slice whose minimum stored value
    /// maps below it and that declares no Pixel Padding Value uses that value to mark pixels
    /// outside the reconstructed field of view (common on Siemens, GE and Philips scanners).
    public static let outsideFieldOfViewHU: Double = -1500

    /// Decodes every slice that lives in one file (one, or all frames of a multi-frame file).
    /// `slices` must all come from the same file; the result follows their order.
    public static func decode(file path: String, slices: [SliceInfo]) throws -> [SliceImage] {
        let n = (slices.first?.pixel.rows ?? 0) * (slices.first?.pixel.columns ?? 0)
        var hu = [Float](repeating: 0, count: n * slices.count)
        var mask = [UInt8](repeating: 0, count: n * slices.count)
        let counts = try hu.withUnsafeMutableBufferPointer { h in
            try mask.withUnsafeMutableBufferPointer { m in
                try decode(file: path, slices: slices, hu: h, mask: m)
            }
        }
        return counts.enumerated().map { k, padded in
            SliceImage(rows: slices[k].pixel.rows, columns: slices[k].pixel.columns, hu: Array(hu[k * n..<(k + 1) * n]),
                       paddingMask: padded > 0 ? Array(mask[k * n..<(k + 1) * n]) : [])
        }
    }

    /// Decodes the slices of one file straight into caller buffers: slice k goes to
    /// `hu[k·n ..< (k+1)·n]` and `mask[…]` (n = rows × columns; mask 1 = padding). Returns the
    /// number of padding pixels per slice. This is the allocation-free path bulk loading uses.
    public static func decode(file path: String, slices: [SliceInfo], hu: UnsafeMutableBufferPointer<Float>,
                              mask: UnsafeMutableBufferPointer<UInt8>) throws -> [Int] {
        guard let first = slices.first else { return [] }
        let file = try DICOMFile(path: path)
        let info = try file.pixelInfo()
        guard info.rows == first.pixel.rows, info.columns == first.pixel.columns else {
            throw DICOMError.inconsistentSeries(file: path, reason: "image size changed since the scan")
        }
        let n = info.rows * info.columns
        precondition(hu.count >= n * slices.count && mask.count >= n * slices.count, "destination too small")
        let stored = try file.decodeStoredValues(info: info)
        return stored.withUnsafeBufferPointer { buf in
            slices.enumerated().map { k, slice in
                let frameIndex = min(max((slice.frame ?? 1) - 1, 0), info.frames - 1)
                return toHU(UnsafeBufferPointer(rebasing: buf[frameIndex * n..<(frameIndex + 1) * n]), slice: slice,
                            hu: UnsafeMutableBufferPointer(rebasing: hu[k * n..<(k + 1) * n]),
                            mask: UnsafeMutableBufferPointer(rebasing: mask[k * n..<(k + 1) * n]))
            }
        }
    }

    /// Decodes one slice.
    public static func decode(_ slice: SliceInfo) throws -> SliceImage {
        try decode(file: slice.file, slices: [slice])[0]
    }

    /// Applies Rescale Slope/Intercept in floating point and fills the padding mask.
    /// Returns the number of padding / outside-field-of-view pixels.
    @discardableResult
    public static func toHU(_ stored: UnsafeBufferPointer<Int32>, slice: SliceInfo, hu: UnsafeMutableBufferPointer<Float>,
                            mask: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let n = stored.count
        let slope = slice.rescaleSlope
        let intercept = slice.rescaleIntercept
        var minimum = Int32.max
        for i in 0..<n { minimum = min(minimum, stored[i]) }
        if slope == 1, intercept == intercept.rounded(), abs(intercept) < 1_048_576 {
            // Integer rescale (most CT): exact in Float, and vectorises.
            let offset = Int32(intercept)
            for i in 0..<n { hu[i] = Float(stored[i] &+ offset) }
        } else {
            for i in 0..<n { hu[i] = Float(Double(stored[i]) * slope + intercept) }
        }
        var padded = 0
        if let pad = slice.paddingValue {
            let limit = slice.paddingRangeLimit ?? pad
            let lo = Int32(min(pad, limit)), hi = Int32(max(pad, limit))
            for i in 0..<n {
                let inside = stored[i] >= lo && stored[i] <= hi
                mask[i] = inside ? 1 : 0
                padded += inside ? 1 : 0
            }
        } else if n > 0, Double(minimum) * slope + intercept < outsideFieldOfViewHU {
            for i in 0..<n {
                let inside = stored[i] == minimum
                mask[i] = inside ? 1 : 0
                padded += inside ? 1 : 0
            }
        } else {
            for i in 0..<n { mask[i] = 0 }
        }
        return padded
    }
}

/// Loads whole series into memory (one contiguous HU buffer).
public enum SeriesLoader {
    /// Decodes every slice of a series, files in parallel, straight into the series buffer.
    /// Slices that fail are left out and returned as errors; the series comes back with the
    /// slices that decoded (nil when none did).
    public static func load(_ info: SeriesInfo) -> (series: CTSeries?, errors: [DICOMError]) {
        // Group by file, keeping series order, so a multi-frame file is decoded once.
        var fileOrder: [String] = []
        var byFile: [String: [Int]] = [:]
        for (i, s) in info.slices.enumerated() {
            if byFile[s.file] == nil { fileOrder.append(s.file) }
            byFile[s.file, default: []].append(i)
        }
        let n = info.rows * info.columns
        let total = info.slices.count
        let files = fileOrder
        let indices = byFile
        let snapshot = info
        var seriesHU: [Float] = []
        var decoded: [Result<[Int], DICOMError>] = []
        // Decode straight into the series buffers: each file's slices land at their own series
        // positions, so parallel workers write disjoint ranges and nothing is copied twice.
        var maskArray = [UInt8](unsafeUninitializedCapacity: n * total) { maskBuffer, maskCount in
            maskCount = n * total
            var huArray = [Float](unsafeUninitializedCapacity: n * total) { huBuffer, huCount in
                huCount = n * total
                let hu = SendablePointer(huBuffer.baseAddress!)
                let mask = SendablePointer(maskBuffer.baseAddress!)
                decoded = parallelMap(files.count) { k -> Result<[Int], DICOMError> in
                    let idx = indices[files[k]]!
                    let slices = idx.map { snapshot.slices[$0] }
                    do {
                        if idx.count == 1 {
                            return .success(try PixelDecoder.decode(
                                file: files[k], slices: slices, hu: hu.range(idx[0] * n, n), mask: mask.range(idx[0] * n, n)))
                        }
                        let scratchHU = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * idx.count)
                        let scratchMask = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: n * idx.count)
                        defer { scratchHU.deallocate(); scratchMask.deallocate() }
                        let counts = try PixelDecoder.decode(file: files[k], slices: slices, hu: scratchHU, mask: scratchMask)
                        for (j, i) in idx.enumerated() {
                            _ = hu.range(i * n, n).initialize(from: scratchHU[j * n..<(j + 1) * n])
                            _ = mask.range(i * n, n).initialize(from: scratchMask[j * n..<(j + 1) * n])
                        }
                        return .success(counts)
                    } catch let e as DICOMError {
                        return .failure(e)
                    } catch {
                        return .failure(.unreadable(file: files[k], reason: "\(error)"))
                    }
                }
                // Slices whose file failed are left out below; zero them so nothing is uninitialised.
                for (k, result) in decoded.enumerated() {
                    if case .failure = result {
                        for i in indices[files[k]]! {
                            hu.range(i * n, n).initialize(repeating: 0)
                            mask.range(i * n, n).initialize(repeating: 0)
                        }
                    }
                }
            }
            seriesHU = huArray
            huArray = []
        }
        var ok = [Bool](repeating: false, count: total)
        var anyPadding = false
        var errors: [DICOMError] = []
        for (k, result) in decoded.enumerated() {
            switch result {
            case .success(let counts):
                for i in indices[files[k]]! { ok[i] = true }
                anyPadding = anyPadding || counts.contains { $0 > 0 }
            case .failure(let e): errors.append(e)
            }
        }
        guard ok.contains(true) else { return (nil, errors) }
        var kept = info
        kept.slices = zip(info.slices, ok).compactMap { $1 ? $0 : nil }
        if !anyPadding { maskArray = [] }
        if kept.slices.count < total {  // drop the failed slices' ranges
            let keep = ok.enumerated().filter(\.element).map(\.offset)
            seriesHU = keep.flatMap { seriesHU[$0 * n..<($0 + 1) * n] }
            if anyPadding { maskArray = keep.flatMap { maskArray[$0 * n..<($0 + 1) * n] } }
        }
        return (CTSeries(info: kept, hu: seriesHU, paddingMask: maskArray), errors)
    }
}

/// A raw pointer handed to parallel workers that write disjoint ranges.
struct SendablePointer<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
    init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    func range(_ start: Int, _ count: Int) -> UnsafeMutableBufferPointer<T> {
        UnsafeMutableBufferPointer(start: base + start, count: count)
    }
}
