import Foundation

/// The result of `ldct inspect`: series with per-slice HU statistics, rejected files and errors.
/// Its JSON form is a stable, documented document (docs/inspect-json.md).
public struct Inspection: Sendable {
    public struct Slice: Sendable {
        public var info: SliceInfo
        public var huMin: Double
        public var huMax: Double
        public var huMean: Double
        public var huStd: Double
        public var paddingPixels: Int
    }

    public struct Series: Sendable {
        public var info: SeriesInfo
        /// Slices that decoded, in series order.
        public var slices: [Slice]
    }

    public var series: [Series]
    public var rejected: [Rejection]
    public var errors: [DICOMError]
    public var filesExamined: Int

    public var sliceCount: Int { series.reduce(0) { $0 + $1.slices.count } }

    /// Scans the paths and decodes every slice for its statistics, one file at a time on all
    /// cores; pixels are not kept, so memory does not grow with the study.
    public static func run(_ paths: [String]) -> Inspection {
        let scan = StudyScanner.scan(paths)
        var errors = scan.errors
        var out: [Series] = []
        for info in scan.series {
            var fileOrder: [String] = []
            var byFile: [String: [SliceInfo]] = [:]
            for s in info.slices {
                if byFile[s.file] == nil { fileOrder.append(s.file) }
                byFile[s.file, default: []].append(s)
            }
            let files = fileOrder
            let groups = byFile
            let results = parallelMap(files.count) { k -> Result<[Slice], DICOMError> in
                let slices = groups[files[k]]!
                do {
                    let images = try PixelDecoder.decode(file: files[k], slices: slices)
                    return .success(zip(slices, images).map { statistics($0, $1) })
                } catch let e as DICOMError {
                    return .failure(e)
                } catch {
                    return .failure(.unreadable(file: files[k], reason: "\(error)"))
                }
            }
            var decoded: [String: Slice] = [:]
            for result in results {
                switch result {
                case .success(let list):
                    for s in list { decoded[s.info.file + "#\(s.info.frame ?? 0)"] = s }
                case .failure(let e):
                    errors.append(e)
                }
            }
            let ordered = info.slices.compactMap { decoded[$0.file + "#\($0.frame ?? 0)"] }
            if !ordered.isEmpty { out.append(Series(info: info, slices: ordered)) }
        }
        return Inspection(series: out, rejected: scan.rejected, errors: errors, filesExamined: scan.filesExamined)
    }

    static func statistics(_ info: SliceInfo, _ image: SliceImage) -> Slice {
        var lo = Float.infinity, hi = -Float.infinity
        var sum = 0.0, sumSq = 0.0
        for v in image.hu {
            lo = min(lo, v)
            hi = max(hi, v)
            let d = Double(v)
            sum += d
            sumSq += d * d
        }
        let n = Double(max(image.hu.count, 1))
        let mean = sum / n
        return Slice(info: info, huMin: Double(lo), huMax: Double(hi), huMean: mean,
                     huStd: max(sumSq / n - mean * mean, 0).squareRoot(), paddingPixels: image.paddingCount)
    }
}

// MARK: - JSON

extension Inspection: Encodable {
    enum Keys: String, CodingKey { case series, rejected, errors }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(series, forKey: .series)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(errors.map { Rejection(file: $0.file, reason: $0.reason) }, forKey: .errors)
    }

    /// The JSON document, keys sorted, pretty-printed.
    public func json(includePatient: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo[Inspection.includePatientKey] = includePatient
        return try encoder.encode(self)
    }

    static let includePatientKey = CodingUserInfoKey(rawValue: "includePatient")!
}

extension Inspection.Series: Encodable {
    enum Keys: String, CodingKey {
        case seriesInstanceUID, studyInstanceUID, frameOfReferenceUID, modality, manufacturer, manufacturerModelName,
             convolutionKernel, seriesDescription, seriesNumber, rows, columns, pixelSpacing, sliceThickness, dose,
             slices, warnings, leftOut, patientID, patientName
    }
    enum DoseKeys: String, CodingKey { case kvp, tubeCurrentMA, exposureMAs, exposureTimeMS, ctdiVolMGy, dlpMGyCm }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(info.seriesInstanceUID, forKey: .seriesInstanceUID)
        try c.encode(info.studyInstanceUID, forKey: .studyInstanceUID)
        try c.encode(info.frameOfReferenceUID, forKey: .frameOfReferenceUID)
        try c.encode(info.modality, forKey: .modality)
        try c.encode(info.manufacturer, forKey: .manufacturer)
        try c.encode(info.manufacturerModelName, forKey: .manufacturerModelName)
        try c.encode(info.convolutionKernel, forKey: .convolutionKernel)
        try c.encode(info.seriesDescription, forKey: .seriesDescription)
        try c.encode(info.seriesNumber, forKey: .seriesNumber)
        try c.encode(info.rows, forKey: .rows)
        try c.encode(info.columns, forKey: .columns)
        try c.encode(info.pixelSpacing, forKey: .pixelSpacing)
        try c.encode(info.sliceThickness, forKey: .sliceThickness)
        var d = c.nestedContainer(keyedBy: DoseKeys.self, forKey: .dose)
        try d.encode(info.dose.kvp, forKey: .kvp)
        try d.encode(info.dose.tubeCurrentMA, forKey: .tubeCurrentMA)
        try d.encode(info.dose.exposureMAs, forKey: .exposureMAs)
        try d.encode(info.dose.exposureTimeMS, forKey: .exposureTimeMS)
        try d.encode(info.dose.ctdiVolMGy, forKey: .ctdiVolMGy)
        try d.encode(info.dose.dlpMGyCm, forKey: .dlpMGyCm)
        try c.encode(slices, forKey: .slices)
        try c.encode(info.warnings, forKey: .warnings)
        try c.encode(info.leftOut, forKey: .leftOut)
        if encoder.userInfo[Inspection.includePatientKey] as? Bool == true {
            try c.encode(info.patientID, forKey: .patientID)
            try c.encode(info.patientName, forKey: .patientName)
        }
    }
}

extension Inspection.Slice: Encodable {
    enum Keys: String, CodingKey {
        case file, frame, sopInstanceUID, instanceNumber, position, huMin, huMax, huMean, huStd, paddingPixels
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(info.file, forKey: .file)
        try c.encode(info.frame, forKey: .frame)
        try c.encode(info.sopInstanceUID, forKey: .sopInstanceUID)
        try c.encode(info.instanceNumber, forKey: .instanceNumber)
        try c.encode(info.position, forKey: .position)
        try c.encode(huMin, forKey: .huMin)
        try c.encode(huMax, forKey: .huMax)
        try c.encode(huMean, forKey: .huMean)
        try c.encode(huStd, forKey: .huStd)
        try c.encode(paddingPixels, forKey: .paddingPixels)
    }
}
