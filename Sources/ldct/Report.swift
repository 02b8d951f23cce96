import ArgumentParser
import DICOMIO
import Foundation
import Reporting

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dose-comparison report: low dose vs restored (vs normal dose) as HTML, JSON and CSV.",
        discussion: """
            Pairs low ↔ restored through Source Image Sequence and low ↔ normal through Source Image \
            Sequence or frame of reference and slice position. Writes OUT/report.html (self-contained), \
            OUT/report.json (docs/report-schema.md) and OUT/slices.csv. Slices without a partner are \
            listed, never fatal.
            """)

    @Option(parsing: .upToNextOption, help: "Low-dose series (files or folders).") var low: [String]
    @Option(parsing: .upToNextOption, help: "Restored series made from them by `ldct restore`.") var restored: [String]
    @Option(parsing: .upToNextOption, help: "Normal-dose series of the same patient (optional).") var normal: [String] = []
    @Option(name: .shortAndLong, help: "Report folder.") var output: String
    @Option(help: ArgumentHelp(PairingMode.help)) var pairBy: PairingMode = .auto

    func run() throws {
        try Report.make(low: low, restored: restored, normal: normal, output: output, pairBy: pairBy)
    }

    /// Shared with `ldct restore --report`.
    static func make(low: [String], restored: [String], normal: [String], output: String, pairBy: PairingMode = .auto) throws {
        let progress = ProgressLine()
        let start = Date()
        do {
            var builder = ReportBuilder(low: low, restored: restored, normal: normal)
            builder.pairBy = pairBy
            let (report, pictures) = try builder.build { p in
                progress.update(done: p.done, total: p.total, elapsed: Date().timeIntervalSince(start), label: "report")
            }
            progress.finish()
            let paths = try ReportWriter.write(report, pictures: pictures, to: output)
            if let p = report.pairing {
                printError("  pairing with normal dose: \(p.summary)")
                for w in p.warnings { printError("  warning: \(w)") }
            }
            for s in report.series {
                var line = "  \(s.description.isEmpty ? "(no description)" : s.description): \(s.slices) slice(s)"
                if let a = s.noiseLow, let b = s.noiseRestored { line += String(format: ", noise %.1f → %.1f HU", a, b) }
                if let d = s.huShiftRestoredVsLow { line += String(format: ", HU shift %+.2f", d) }
                if let a = s.psnrLow, let b = s.psnrRestored { line += String(format: ", PSNR %.2f → %.2f dB", a, b) }
                if let a = s.ssimLow, let b = s.ssimRestored { line += String(format: ", SSIM %.4f → %.4f", a, b) }
                if let r = s.strengthRange, r.count == 2, r[0] != 1 || r[1] != 1 {
                    line += r[0] == r[1] ? String(format: ", strength %.2f", r[0]) : String(format: ", strength %.2f–%.2f per slice", r[0], r[1])
                }
                printError(line)
                for note in s.doseNotes { printError("    dose: \(note)") }
            }
            if !report.unpaired.isEmpty { printError("  \(report.unpaired.count) slice(s) without a partner (listed in the report)") }
            printError("ldct report: \(paths[2])")
            print(paths[2])
        } catch {
            progress.finish()
            printError("ldct report: \(error)")
            throw ExitCodes.nothingFound
        }
    }
}
