import ArchivePlan
import ArgumentParser
import DICOMIO
import Denoising
import Foundation

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scan an archive once and write the work list that restore shards read.",
        discussion: """
            Reads every file's header under the inputs once and writes PLAN (JSON): each CT series \
            with its files in slice order, and what was left out. Shards then read only their own \
            series' files: `ldct restore --plan PLAN -o OUT --shard K/N`. The split is a fixed \
            function of the plan (longest series first, each to the shard with the fewest slices), \
            so shards need no coordination and every series belongs to exactly one. The plan holds \
            paths and UIDs, no patient data. With --shards N it prints each shard's share.
            """)

    @Argument(help: "The archive: DICOM files or folders (searched recursively).")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "Plan file to write (JSON).")
    var output: String

    @Option(help: "Print how N shards would split the work.")
    var shards: Int?

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
    }

    func run() throws {
        let start = Date()
        let scan = StudyScanner.scan(inputs)
        let plan = RestorePlan(scan: scan, inputs: inputs)
        do { try plan.save(to: output) } catch {
            printError("ldct plan: \(output): cannot write the plan: \(error)")
            throw ExitCodes.partialFailure
        }
        printError(String(format: "ldct plan: %d files examined, %d CT series, %d slices, %d left out (in the plan) in %.1f s → %@ (plan %@)",
                          plan.filesExamined, plan.series.count, plan.sliceCount, plan.rejected.count,
                          Date().timeIntervalSince(start), output, plan.fingerprint))
        if let shards {
            let owner = plan.assignment(shards: shards)
            for k in 0..<shards {
                let mine = plan.series.indices.filter { owner[$0] == k }
                printError("  shard \(k)/\(shards): \(mine.count) series, \(mine.reduce(0) { $0 + plan.series[$1].slices }) slices")
            }
        }
        if plan.series.isEmpty { throw ExitCodes.nothingFound }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the per-series state of a restore output: done, failed (with reasons), missing.",
        discussion: """
            Reads OUT/state (one file per series, written by whichever process restored it) and, for \
            outputs of older runs, OUT/manifest.json. With --plan, series of the plan that no shard \
            has finished are listed as missing. Exit status 0 when everything is done, 1 when \
            anything failed or is missing, 2 when OUT holds no restore state.
            """)

    @Argument(help: "The restore output folder (ldct restore -o OUT).")
    var output: String

    @Option(help: "The plan the shards ran (`ldct plan`): also reports series not restored yet.")
    var plan: String?

    @Flag(help: "Print the status as JSON on stdout.")
    var json = false

    struct Row: Codable {
        var series: String
        var state: String
        var slices: Int
        var folder: String?
        var shard: String?
        var reasons: [String]?
    }

    struct Summary: Codable {
        var done: Int
        var failed: Int
        var missing: Int
        var unreadable: Int
        var series: [Row]
    }

    func run() throws {
        var work: RestorePlan?
        if let plan {
            do { work = try RestorePlan.load(plan) } catch {
                printError("ldct status: \(error)")
                throw ExitCode.validationFailure
            }
        }
        guard FileManager.default.fileExists(atPath: output) else {
            printError("ldct status: \(output): no such folder")
            throw ExitCodes.nothingFound
        }
        let status = RestoreStatus.collect(outputRoot: output, plan: work)
        var rows = status.done.map { Row(series: $0.sourceSeriesUID, state: "done", slices: $0.slices, folder: $0.folder, shard: $0.shard) }
        rows += status.failed.map { Row(series: $0.entry.sourceSeriesUID, state: "failed", slices: $0.entry.slices,
                                        folder: $0.entry.folder.isEmpty ? nil : $0.entry.folder, shard: $0.entry.shard, reasons: $0.reasons) }
        rows += status.missing.map { Row(series: $0.seriesInstanceUID, state: "missing", slices: $0.slices) }
        rows += status.unreadable.map { Row(series: "", state: "unreadable", slices: 0, folder: $0.file, reasons: [$0.reason]) }
        let summary = Summary(done: status.done.count, failed: status.failed.count, missing: status.missing.count,
                              unreadable: status.unreadable.count, series: rows)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            if let data = try? encoder.encode(summary) { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
        } else {
            for f in status.failed {
                printError("failed: series \(f.entry.sourceSeriesUID)\(f.entry.shard.map { " (shard \($0))" } ?? ""): \(f.reasons.joined(separator: "; "))")
            }
            for m in status.missing.prefix(20) { printError("missing: series \(m.seriesInstanceUID) (\(m.slices) slices)") }
            if status.missing.count > 20 { printError("missing: … \(status.missing.count - 20) more") }
            for u in status.unreadable { printError("unreadable state: \(u.file): \(u.reason)") }
            if !status.outsidePlan.isEmpty { printError("note: \(status.outsidePlan.count) series in OUT are not in the plan") }
        }
        let doneSlices = status.done.reduce(0) { $0 + $1.slices }
        printError("ldct status: \(status.done.count) series done (\(doneSlices) slices), \(status.failed.count) failed"
            + (work == nil ? "" : ", \(status.missing.count) missing of \(work?.series.count ?? 0) planned")
            + (status.unreadable.isEmpty ? "" : ", \(status.unreadable.count) unreadable state file(s)"))
        if rows.isEmpty && work == nil { throw ExitCodes.nothingFound }
        if !status.ok { throw ExitCodes.partialFailure }
    }
}
