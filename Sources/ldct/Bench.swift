import ArgumentParser
import DICOMIO
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory on this machine (medians; see docs/benchmarks.md).",
        subcommands: [BenchIngest.self])
}

/// Reads a series to HU repeatedly and reports the median slices/s and the peak RSS.
struct BenchIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Read a CT series folder to Float32 HU (scan + decode + rescale).")

    @Argument(help: "Folder with the series (make one with scripts/bench-ingest).")
    var folder: String

    @Option(help: "Timed repetitions (after one warm-up).")
    var repeats = 5

    func run() throws {
        DICOMFile.tuneAllocator()
        try DICOMFile.initialize()
        var rates: [Double] = []
        var scanShares: [Double] = []
        var slices = 0
        for rep in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            let scan = StudyScanner.scan([folder])
            let scanned = DispatchTime.now().uptimeNanoseconds
            var count = 0
            for info in scan.series {
                let (series, _) = SeriesLoader.load(info)
                count += series?.sliceCount ?? 0
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            slices = count
            if rep > 0 {
                rates.append(Double(count) / seconds)
                scanShares.append(Double(scanned - start) / 1e9 / seconds)
            }
        }
        scanShares.sort()
        rates.sort()
        let median = rates[rates.count / 2]
        print(MachineInfo.describe())
        print(String(format: "ingest: %d slices, median %.0f slices/s over %d runs (min %.0f, max %.0f), header scan %.0f%% of the time, peak RSS %.0f MiB",
                     slices, median, rates.count, rates.first ?? 0, rates.last ?? 0,
                     100 * scanShares[scanShares.count / 2], MachineInfo.peakRSSMiB()))
    }
}

enum MachineInfo {
    static func describe() -> String {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
        let mem = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        return String(format: "machine: %@, %d cores, %.0f GiB", cpu, ProcessInfo.processInfo.activeProcessorCount, mem)
    }

    /// Peak resident set size of this process (VmHWM).
    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kb / 1024
    }
}
