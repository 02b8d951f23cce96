import Foundation

/// Tissue classes by HU thresholds, for masks and for Dice overlap between two images.
/// Thresholds (stated in every report): air/lung < −400 ≤ fat < −20 ≤ soft tissue < 300 ≤ bone.
public enum TissueClass: Int, CaseIterable, Codable, Sendable {
    case airLung = 0, fat, softTissue, bone

    public static let fatFrom: Float = -400
    public static let softFrom: Float = -20
    public static let boneFrom: Float = 300

    public static func of(_ hu: Float) -> TissueClass {
        hu < fatFrom ? .airLung : hu < softFrom ? .fat : hu < boneFrom ? .softTissue : .bone
    }

    public var name: String {
        switch self {
        case .airLung: return "air/lung"
        case .fat: return "fat"
        case .softTissue: return "soft tissue"
        case .bone: return "bone"
        }
    }

    public static let thresholdsLabel = "air/lung < −400 HU ≤ fat < −20 HU ≤ soft tissue < 300 HU ≤ bone"
}

/// A square region of interest (top-left corner, side in pixels).
public struct ROI: Sendable, Equatable, Codable {
    public var row: Int
    public var column: Int
    public var size: Int
    public init(row: Int, column: Int, size: Int) {
        self.row = row
        self.column = column
        self.size = size
    }
}

/// Radial noise power spectrum: NPS(f) in HU²·mm² at bin centres f in cycles/mm.
public struct NoisePowerSpectrum: Sendable, Equatable, Codable {
    public var frequencies: [Double]
    public var power: [Double]
    /// Σ f·NPS / Σ NPS over the 2-D spectrum (cycles/mm): lower means coarser ("plastic") noise.
    public var meanFrequency: Double
    /// ∫ NPS df over the 2-D spectrum: equals the variance of the (mean-removed) ROIs.
    public var variance: Double

    public init(frequencies: [Double], power: [Double], meanFrequency: Double, variance: Double) {
        self.frequencies = frequencies
        self.power = power
        self.meanFrequency = meanFrequency
        self.variance = variance
    }
}

/// Region measurements that need no reference image: noise in automatically found uniform
/// regions, its power spectrum, contrast-to-noise ratio, tissue masks and their Dice overlap.
public enum Regions {
    /// Box mean of side `2r+1` (edges use the pixels available).
    public static func boxMean(_ image: [Float], rows: Int, columns: Int, radius r: Int) -> [Float] {
        // Integral image in Double.
        let w = columns + 1
        var integral = [Double](repeating: 0, count: (rows + 1) * w)
        for y in 0..<rows {
            var rowSum = 0.0
            for x in 0..<columns {
                rowSum += Double(image[y * columns + x])
                integral[(y + 1) * w + x + 1] = integral[y * w + x + 1] + rowSum
            }
        }
        var out = [Float](repeating: 0, count: rows * columns)
        for y in 0..<rows {
            let y0 = max(0, y - r), y1 = min(rows, y + r + 1)
            for x in 0..<columns {
                let x0 = max(0, x - r), x1 = min(columns, x + r + 1)
                let s = integral[y1 * w + x1] - integral[y0 * w + x1] - integral[y1 * w + x0] + integral[y0 * w + x0]
                out[y * columns + x] = Float(s / Double((y1 - y0) * (x1 - x0)))
            }
        }
        return out
    }

    /// Uniform soft-tissue regions: squares of side `size` on a half-overlapping grid whose mean
    /// lies in soft tissue (−20…150 HU), with no padding pixel, scored by the spread of the means of
    /// their 4×4 sub-blocks (structure, not noise); of those scoring at most twice the lower
    /// quartile, `count` non-overlapping ones spread over the image. The guide is the low-dose image, so the same regions
    /// serve low, restored and normal dose.
    /// Rank (0-based) of the structure score that uniform squares are judged against (×2).
    public static let uniformReferenceRank = 2

    public static func uniformROIs(guide: [Float], rows: Int, columns: Int, paddingMask: [UInt8] = [],
                                   size: Int? = nil, count: Int = 6) -> [ROI] {
        // rows/32 (16 px, ~13 mm at 512²): real chest and head slices have few flat 27 mm squares,
        // and rows/16 read structure as noise (kernel B chest: median 16.6 HU, 90th percentile
        // 37 HU, where the flattest tissue has ~10); rows/32 gives 8.3 HU, 90th percentile 11.3
        // (docs/report-schema.md).
        // At least 16 px from 128² up (σ from fewer pixels scatters), 8 px on small images.
        let short = min(rows, columns)
        var side = size ?? (short >= 128 ? max(16, short / 32) : 8)
        side -= side % 4
        guard side >= 4, rows >= side, columns >= side else { return [] }
        let sub = side / 4
        let stride = max(1, side / 2)
        var candidates: [(score: Double, roi: ROI)] = []
        var y = 0
        while y + side <= rows {
            var x = 0
            while x + side <= columns {
                var padded = false
                var means = [Double](repeating: 0, count: 16)
                for yy in y..<(y + side) {
                    for xx in x..<(x + side) {
                        let i = yy * columns + xx
                        if !paddingMask.isEmpty && paddingMask[i] != 0 { padded = true }
                        means[((yy - y) / sub) * 4 + (xx - x) / sub] += Double(guide[i])
                    }
                }
                means = means.map { $0 / Double(sub * sub) }
                let mean = means.reduce(0, +) / 16
                if !padded, mean > -20, mean < 150 {
                    let sd = (means.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 16).squareRoot()
                    candidates.append((sd, ROI(row: y, column: x, size: side)))
                }
                x += stride
            }
            y += stride
        }
        guard !candidates.isEmpty else { return [] }
        // Accept every square whose structure score is at most twice the third-lowest score (flat
        // squares differ only by noise there), then take them spread over the image in raster
        // order, not the very flattest: picking the minimum would favour squares whose noise
        // happens to be low and bias σ downwards. The reference is a low order statistic, not a
        // quartile: in a real chest slice only a handful of squares (heart, liver) are flat, and
        // twice the lower quartile admitted muscle/fat edges (σ read 80 HU where it is 13).
        let scores = candidates.map(\.score).sorted()
        let limit = 2 * scores[min(uniformReferenceRank, scores.count - 1)] + 1e-9
        let accepted = candidates.filter { $0.score <= limit }.map(\.roi)
        let step = max(1, accepted.count / max(count, 1))
        var chosen: [ROI] = []
        var start = 0
        while chosen.count < count && start < step {
            var i = start
            while i < accepted.count && chosen.count < count {
                let c = accepted[i]
                if !chosen.contains(where: { abs($0.row - c.row) < side && abs($0.column - c.column) < side }) { chosen.append(c) }
                i += step
            }
            start += 1
        }
        return chosen
    }

    /// Mean and standard deviation (population) of `image` inside one ROI.
    public static func stats(_ image: [Float], columns: Int, roi: ROI) -> (mean: Double, sd: Double) {
        var sum = 0.0, sum2 = 0.0
        for y in roi.row..<(roi.row + roi.size) {
            for x in roi.column..<(roi.column + roi.size) {
                let v = Double(image[y * columns + x])
                sum += v
                sum2 += v * v
            }
        }
        let n = Double(roi.size * roi.size)
        return (sum / n, max(0, sum2 / n - (sum / n) * (sum / n)).squareRoot())
    }

    /// Noise σ: root of the mean within-ROI variance (each ROI's own mean removed). nil without ROIs.
    public static func noise(_ image: [Float], columns: Int, rois: [ROI]) -> Double? {
        guard !rois.isEmpty else { return nil }
        let v = rois.map { stats(image, columns: columns, roi: $0).sd }.map { $0 * $0 }.reduce(0, +) / Double(rois.count)
        return v.squareRoot()
    }

    /// Σ (image − reference) over the pixels of the ROIs, and how many pixels that is: a CT-number
    /// shift in uniform tissue (sum / pixels), poolable over slices by adding both parts. Used by
    /// the trainer's validation and `ldct tune`.
    public static func difference(_ image: [Float], from reference: [Float], columns: Int, rois: [ROI]) -> (sum: Double, pixels: Int) {
        var sum = 0.0, pixels = 0
        for roi in rois {
            for r in roi.row..<roi.row + roi.size {
                for c in roi.column..<roi.column + roi.size {
                    let i = r * columns + c
                    sum += Double(image[i] - reference[i])
                    pixels += 1
                }
            }
        }
        return (sum, pixels)
    }

    /// Noise σ of two images of the same anatomy measured in the same uniform regions (chosen on
    /// `first`), as the report does; nil when the slice has no uniform soft tissue. Used to tell
    /// which side of a low/normal pair is quieter.
    public static func noisePair(_ first: [Float], _ second: [Float], rows: Int, columns: Int,
                                 paddingMask: [UInt8] = []) -> (first: Double, second: Double)? {
        let rois = uniformROIs(guide: first, rows: rows, columns: columns, paddingMask: paddingMask)
        guard let a = noise(first, columns: columns, rois: rois), let b = noise(second, columns: columns, rois: rois) else { return nil }
        return (a, b)
    }

    /// Mean of `image` over the pixels where `mask` is set; nil for an empty mask.
    public static func mean(_ image: [Float], mask: [Bool]) -> Double? {
        var s = 0.0, n = 0
        for i in 0..<image.count where mask[i] {
            s += Double(image[i])
            n += 1
        }
        return n > 0 ? s / Double(n) : nil
    }

    /// Tissue-class mask eroded by `radius`: a pixel belongs when every pixel of its
    /// (2·radius+1)² neighbourhood is of the class, so boundaries between classes (the partial
    /// volume of skin against air, which reads as fat) stay out.
    public static func erodedMask(_ image: [Float], rows: Int, columns: Int, tissue: TissueClass, radius: Int = 2,
                                  paddingMask: [UInt8] = []) -> [Bool] {
        let m = mask(image, tissue: tissue, paddingMask: paddingMask)
        let count = boxMean(m.map { $0 ? 1 : 0 }, rows: rows, columns: columns, radius: radius)
        var out = [Bool](repeating: false, count: m.count)
        for y in radius..<max(radius, rows - radius) {
            for x in radius..<max(radius, columns - radius) where count[y * columns + x] > 0.9999 { out[y * columns + x] = true }
        }
        return out
    }

    /// Tissue-class mask from an image (optionally excluding padding pixels).
    public static func mask(_ image: [Float], tissue: TissueClass, paddingMask: [UInt8] = []) -> [Bool] {
        var m = [Bool](repeating: false, count: image.count)
        for i in 0..<image.count where paddingMask.isEmpty || paddingMask[i] == 0 { m[i] = TissueClass.of(image[i]) == tissue }
        return m
    }

    /// Dice overlap 2|A∩B| / (|A|+|B|) of one tissue class in two images; nil when neither has it.
    public static func dice(_ a: [Float], _ b: [Float], tissue: TissueClass, paddingMask: [UInt8] = []) -> Double? {
        var inA = 0, inB = 0, both = 0
        for i in 0..<a.count where paddingMask.isEmpty || paddingMask[i] == 0 {
            let x = TissueClass.of(a[i]) == tissue, y = TissueClass.of(b[i]) == tissue
            if x { inA += 1 }
            if y { inB += 1 }
            if x && y { both += 1 }
        }
        return inA + inB > 0 ? 2 * Double(both) / Double(inA + inB) : nil
    }

    /// Contrast-to-noise ratio |mean(soft tissue) − mean(fat)| / σ, the tissue masks taken from
    /// `guide` (so every image is measured on the same pixels) and σ from the uniform ROIs.
    /// nil when either class has fewer than 200 pixels or there are no ROIs.
    public static func cnr(_ image: [Float], columns: Int, soft: [Bool], fat: [Bool], rois: [ROI]) -> Double? {
        guard soft.lazy.filter({ $0 }).count >= 200, fat.lazy.filter({ $0 }).count >= 200,
              let s = mean(image, mask: soft), let f = mean(image, mask: fat),
              let sigma = noise(image, columns: columns, rois: rois), sigma > 0 else { return nil }
        return abs(s - f) / sigma
    }

    /// What is removed from each ROI before its spectrum is taken.
    public enum Detrend: String, Sendable, Codable {
        /// The ROI's mean only (the DC bin is then empty).
        case mean
        /// The least-squares fit of 1, x, y, x², xy, y² (AAPM TG-233's second-order detrending):
        /// slow anatomy (a gradient or a bowl of tissue inside a square) no longer piles up in the
        /// lowest rings. Removes a little low-frequency noise power too, the same for any two
        /// images measured alike, so compare detrended spectra only with detrended spectra.
        case quadratic
    }

    /// Subtracts the trend from an n×n block (row-major). Centred coordinates make the basis
    /// 1, x, y, x²−c, xy, y²−c orthogonal on the square grid, so each coefficient is a projection.
    static func removeTrend(_ block: inout [Double], n: Int, _ detrend: Detrend) {
        let count = Double(n * n)
        let mean = block.reduce(0, +) / count
        guard detrend == .quadratic else {
            for i in block.indices { block[i] -= mean }
            return
        }
        let h = Double(n - 1) / 2
        let coord = (0..<n).map { Double($0) - h }
        let c = coord.map { $0 * $0 }.reduce(0, +) / Double(n)
        var bx = 0.0, by = 0.0, bxx = 0.0, bxy = 0.0, byy = 0.0
        var nx = 0.0, nxx = 0.0, nxy = 0.0
        for y in 0..<n {
            for x in 0..<n {
                let v = block[y * n + x], cx = coord[x], cy = coord[y]
                bx += v * cx; by += v * cy
                bxx += v * (cx * cx - c); byy += v * (cy * cy - c); bxy += v * cx * cy
                nx += cx * cx; nxx += (cx * cx - c) * (cx * cx - c); nxy += cx * cx * cy * cy
            }
        }
        // By symmetry ⟨y,y⟩ = ⟨x,x⟩ and ⟨y²−c,y²−c⟩ = ⟨x²−c,x²−c⟩.
        let kx = bx / nx, ky = by / nx, kxx = bxx / nxx, kyy = byy / nxx, kxy = bxy / nxy
        for y in 0..<n {
            for x in 0..<n {
                let cx = coord[x], cy = coord[y]
                block[y * n + x] -= mean + kx * cx + ky * cy + kxx * (cx * cx - c) + kyy * (cy * cy - c) + kxy * cx * cy
            }
        }
    }

    /// Radial noise power spectrum from the ROIs (each detrended, by default mean-removed):
    /// NPS(u,v) = Δx·Δy/(N²)·|DFT|² averaged over ROIs, then averaged in rings of width 1/(N·Δ).
    /// `spacing` in mm.
    public static func nps(_ image: [Float], columns: Int, rois: [ROI], spacing: Double,
                           detrend: Detrend = .mean) -> NoisePowerSpectrum? {
        guard let n = rois.first?.size, n >= 4, rois.allSatisfy({ $0.size == n }), spacing > 0 else { return nil }
        var power = [Double](repeating: 0, count: n * n)
        // DFT twiddles for size n.
        let cosT = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        let sinT = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
        for roi in rois {
            var re = [Double](repeating: 0, count: n * n), im = [Double](repeating: 0, count: n * n)
            for y in 0..<n { for x in 0..<n { re[y * n + x] = Double(image[(roi.row + y) * columns + roi.column + x]) } }
            removeTrend(&re, n: n, detrend)
            // Rows, then columns (separable DFT, O(n³)): a 1-D DFT along each line, in place.
            func transform(start: Int, step: Int) {
                var outRe = [Double](repeating: 0, count: n), outIm = [Double](repeating: 0, count: n)
                for u in 0..<n {
                    var sr = 0.0, si = 0.0
                    for x in 0..<n {
                        let k = (u * x) % n, a = re[start + x * step], b = im[start + x * step]
                        sr += a * cosT[k] + b * sinT[k]
                        si += b * cosT[k] - a * sinT[k]
                    }
                    outRe[u] = sr
                    outIm[u] = si
                }
                for u in 0..<n {
                    re[start + u * step] = outRe[u]
                    im[start + u * step] = outIm[u]
                }
            }
            for y in 0..<n { transform(start: y * n, step: 1) }
            for x in 0..<n { transform(start: x, step: n) }
            for i in 0..<(n * n) { power[i] += re[i] * re[i] + im[i] * im[i] }
        }
        let norm = spacing * spacing / Double(n * n) / Double(rois.count)
        let df = 1 / (Double(n) * spacing)
        let bins = n / 2 + 1
        var ring = [Double](repeating: 0, count: bins), counts = [Int](repeating: 0, count: bins)
        var fSum = 0.0, pSum = 0.0
        for v in 0..<n {
            for u in 0..<n {
                let fu = Double(u <= n / 2 ? u : u - n), fv = Double(v <= n / 2 ? v : v - n)
                let r = (fu * fu + fv * fv).squareRoot()
                let p = power[v * n + u] * norm
                fSum += r * df * p
                pSum += p
                let b = Int(r.rounded())
                if b < bins {
                    ring[b] += p
                    counts[b] += 1
                }
            }
        }
        let freqs = (0..<bins).map { Double($0) * df }
        let curve = (0..<bins).map { counts[$0] > 0 ? ring[$0] / Double(counts[$0]) : 0 }
        return NoisePowerSpectrum(frequencies: freqs, power: curve, meanFrequency: pSum > 0 ? fSum / pSum : 0,
                                  variance: pSum * df * df)
    }
}

/// Tells whether low- and normal-dose inputs look swapped: counts the pairs whose "low-dose"
/// side is quieter than its "normal-dose" partner (σ in the same uniform regions).
public struct SwapCheck: Sendable {
    public private(set) var compared = 0
    public private(set) var lowQuieter = 0

    public init() {}

    public mutating func add(low: [Float], normal: [Float], rows: Int, columns: Int, paddingMask: [UInt8] = []) {
        guard let (a, b) = Regions.noisePair(low, normal, rows: rows, columns: columns, paddingMask: paddingMask) else { return }
        record(lowNoise: a, normalNoise: b)
    }

    /// One pair whose noise is already measured.
    public mutating func record(lowNoise: Double, normalNoise: Double) {
        compared += 1
        if lowNoise < normalNoise { lowQuieter += 1 }
    }

    /// The warning when most compared pairs have the low-dose side quieter; nil otherwise.
    public var warning: String? {
        guard compared > 0, 2 * lowQuieter > compared else { return nil }
        return "in \(lowQuieter) of \(compared) compared pair(s) the low-dose slice is quieter than its normal-dose partner: the low- and normal-dose inputs look swapped"
    }
}
