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
        guard let first = slices.first else { return [] }
        let file = try DICOMFile(path: path)
        let info = try file.pixelInfo()
        guard info.rows == first.pixel.rows, info.columns == first.pixel.columns else {
            throw DICOMError.inconsistentSeries(file: path, reason: "image size changed since the scan")
        }
        let stored = try file.decodeStoredValues(info: info)
        let n = info.rows * info.columns
        return slices.map { slice in
            let frameIndex = (slice.frame ?? 1) - 1
            let start = min(max(frameIndex, 0), info.frames - 1) * n
            return stored.withUnsafeBufferPointer { buf in
                toHU(UnsafeBufferPointer(rebasing: buf[start..<start + n]), slice: slice)
            }
        }
    }

    /// Decodes one slice.
    public static func decode(_ slice: SliceInfo) throws -> SliceImage {
        try decode(file: slice.file, slices: [slice])[0]
    }

    /// Applies Rescale Slope/Intercept in floating point and builds the padding mask.
    public static func toHU(_ stored: UnsafeBufferPointer<Int32>, slice: SliceInfo) -> SliceImage {
        let n = stored.count
        let slope = slice.rescaleSlope
        let intercept = slice.rescaleIntercept
        var hu = [Float](repeating: 0, count: n)
        hu.withUnsafeMutableBufferPointer { out in
            for i in 0..<n { out[i] = Float(Double(stored[i]) * slope + intercept) }
        }
        var mask: [UInt8] = []
        if let pad = slice.paddingValue {
            let limit = slice.paddingRangeLimit ?? pad
            let lo = Int32(min(pad, limit)), hi = Int32(max(pad, limit))
            mask = [UInt8](repeating: 0, count: n)
            var any = false
            mask.withUnsafeMutableBufferPointer { m in
                for i in 0..<n where stored[i] >= lo && stored[i] <= hi { m[i] = 1; any = true }
            }
            if !any { mask = [] }
        } else if let minimum = stored.min(), Double(minimum) * slope + intercept < outsideFieldOfViewHU {
            mask = [UInt8](repeating: 0, count: n)
            mask.withUnsafeMutableBufferPointer { m in
                for i in 0..<n where stored[i] == minimum { m[i] = 1 }
            }
        }
        return SliceImage(rows: slice.pixel.rows, columns: slice.pixel.columns, hu: hu, paddingMask: mask)
    }
}

/// Loads whole series into memory (one contiguous HU buffer).
public enum SeriesLoader {
    /// Decodes every slice of a series. Slices that fail are left out and returned as errors;
    /// the series comes back with the slices that decoded (nil when none did).
    public static func load(_ info: SeriesInfo) -> (series: CTSeries?, errors: [DICOMError]) {
        // Group by file, keeping series order, so a multi-frame file is decoded once.
        var fileOrder: [String] = []
        var byFile: [String: [Int]] = [:]
        for (i, s) in info.slices.enumerated() {
            if byFile[s.file] == nil { fileOrder.append(s.file) }
            byFile[s.file, default: []].append(i)
        }
        let snapshot = info
        let files = fileOrder
        let indices = byFile
        let decoded = parallelMap(files.count) { k -> Result<[SliceImage], DICOMError> in
            let idx = indices[files[k]]!
            do {
                return .success(try PixelDecoder.decode(file: files[k], slices: idx.map { snapshot.slices[$0] }))
            } catch let e as DICOMError {
                return .failure(e)
            } catch {
                return .failure(.unreadable(file: files[k], reason: "\(error)"))
            }
        }
        var images = [SliceImage?](repeating: nil, count: info.slices.count)
        var errors: [DICOMError] = []
        for (k, result) in decoded.enumerated() {
            switch result {
            case .success(let list):
                for (j, i) in indices[files[k]]!.enumerated() { images[i] = list[j] }
            case .failure(let e): errors.append(e)
            }
        }
        var kept = info
        kept.slices = zip(info.slices, images).compactMap { $1 == nil ? nil : $0 }
        let present = images.compactMap { $0 }
        guard !present.isEmpty else { return (nil, errors) }
        let n = info.rows * info.columns
        var hu = [Float]()
        hu.reserveCapacity(present.count * n)
        let anyMask = present.contains { !$0.paddingMask.isEmpty }
        var mask = [UInt8]()
        if anyMask { mask.reserveCapacity(present.count * n) }
        for image in present {
            hu.append(contentsOf: image.hu)
            if anyMask {
                mask.append(contentsOf: image.paddingMask.isEmpty ? [UInt8](repeating: 0, count: n) : image.paddingMask)
            }
        }
        return (CTSeries(info: kept, hu: hu, paddingMask: mask), errors)
    }
}
