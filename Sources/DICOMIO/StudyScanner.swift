import Foundation

/// A file that is not part of any CT series, with the reason.
public struct Rejection: Sendable, Equatable, Codable {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }
}

/// What a scan of files and folders found.
public struct ScanResult: Sendable {
    /// CT series, ordered by study, then series number, then UID.
    public var series: [SeriesInfo]
    /// DICOM objects that are not CT slices (MR, SR, localizers …) and files that are not DICOM.
    public var rejected: [Rejection]
    /// CT files that cannot be used (truncated, no pixel data …).
    public var errors: [DICOMError]
    /// Number of files looked at.
    public var filesExamined: Int
}

/// Finds CT series in files and folders: recursive, any file names, header only.
public enum StudyScanner {
    /// Lists the regular files under the given paths (recursively), sorted, without duplicates.
    /// Missing paths come back as errors.
    public static func listFiles(_ paths: [String]) -> (files: [String], errors: [DICOMError]) {
        var files: [String] = []
        var errors: [DICOMError] = []
        let fm = FileManager.default
        for path in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
                errors.append(.notFound(path: path))
                continue
            }
            if !isDir.boolValue {
                files.append(path)
                continue
            }
            guard let walker = fm.enumerator(atPath: path) else {
                errors.append(.notFound(path: path))
                continue
            }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                let full = (path as NSString).appendingPathComponent(relative)
                var sub: ObjCBool = false
                if fm.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue { found.append(full) }
            }
            files.append(contentsOf: found.sorted())
        }
        var seen = Set<String>()
        return (files.filter { seen.insert($0).inserted }, errors)
    }

    /// Scans files and folders and groups the CT slices into series.
    public static func scan(_ paths: [String]) -> ScanResult {
        let (files, listErrors) = listFiles(paths)
        let outcomes = parallelMap(files.count) { HeaderReader.read(path: files[$0]) }
        var rejected: [Rejection] = []
        var errors = listErrors
        var groups: [String: [(SliceInfo, SeriesHeader)]] = [:]
        var order: [String] = []
        for (file, outcome) in zip(files, outcomes) {
            switch outcome {
            case .notDICOM: rejected.append(Rejection(file: file, reason: "not a DICOM file"))
            case .rejected(let reason): rejected.append(Rejection(file: file, reason: reason))
            case .broken(let error): errors.append(error)
            case .ct(let slices, let header):
                let key = header.seriesInstanceUID.isEmpty ? "(no SeriesInstanceUID) \(header.studyInstanceUID)"
                    : header.seriesInstanceUID
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(contentsOf: slices.map { ($0, header) })
            }
        }
        var series = order.compactMap { key in groups[key].map { assemble($0) } }
        series.sort {
            ($0.studyInstanceUID, $0.seriesNumber ?? Int.max, $0.seriesInstanceUID)
                < ($1.studyInstanceUID, $1.seriesNumber ?? Int.max, $1.seriesInstanceUID)
        }
        return ScanResult(series: series, rejected: rejected, errors: errors, filesExamined: files.count)
    }

    /// Orders a series' slices along the slice normal and flags what looks wrong.
    static func assemble(_ members: [(SliceInfo, SeriesHeader)]) -> SeriesInfo {
        let header = members[0].1
        var warnings: [String] = []
        if header.seriesInstanceUID.isEmpty { warnings.append("files have no SeriesInstanceUID; grouped by study") }

        // Malformed values, per kind, with the files (the first few named).
        var malformedFilesByProblem: [String: [String]] = [:]
        var malformedFiles = Set<String>()
        for (slice, h) in members where !h.malformed.isEmpty && malformedFiles.insert(slice.file).inserted {
            for m in h.malformed { malformedFilesByProblem[m, default: []].append(slice.file) }
        }
        for (problem, files) in malformedFilesByProblem.sorted(by: { $0.key < $1.key }) {
            warnings.append("\(problem) in \(files.count) file(s): \(nameList(files)); kept as is")
        }

        // Duplicates: the same SOP instance (and frame) twice — keep the first.
        var slices: [SliceInfo] = []
        var leftOut: [Rejection] = []
        var firstFile: [String: String] = [:]
        for (slice, _) in members {
            let key = slice.sopInstanceUID + "#" + String(slice.frame ?? 0)
            if let kept = firstFile[key] {
                leftOut.append(Rejection(file: slice.file, reason: "duplicate instance: same SOPInstanceUID as \((kept as NSString).lastPathComponent)"))
            } else {
                firstFile[key] = slice.file
                slices.append(slice)
            }
        }
        if !leftOut.isEmpty {
            let files = Array(Set(leftOut.map(\.file))).sorted()
            warnings.append("\(leftOut.count) duplicate instance(s) (same SOPInstanceUID) ignored, left out: "
                + files.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))
        }

        // Mixed sizes: keep the most common size.
        var sizeCounts: [String: Int] = [:]
        for s in slices { sizeCounts["\(s.pixel.columns)x\(s.pixel.rows)", default: 0] += 1 }
        if sizeCounts.count > 1 {
            let majority = sizeCounts.max { ($0.value, $1.key) < ($1.value, $0.key) }!.key
            let summary = sizeCounts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            let dropped = slices.filter { "\($0.pixel.columns)x\($0.pixel.rows)" != majority }
            leftOut += dropped.map { Rejection(file: $0.file, reason: "image size \($0.pixel.columns)x\($0.pixel.rows), the series is \(majority)") }
            warnings.append("mixed image sizes: \(summary); kept \(majority), left out: "
                + dropped.map { ($0.file as NSString).lastPathComponent }.joined(separator: ", "))
            slices.removeAll { "\($0.pixel.columns)x\($0.pixel.rows)" != majority }
        }

        // Order along the slice normal, else by InstanceNumber, else by file name.
        if slices.allSatisfy({ $0.normalPosition != nil }) {
            slices.sort {
                ($0.normalPosition!, $0.instanceNumber ?? 0, $0.frame ?? 0)
                    < ($1.normalPosition!, $1.instanceNumber ?? 0, $1.frame ?? 0)
            }
            let orientations = Set(slices.map { $0.orientation!.map { ($0 * 1e4).rounded() } })
            if orientations.count > 1 { warnings.append("slices have \(orientations.count) different orientations") }
            warnings.append(contentsOf: spacingWarnings(slices.map { $0.normalPosition! }))
        } else if slices.allSatisfy({ $0.instanceNumber != nil }) {
            slices.sort { ($0.instanceNumber!, $0.frame ?? 0) < ($1.instanceNumber!, $1.frame ?? 0) }
            warnings.append("image position/orientation missing; slices ordered by InstanceNumber")
        } else {
            slices.sort { ($0.file, $0.frame ?? 0) < ($1.file, $1.frame ?? 0) }
            warnings.append("image position and InstanceNumber missing; slices ordered by file name")
        }

        let first = slices[0]
        return SeriesInfo(
            seriesInstanceUID: header.seriesInstanceUID, studyInstanceUID: header.studyInstanceUID,
            frameOfReferenceUID: header.frameOfReferenceUID, patientID: header.patientID,
            patientName: header.patientName, modality: header.modality, manufacturer: header.manufacturer,
            manufacturerModelName: header.manufacturerModelName, convolutionKernel: header.convolutionKernel,
            seriesDescription: header.seriesDescription, seriesNumber: header.seriesNumber,
            sliceThickness: first.sliceThickness, pixelSpacing: first.pixelSpacing,
            rows: first.pixel.rows, columns: first.pixel.columns, dose: DoseInfo.mean(of: slices.map(\.dose)),
            slices: slices, warnings: warnings, leftOut: leftOut)
    }

    /// The first few file names of a list, "…" for the rest.
    static func nameList(_ files: [String], limit: Int = 3) -> String {
        let names = files.prefix(limit).map { ($0 as NSString).lastPathComponent }
        return names.joined(separator: ", ") + (files.count > limit ? ", … (\(files.count - limit) more)" : "")
    }

    /// Duplicate positions and gaps (a step more than 1.5× the median step).
    static func spacingWarnings(_ positions: [Double]) -> [String] {
        guard positions.count > 1 else { return [] }
        var warnings: [String] = []
        let steps = zip(positions.dropFirst(), positions).map { $0 - $1 }
        let samePosition = steps.filter { abs($0) < 1e-3 }.count
        if samePosition > 0 { warnings.append("\(samePosition) slice(s) share a position with their neighbour") }
        let positive = steps.filter { $0 >= 1e-3 }.sorted()
        guard !positive.isEmpty else { return warnings }
        let median = positive[positive.count / 2]
        for (i, step) in steps.enumerated() where step > 1.5 * median {
            warnings.append(String(format: "gap of %.2f mm between slices %d and %d (usual step %.2f mm)",
                                   step, i + 1, i + 2, median))
        }
        return warnings
    }
}
