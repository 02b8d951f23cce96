import ArgumentParser
import DICOMIO
import Foundation

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the CT series in files and folders, with geometry, dose and HU statistics.",
        discussion: """
            Folders are searched recursively; file names do not matter. Non-CT objects and \
            non-DICOM files are listed as rejected; broken CT files are listed as errors and make \
            the exit code 1. Patient name and ID are shown only with --show-patient.
            """)

    @Argument(help: "DICOM files or folders.")
    var paths: [String]

    @Flag(help: "Print the JSON document (docs/inspect-json.md) instead of the table.")
    var json = false

    @Flag(help: "List every slice in the table.")
    var slices = false

    @Flag(help: "Include patient name and ID in the output.")
    var showPatient = false

    func run() throws {
        do { try DICOMFile.initialize() } catch {
            printError("ldct: \(error)")
            throw ExitCodes.internalError
        }
        let result = Inspection.run(paths)
        if json {
            let data = try result.json(includePatient: showPatient)
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            print(InspectTable.render(result, showSlices: slices, showPatient: showPatient), terminator: "")
        }
        let summary = "\(result.series.count) series, \(result.sliceCount) slice(s) read from \(result.filesExamined) file(s); "
            + "\(result.rejected.count) rejected, \(result.errors.count) error(s)"
        if result.sliceCount == 0 {
            printError("ldct inspect: no CT slice found (\(summary))")
            throw ExitCodes.nothingFound
        }
        if !result.errors.isEmpty {
            printError("ldct inspect: finished with errors: \(summary)")
            for e in result.errors { printError("  error: \(e)") }
            throw ExitCodes.partialFailure
        }
        if json { printError("ldct inspect: \(summary)") }
    }
}

/// The human-readable form of an inspection.
enum InspectTable {
    static func render(_ r: Inspection, showSlices: Bool, showPatient: Bool) -> String {
        var out = ""
        for (k, s) in r.series.enumerated() {
            let i = s.info
            out += "Series \(k + 1): #\(i.seriesNumber.map(String.init) ?? "?") \"\(i.seriesDescription ?? "")\"  \(i.modality)"
            out += "  \(i.manufacturer ?? "unknown maker") \(i.manufacturerModelName ?? "")\n"
            out += "  UID           \(i.seriesInstanceUID)\n"
            out += "  study         \(i.studyInstanceUID)\n"
            if showPatient { out += "  patient       \(i.patientName ?? "") (ID \(i.patientID ?? ""))\n" }
            out += "  slices        \(s.slices.count) × \(i.columns)×\(i.rows)"
            if let sp = i.pixelSpacing { out += String(format: ", pixel %.3f×%.3f mm", sp[0], sp[1]) }
            if let t = i.sliceThickness { out += String(format: ", thickness %.2f mm", t) }
            if let first = s.slices.first?.info.normalPosition, let last = s.slices.last?.info.normalPosition {
                out += String(format: ", z %.1f → %.1f mm", first, last)
            }
            out += "\n"
            out += "  kernel        \(i.convolutionKernel ?? "unknown")\n"
            out += "  dose          kVp \(fmt(i.dose.kvp)), mA \(fmt(i.dose.tubeCurrentMA)), mAs \(fmt(i.dose.exposureMAs)), "
                + "CTDIvol \(fmt(i.dose.ctdiVolMGy, digits: 2)) mGy\n"
            if !s.slices.isEmpty {
                let lo = s.slices.map(\.huMin).min() ?? 0, hi = s.slices.map(\.huMax).max() ?? 0
                let mean = s.slices.map(\.huMean).reduce(0, +) / Double(s.slices.count)
                out += String(format: "  HU            min %.0f, max %.0f, mean %.1f", lo, hi, mean)
                let padded = s.slices.reduce(0) { $0 + $1.paddingPixels }
                if padded > 0 { out += ", \(padded) padding/outside-FOV pixels" }
                out += "\n"
            }
            for w in i.warnings { out += "  warning       \(w)\n" }
            for l in i.leftOut { out += "  left out      \(l.file): \(l.reason)\n" }
            if showSlices {
                out += "    #   inst  frame  position (mm)                      HU min    max     mean    std   file\n"
                for (j, sl) in s.slices.enumerated() {
                    let p = sl.info.position.map { String(format: "%8.2f %8.2f %8.2f", $0[0], $0[1], $0[2]) } ?? "        (no position)       "
                    out += String(format: "  %3d  %5@  %5@  %@  %7.0f %6.0f %8.1f %6.1f   ", j + 1,
                                  sl.info.instanceNumber.map(String.init) ?? "-", sl.info.frame.map(String.init) ?? "-",
                                  p, sl.huMin, sl.huMax, sl.huMean, sl.huStd)
                    out += (sl.info.file as NSString).lastPathComponent + "\n"
                }
            }
            out += "\n"
        }
        if !r.rejected.isEmpty {
            out += "Rejected (\(r.rejected.count)):\n"
            for x in r.rejected { out += "  \(x.file): \(x.reason)\n" }
            out += "\n"
        }
        if !r.errors.isEmpty {
            out += "Errors (\(r.errors.count)):\n"
            for e in r.errors { out += "  \(e.file): \(e.reason)\n" }
            out += "\n"
        }
        out += "\(r.series.count) series, \(r.sliceCount) slice(s) from \(r.filesExamined) file(s); "
            + "\(r.rejected.count) rejected, \(r.errors.count) error(s)\n"
        return out
    }

    static func fmt(_ v: Double?, digits: Int = 0) -> String {
        guard let v else { return "unknown" }
        return String(format: "%.\(digits)f", v)
    }
}
