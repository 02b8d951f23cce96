import DICOMIO
import Foundation
import ImageQuality

public enum ReportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No CT series under the low-dose inputs.
    case noLowDose(paths: [String])
    /// No low-dose slice found a restored partner.
    case noRestoredPartners(paths: [String])
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .noLowDose(let p): return "no CT series under the low-dose input(s) \(p.joined(separator: ", "))"
        case .noRestoredPartners(let p):
            return "no restored slice under \(p.joined(separator: ", ")) references a low-dose slice (Source Image Sequence); was it restored from these files?"
        case .writeFailed(let f, let r): return "cannot write \(f): \(r)"
        }
    }
}

/// Builds a dose-comparison report: pairs low ↔ restored through Source Image Sequence, low ↔
/// normal through Source Image Sequence or frame of reference + position (DICOMIO.Pairing),
/// measures every paired slice, renders pictures of representative slices.
public struct ReportBuilder {
    public var low: [String]
    public var restored: [String]
    public var normal: [String]
    /// Representative slices per series (quartiles and middle), and in all.
    public var picturesPerSeries = 3
    public var picturesInAll = 6
    public var windows = DisplayWindow.standard
    /// HU at full colour in the difference panel.
    public var differenceRange: Float = 100
    /// How low-dose slices find their normal-dose partners.
    public var pairBy: PairingMode = .auto

    public init(low: [String], restored: [String], normal: [String] = []) {
        self.low = low
        self.restored = restored
        self.normal = normal
    }

    public struct Progress: Sendable {
        public var done: Int
        public var total: Int
    }

    public func build(progress: (Progress) -> Void = { _ in }) throws -> (report: DoseReport, pictures: [ReportPicture]) {
        let restoredScan = StudyScanner.scan(restored)
        let restoredUIDs = Set(restoredScan.series.map(\.seriesInstanceUID))
        var lowScan = StudyScanner.scan(low)
        // A restored series that sits under a low-dose folder is not low dose.
        lowScan.series.removeAll { restoredUIDs.contains($0.seriesInstanceUID) }
        guard !lowScan.series.isEmpty else { throw ReportError.noLowDose(paths: low) }
        let normalScan = normal.isEmpty ? nil : StudyScanner.scan(normal)

        var restoredByReference: [String: (slice: SliceInfo, series: SeriesInfo)] = [:]
        for s in restoredScan.series {
            for slice in s.slices { if let ref = slice.sourceReference { restoredByReference[ref] = (slice, s) } }
        }
        var normalByLow: [String: (slice: SliceInfo, seriesUID: String)] = [:]
        var unpaired: [Rejection] = []
        var pairingResult: PairingResult?
        if let normalScan {
            let pairing = Pairing.pair(low: lowScan.series, normal: normalScan.series, mode: pairBy)
            for p in pairing.pairs { normalByLow[p.low.referenceKey] = (p.normal, p.seriesUID) }
            unpaired += pairing.unpaired.map { Rejection(file: $0.file, reason: "no normal-dose partner: \($0.reason)") }
            pairingResult = pairing
        }
        var swap = SwapCheck()
        var skipped = lowScan.rejected + restoredScan.rejected + (normalScan?.rejected ?? [])
        skipped += (lowScan.errors + restoredScan.errors + (normalScan?.errors ?? [])).map {
            Rejection(file: $0.file, reason: $0.reason)
        }

        let total = lowScan.series.reduce(0) { $0 + $1.slices.count }
        var done = 0
        var sliceReports: [SliceReport] = []
        var seriesReports: [SeriesReport] = []
        var pictures: [ReportPicture] = []
        let normalSeriesByUID = Dictionary((normalScan?.series ?? []).map { ($0.seriesInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })

        for (k, series) in lowScan.series.enumerated() {
            let n = series.slices.count
            var representative = Set<Int>()
            if picturesPerSeries >= 1 { representative.insert(n / 2) }
            if picturesPerSeries >= 3, n >= 3 { representative.insert(n / 4); representative.insert((3 * n) / 4) }
            var acc = SpectrumAccumulator()
            var rows: [SliceReport] = []
            var restoredSeries: SeriesInfo?
            var normalSeriesUID: String?
            var doseTags: [(DoseInfo, DoseInfo)] = []
            for (i, slice) in series.slices.enumerated() {
                defer {
                    done += 1
                    progress(Progress(done: done, total: total))
                }
                guard let partner = restoredByReference[slice.referenceKey] else {
                    unpaired.append(Rejection(file: slice.file, reason: "no restored slice references this low-dose slice"))
                    continue
                }
                restoredSeries = restoredSeries ?? partner.series
                let normalPartner = normalByLow[slice.referenceKey]
                if let np = normalPartner { normalSeriesUID = normalSeriesUID ?? np.seriesUID }
                let lowImage: SliceImage, restoredImage: SliceImage, normalImage: SliceImage?
                do {
                    lowImage = try PixelDecoder.decode(slice)
                    restoredImage = try PixelDecoder.decode(partner.slice)
                    normalImage = try normalPartner.map { try PixelDecoder.decode($0.slice) }
                } catch {
                    unpaired.append(Rejection(file: slice.file, reason: "cannot decode the slice or a partner: \(error)"))
                    continue
                }
                guard restoredImage.hu.count == lowImage.hu.count, normalImage.map({ $0.hu.count == lowImage.hu.count }) ?? true else {
                    unpaired.append(Rejection(file: slice.file, reason: "partner has another image size"))
                    continue
                }
                let spacing = slice.pixelSpacing?.first ?? series.pixelSpacing?.first ?? 1
                var r = SliceMeasure.measure(low: lowImage, restored: restoredImage, normal: normalImage, spacing: spacing,
                                             accumulator: &acc)
                r.seriesIndex = k
                r.lowSOPInstanceUID = slice.sopInstanceUID
                r.restoredSOPInstanceUID = partner.slice.sopInstanceUID
                r.normalSOPInstanceUID = normalPartner?.slice.sopInstanceUID
                r.position = slice.normalPosition
                r.tubeCurrentLowMA = slice.dose.tubeCurrentMA
                r.tubeCurrentNormalMA = normalPartner?.slice.dose.tubeCurrentMA
                r.strength = partner.slice.restoration?.strength
                r.removedNoise = partner.slice.restoration?.removedNoise
                if let a = r.noiseLow, let b = r.noiseNormal { swap.record(lowNoise: a, normalNoise: b) }
                if let np = normalPartner { doseTags.append((slice.dose, np.slice.dose)) }
                rows.append(r)
                if representative.contains(i), pictures.count < picturesInAll * windows.count {
                    pictures += try render(series: k, slice: i, low: lowImage, restored: restoredImage, normal: normalImage)
                }
            }
            sliceReports += rows
            seriesReports.append(summarize(series: series, index: k, rows: rows, restored: restoredSeries,
                                           normal: normalSeriesUID.flatMap { normalSeriesByUID[$0] }, spectra: acc.result(),
                                           doseTags: doseTags))
        }
        guard !sliceReports.isEmpty else { throw ReportError.noRestoredPartners(paths: restored) }
        // Our own bookkeeping files are not "skipped" inputs.
        skipped.removeAll {
            ["manifest.json", "report.json", "slices.csv", "report.html"].contains(($0.file as NSString).lastPathComponent)
                || (($0.file as NSString).deletingLastPathComponent as NSString).lastPathComponent == "state" && $0.file.hasSuffix(".json")
        }
        var report = DoseReport(generated: ISO8601DateFormatter().string(from: Date()), series: seriesReports,
                                slices: sliceReports, unpaired: unpaired, skipped: skipped)
        if let pairingResult { report.pairing = PairingReport(pairingResult, mode: pairBy, warnings: swap.warning.map { [$0] } ?? []) }
        return (report, pictures)
    }

    func render(series: Int, slice: Int, low: SliceImage, restored: SliceImage, normal: SliceImage?) throws -> [ReportPicture] {
        var images = [low.hu, restored.hu]
        var captions = ["low dose", "restored"]
        if let normal {
            images.append(normal.hu)
            captions.append("normal dose")
        }
        // Crop every panel to the body (pixels above −400 HU in the low-dose image, 12 px margin),
        // so the anatomy is shown as large as the page allows.
        let box = ReportBuilder.bodyBox(low)
        func crop(_ v: [Float]) -> [Float] {
            var out = [Float]()
            out.reserveCapacity(box.rows * box.columns)
            for y in box.row..<(box.row + box.rows) { out += v[(y * low.columns + box.column)..<(y * low.columns + box.column + box.columns)] }
            return out
        }
        images = images.map(crop)
        var out: [ReportPicture] = []
        for w in windows {
            let (pixels, width) = PNG.panel(images, rows: box.rows, columns: box.columns, window: w)
            let png = try PNG.encode(pixels: pixels, width: width, height: box.rows, channels: 1)
            out.append(ReportPicture(seriesIndex: series, sliceIndex: slice, window: w, captions: captions, png: png))
        }
        let diff = crop(zip(restored.hu, low.hu).map { $0 - $1 })
        let png = try PNG.encode(pixels: PNG.difference(diff, range: differenceRange), width: box.columns, height: box.rows, channels: 3)
        out.append(ReportPicture(seriesIndex: series, sliceIndex: slice,
                                 window: DisplayWindow(name: "difference", width: Double(2 * differenceRange), level: 0),
                                 captions: [String(format: "restored − low (red +, blue −, full colour at ±%.0f HU)", differenceRange)], png: png))
        return out
    }

    /// Bounding box of the body: pixels above −400 HU (padding excluded), with a margin; the whole
    /// image when nothing qualifies.
    static func bodyBox(_ image: SliceImage, margin: Int = 12) -> (row: Int, column: Int, rows: Int, columns: Int) {
        var r0 = image.rows, r1 = -1, c0 = image.columns, c1 = -1
        for y in 0..<image.rows {
            for x in 0..<image.columns {
                let i = y * image.columns + x
                if image.hu[i] > -400, image.paddingMask.isEmpty || image.paddingMask[i] == 0 {
                    r0 = min(r0, y); r1 = max(r1, y); c0 = min(c0, x); c1 = max(c1, x)
                }
            }
        }
        guard r1 >= r0 + 16, c1 >= c0 + 16 else { return (0, 0, image.rows, image.columns) }
        r0 = max(0, r0 - margin); c0 = max(0, c0 - margin)
        r1 = min(image.rows - 1, r1 + margin); c1 = min(image.columns - 1, c1 + margin)
        return (r0, c0, r1 - r0 + 1, c1 - c0 + 1)
    }

    func summarize(series: SeriesInfo, index: Int, rows: [SliceReport], restored: SeriesInfo?, normal: SeriesInfo?,
                   spectra: SpectrumSet, doseTags: [(DoseInfo, DoseInfo)] = []) -> SeriesReport {
        func mean(_ key: KeyPath<SliceReport, Double?>) -> Double? {
            let v = rows.compactMap { $0[keyPath: key] }.filter(\.isFinite)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        func rms(_ key: KeyPath<SliceReport, Double?>) -> Double? {
            let v = rows.compactMap { $0[keyPath: key] }
            return v.isEmpty ? nil : (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        func meanDice(_ key: KeyPath<SliceReport, [String: Double]?>) -> [String: Double]? {
            var sums: [String: (Double, Int)] = [:]
            for r in rows { for (k, v) in r[keyPath: key] ?? [:] { sums[k, default: (0, 0)].0 += v; sums[k, default: (0, 0)].1 += 1 } }
            return sums.isEmpty ? nil : sums.mapValues { $0.0 / Double($0.1) }
        }
        let lowDose = SeriesDose(series.dose)
        let normalDose = normal.map { SeriesDose($0.dose) }
        var ratio: Double?
        if let a = lowDose.ctdiVolMGy, let b = normalDose?.ctdiVolMGy, b > 0 { ratio = a / b }
        else if let a = lowDose.exposureMAs, let b = normalDose?.exposureMAs, b > 0 { ratio = a / b }
        let noiseLow = rms(\.noiseLow), noiseRestored = rms(\.noiseRestored), noiseNormal = rms(\.noiseNormal)
        var factor: Double?
        if let a = noiseLow, let b = noiseRestored, b > 0 { factor = (a / b) * (a / b) }
        let facts = DoseFacts(pairs: doseTags, lowSlices: series.slices, normalSlices: normal?.slices ?? [],
                              noiseLow: noiseLow, noiseNormal: noiseNormal)
        if facts.tagsIdentical == true { ratio = nil }
        // The restore's own account (model, fingerprint, strength) from the first restored file.
        let restoration = restored?.slices.first.flatMap { try? DICOMFile(path: $0.file).dataset.string(.derivationDescription) }
        return SeriesReport(
            lowSeriesUID: series.seriesInstanceUID, restoredSeriesUID: restored?.seriesInstanceUID,
            normalSeriesUID: normal?.seriesInstanceUID, description: series.seriesDescription ?? "",
            restoration: restoration.flatMap { $0.isEmpty ? nil : $0 },
            strengthRange: rows.compactMap(\.strength).min().flatMap { lo in rows.compactMap(\.strength).max().map { [lo, $0] } },
            convolutionKernel: series.convolutionKernel, sliceThickness: series.sliceThickness, pixelSpacing: series.pixelSpacing,
            rows: series.rows, columns: series.columns, slices: rows.count,
            slicesWithNormal: rows.filter { $0.normalSOPInstanceUID != nil }.count,
            doseLow: lowDose, doseNormal: normalDose, doseRatio: ratio, doseTagsIdentical: facts.tagsIdentical,
            doseRatioFromNoise: facts.ratioFromNoise, tubeCurrentRangeLow: facts.rangeLow, tubeCurrentRangeNormal: facts.rangeNormal,
            doseNotes: facts.notes,
            // A copied CTDIvol tag says nothing about the low dose, so nothing is derived from it.
            equivalentCTDIvolMGy: facts.tagsIdentical == true ? nil : factor.flatMap { f in lowDose.ctdiVolMGy.map { $0 * f } },
            equivalentDoseFactor: factor,
            psnrLow: mean(\.psnrLow), psnrRestored: mean(\.psnrRestored), ssimLow: mean(\.ssimLow), ssimRestored: mean(\.ssimRestored),
            rmseLow: rms(\.rmseLow), rmseRestored: rms(\.rmseRestored),
            noiseLow: noiseLow, noiseRestored: noiseRestored, noiseNormal: noiseNormal,
            huShiftRestoredVsLow: mean(\.huShiftRestoredVsLow), huBiasLow: mean(\.huBiasLow), huBiasRestored: mean(\.huBiasRestored),
            cnrLow: mean(\.cnrLow), cnrRestored: mean(\.cnrRestored), cnrNormal: mean(\.cnrNormal),
            diceLow: meanDice(\.diceLow), diceRestored: meanDice(\.diceRestored), nps: spectra)
    }
}

/// Averages radial spectra over slices (curves, mean frequencies and variances).
struct SpectrumAccumulator {
    var sums: [String: (curve: [Double], meanF: Double, variance: Double, count: Int, freqs: [Double])] = [:]

    mutating func add(_ key: String, _ s: NoisePowerSpectrum?) {
        guard let s else { return }
        if var e = sums[key], e.curve.count == s.power.count {
            for i in 0..<s.power.count { e.curve[i] += s.power[i] }
            e.meanF += s.meanFrequency
            e.variance += s.variance
            e.count += 1
            sums[key] = e
        } else if sums[key] == nil {
            sums[key] = (s.power, s.meanFrequency, s.variance, 1, s.frequencies)
        }
    }

    func result() -> SpectrumSet {
        func get(_ key: String) -> NoisePowerSpectrum? {
            guard let e = sums[key] else { return nil }
            let c = Double(e.count)
            return NoisePowerSpectrum(frequencies: e.freqs, power: e.curve.map { $0 / c }, meanFrequency: e.meanF / c, variance: e.variance / c)
        }
        return SpectrumSet(low: get("low"), restored: get("restored"), normal: get("normal"))
    }
}

/// The measurements of one slice triple.
enum SliceMeasure {
    static func measure(low: SliceImage, restored: SliceImage, normal: SliceImage?, spacing: Double,
                        accumulator: inout SpectrumAccumulator) -> SliceReport {
        let rows = low.rows, columns = low.columns
        let guide = Regions.boxMean(low.hu, rows: rows, columns: columns, radius: 2)
        let rois = Regions.uniformROIs(guide: low.hu, rows: rows, columns: columns, paddingMask: low.paddingMask)
        let soft = Regions.erodedMask(guide, rows: rows, columns: columns, tissue: .softTissue, paddingMask: low.paddingMask)
        let fat = Regions.erodedMask(guide, rows: rows, columns: columns, tissue: .fat, paddingMask: low.paddingMask)
        func shift(_ a: [Float], _ b: [Float]) -> Double? { Regions.mean(zip(a, b).map { $0 - $1 }, mask: soft) }
        var r = SliceReport(seriesIndex: 0, lowSOPInstanceUID: "", restoredSOPInstanceUID: "", uniformRegions: rois.count)
        r.noiseLow = Regions.noise(low.hu, columns: columns, rois: rois)
        r.noiseRestored = Regions.noise(restored.hu, columns: columns, rois: rois)
        r.huShiftRestoredVsLow = shift(restored.hu, low.hu)
        r.cnrLow = Regions.cnr(low.hu, columns: columns, soft: soft, fat: fat, rois: rois)
        r.cnrRestored = Regions.cnr(restored.hu, columns: columns, soft: soft, fat: fat, rois: rois)
        accumulator.add("low", Regions.nps(low.hu, columns: columns, rois: rois, spacing: spacing))
        accumulator.add("restored", Regions.nps(restored.hu, columns: columns, rois: rois, spacing: spacing))
        if let normal {
            r.psnrLow = Metrics.psnr(reference: normal.hu, image: low.hu)
            r.psnrRestored = Metrics.psnr(reference: normal.hu, image: restored.hu)
            r.ssimLow = Metrics.ssim(reference: normal.hu, image: low.hu, rows: rows, columns: columns)
            r.ssimRestored = Metrics.ssim(reference: normal.hu, image: restored.hu, rows: rows, columns: columns)
            r.rmseLow = Metrics.rmse(reference: normal.hu, image: low.hu)
            r.rmseRestored = Metrics.rmse(reference: normal.hu, image: restored.hu)
            r.noiseNormal = Regions.noise(normal.hu, columns: columns, rois: rois)
            r.huBiasLow = shift(low.hu, normal.hu)
            r.huBiasRestored = shift(restored.hu, normal.hu)
            r.cnrNormal = Regions.cnr(normal.hu, columns: columns, soft: soft, fat: fat, rois: rois)
            var dl: [String: Double] = [:], dr: [String: Double] = [:]
            for t in TissueClass.allCases {
                dl[t.name] = Regions.dice(low.hu, normal.hu, tissue: t, paddingMask: low.paddingMask)
                dr[t.name] = Regions.dice(restored.hu, normal.hu, tissue: t, paddingMask: low.paddingMask)
            }
            r.diceLow = dl
            r.diceRestored = dr
            accumulator.add("normal", Regions.nps(normal.hu, columns: columns, rois: rois, spacing: spacing))
        }
        // PSNR of identical images is +∞, which JSON cannot carry.
        if r.psnrLow?.isFinite == false { r.psnrLow = 999 }
        if r.psnrRestored?.isFinite == false { r.psnrRestored = 999 }
        return r
    }
}

/// What the headers can and cannot say about the dose of a low/normal pair of series.
struct DoseFacts {
    var tagsIdentical: Bool?
    var ratioFromNoise: Double?
    var rangeLow: [Double]?
    var rangeNormal: [Double]?
    var notes: [String] = []

    init(pairs: [(DoseInfo, DoseInfo)], lowSlices: [SliceInfo], normalSlices: [SliceInfo], noiseLow: Double?, noiseNormal: Double?) {
        // Identical tags: every paired slice states at least one of mA, mAs, CTDIvol and all stated
        // values agree on both sides.
        let stated = pairs.filter { l, n in [l.tubeCurrentMA, l.exposureMAs, l.ctdiVolMGy].contains { $0 != nil } }
        if !stated.isEmpty {
            tagsIdentical = stated.allSatisfy { l, n in
                l.tubeCurrentMA == n.tubeCurrentMA && l.exposureMAs == n.exposureMAs && l.ctdiVolMGy == n.ctdiVolMGy
            }
        }
        if let a = noiseLow, let b = noiseNormal, a > 0, b > 0 { ratioFromNoise = (b / a) * (b / a) }
        func range(_ slices: [SliceInfo]) -> [Double]? {
            let mA = slices.compactMap(\.dose.tubeCurrentMA)
            guard let lo = mA.min(), let hi = mA.max(), hi > lo else { return nil }
            return [lo, hi]
        }
        rangeLow = range(lowSlices)
        rangeNormal = range(normalSlices)
        if tagsIdentical == true {
            var note = "both series carry identical dose tags (tube current, exposure, CTDIvol) on every paired slice, so the headers cannot tell the dose: the low-dose header is probably a copy of the normal-dose one"
            if let r = ratioFromNoise { note += String(format: "; the noise suggests about %.0f %% of the normal dose (estimate)", r * 100) }
            notes.append(note)
        }
        if let r = rangeLow {
            notes.append(String(format: "tube current varies along the low-dose series from %.0f to %.0f mA (tube-current modulation): one mA or CTDIvol does not describe it", r[0], r[1]))
        }
    }
}
