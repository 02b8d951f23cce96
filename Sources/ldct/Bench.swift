import ArgumentParser
import ConvNet
import DICOMIO
import Denoising
import Foundation
import Reporting

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed and memory on this machine (medians; see docs/benchmarks.md).",
        subcommands: [BenchIngest.self, BenchRestore.self, BenchStudy.self, BenchTrain.self, BenchSgemm.self, BenchConvAccuracy.self])
}

/// Median of timed repetitions after one warm-up.
func medianSeconds(repeats: Int, _ body: () -> Void) -> (median: Double, all: [Double]) {
    body()
    var times: [Double] = []
    for _ in 0..<max(repeats, 1) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    let sorted = times.sorted()
    return (sorted[sorted.count / 2], times)
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
        rates.sort()
        scanShares.sort()
        print(MachineInfo.describe())
        print(String(format: "ingest: %d slices, median %.0f slices/s over %d runs (min %.0f, max %.0f), header scan %.0f%% of the time, peak RSS %.0f MiB",
                     slices, rates[rates.count / 2], rates.count, rates.first ?? 0, rates.last ?? 0,
                     100 * scanShares[scanShares.count / 2], MachineInfo.peakRSSMiB()))
    }
}

/// Whole-slice restore through the same path as `ldct restore` (SliceRestorer).
struct BenchRestore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Restore one synthetic slice with RED-CNN: median time, GFLOP/s, sgemm share, peak RSS.")

    @Option(help: "Network width.") var width = 96
    @Option(help: "Slice side in pixels.") var size = 512
    @Option(help: "Timed repetitions.") var repeats = 3
    @Option(name: .customLong("column-mib"), help: "Column-buffer budget in MiB.") var columnMiB = 64
    @Option(help: "Convolution path: auto, im2col or winograd.") var conv: ConvolutionAlgorithm = .auto
    @Option(help: .hidden) var tiles: Int?

    func run() throws {
        DICOMFile.tuneAllocator()
        let workspace = Workspace(maxColumnFloats: columnMiB << 18, algorithm: conv)
        if let tiles { workspace.winogradTargetTiles = tiles }
        let model = REDCNN(config: REDCNNConfig(width: width), seed: 1, workspace: workspace)
        let restorer = SliceRestorer(model: model)
        var rng = SeededGenerator(seed: 2)
        let image = SliceImage(rows: size, columns: size, hu: (0..<size * size).map { _ in 40 + 30 * rng.gaussian() })
        SgemmClock.enabled = true
        SgemmClock.reset()
        let (median, all) = medianSeconds(repeats: repeats) { _ = restorer.restore(image) }
        let sgemmShare = Double(SgemmClock.nanoseconds) / 1e9
            / (all.reduce(0, +) * Double(repeats + 1) / Double(repeats) * Double(Parallelism.workers))
        let flops = TrainingStep.forwardFLOPs(model.config, batch: 1, height: size, width: size)
        let ops = SgemmClock.operations, runs = Double(repeats + 1)
        let actual = (ops.sgemm + ops.transforms) / runs
        print(MachineInfo.describe() + ", \(Parallelism.workers) workers × single-threaded OpenBLAS, conv \(conv.rawValue), " + BLASInfo.describe())
        print(String(format: "restore %d² width %d: median %.2f s (runs %@), %.1f GFLOP/s direct-equivalent (%.3g FLOP), %.1f GFLOP/s actual (%.3g FLOP: sgemm %.3g, transforms %.3g), sgemm %.0f%% of the time, peak RSS %.0f MiB",
                     size, width, median, all.map { String(format: "%.2f", $0) }.joined(separator: " "), flops / median / 1e9, flops,
                     actual / median / 1e9, actual, ops.sgemm / runs, ops.transforms / runs, 100 * sgemmShare, MachineInfo.peakRSSMiB()))
    }
}

/// One training step: forward + MSE + backward + Adam on a batch of patches.
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "One RED-CNN training step (forward, backward, Adam): median time, GFLOP/s.")

    @Option(help: "Network width.") var width = 96
    @Option(help: "Patches per batch.") var batch = 16
    @Option(parsing: .upToNextOption, help: "Patch sides to measure.") var patch: [Int] = [55, 64]
    @Option(help: "Timed repetitions.") var repeats = 3
    @Option(help: "Convolution path: auto, im2col or winograd.") var conv: ConvolutionAlgorithm = .auto
    @Option(help: .hidden) var tiles: Int?

    func run() throws {
        DICOMFile.tuneAllocator()
        print(MachineInfo.describe() + ", \(Parallelism.workers) workers × single-threaded OpenBLAS, conv \(conv.rawValue), " + BLASInfo.describe())
        for side in patch {
            let workspace = Workspace(algorithm: conv)
            if let tiles { workspace.winogradTargetTiles = tiles }
            let model = REDCNN(config: REDCNNConfig(width: width), seed: 1, workspace: workspace)
            var adam = Adam(parameterCount: model.parameterCount)
            var rng = SeededGenerator(seed: 3)
            let x = Tensor(shape: [batch, 1, side, side], data: (0..<batch * side * side).map { _ in 0.2 + 0.1 * rng.uniform() })
            let t = Tensor(shape: x.shape, data: x.data.map { $0 + 0.01 * (rng.uniform() - 0.5) })
            SgemmClock.enabled = true
            SgemmClock.reset()
            let (median, all) = medianSeconds(repeats: repeats) {
                TrainingStep.run(model: model, optimizer: &adam, input: x, target: t, learningRate: 1e-4)
            }
            let share = Double(SgemmClock.nanoseconds) / 1e9
                / (all.reduce(0, +) * Double(repeats + 1) / Double(repeats) * Double(Parallelism.workers))
            let flops = TrainingStep.trainingFLOPs(model.config, batch: batch, height: side, width: side)
            let ops = SgemmClock.operations, runs = Double(repeats + 1)
            let actual = (ops.sgemm + ops.transforms) / runs
            print(String(format: "train step %d×%d² width %d: median %.2f s (runs %@), %.1f GFLOP/s direct-equivalent (%.3g FLOP), %.1f GFLOP/s actual (%.3g FLOP: sgemm %.3g, transforms %.3g), sgemm %.0f%% of the time, peak RSS %.0f MiB",
                         batch, side, width, median, all.map { String(format: "%.2f", $0) }.joined(separator: " "),
                         flops / median / 1e9, flops, actual / median / 1e9, actual, ops.sgemm / runs, ops.transforms / runs,
                         100 * share, MachineInfo.peakRSSMiB()))
        }
    }
}

/// sgemm alone at the RED-CNN layer shape: the ceiling for im2col convolution.
struct BenchSgemm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sgemm", abstract: "OpenBLAS sgemm at M=96, K=2400 (the inner RED-CNN layers).")

    @Option var m = 96
    @Option var k = 2400
    @Option(help: "Columns (output pixels).") var n = 65536
    @Option var repeats = 5

    func run() throws {
        let a = [Float](repeating: 0.01, count: m * k), b = [Float](repeating: 0.02, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        let (median, _) = medianSeconds(repeats: repeats) {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        sgemm(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: n, beta: 0, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
        }
        print(MachineInfo.describe() + ", OpenBLAS threads \(BLASThreads.current)")
        print(String(format: "sgemm M=%d K=%d N=%d: median %.3f s, %.1f GFLOP/s", m, k, n, median, 2 * Double(m * k) * Double(n) / median / 1e9))
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

/// Whole-study overhead: scan, decode, encode, write and the report, as a share of network time.
struct BenchStudy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Restore a study and report on it; print the time outside the network as a share of network time.")

    @Argument(help: "Low-dose study folder.") var study: String
    @Option(help: "Normal-dose folder for the report.") var normal: String?
    @Option(help: "Model (default: the bundled one).") var model: String?
    @Option(help: "Scratch folder for the outputs (removed afterwards).") var scratch = NSTemporaryDirectory() + "ldct-bench-study"

    func run() throws {
        DICOMFile.tuneAllocator()
        guard let path = model ?? DefaultModel.locate() else { throw ValidationError("no model (give --model)") }
        let restorer = StudyRestorer(model: try ModelFile.load(path).model, modelLabel: "bench")
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let summary = restorer.run([study], outputRoot: scratch + "/restored", resume: false)
        let t1 = DispatchTime.now().uptimeNanoseconds
        let (report, pictures) = try ReportBuilder(low: [study], restored: [scratch + "/restored"], normal: normal.map { [$0] } ?? []).build()
        _ = try ReportWriter.write(report, pictures: pictures, to: scratch + "/report")
        let t2 = DispatchTime.now().uptimeNanoseconds
        let restoreSeconds = Double(t1 - t0) / 1e9, reportSeconds = Double(t2 - t1) / 1e9
        let network = summary.series.reduce(0) { $0 + $1.networkSeconds }
        let slices = summary.series.reduce(0) { $0 + $1.slicesWritten }
        let io = restoreSeconds - network
        print(MachineInfo.describe())
        print(String(format: "study: %d slice(s); restore %.2f s of which network %.2f s (%.2f s/slice)", slices, restoreSeconds, network, network / Double(max(slices, 1))))
        print(String(format: "outside the network: scan+decode+encode+write %.2f s (%.1f %%), report %.2f s (%.1f %%), total %.1f %% of network time",
                     io, 100 * io / network, reportSeconds, 100 * reportSeconds / network, 100 * (io + reportSeconds) / network))
    }
}

/// Winograd against im2col on real slices: restored HU before integer rounding, every slice.
struct BenchConvAccuracy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv-accuracy",
        abstract: "Restore every slice of a series with im2col and with Winograd; print the HU differences before rounding.")

    @Argument(help: "Series folders.") var folders: [String]
    @Option(help: "Model (default: the bundled one).") var model: String?
    @Option(help: "At most this many slices per series (evenly spread).") var slices = 1_000_000

    func run() throws {
        DICOMFile.tuneAllocator()
        guard let path = model ?? DefaultModel.locate() else { throw ValidationError("no model (give --model)") }
        let (network, _) = try ModelFile.load(path)
        let restorer = SliceRestorer(model: network)
        print(MachineInfo.describe() + ", Winograd kernels: " + Winograd.kernelBuild)
        for folder in folders {
            for info in StudyScanner.scan([folder]).series {
                guard let series = SeriesLoader.load(info).series else { continue }
                let n = series.sliceCount, take = min(n, max(slices, 1))
                var worst: Float = 0, sumAbs = 0.0, count = 0, times = (0.0, 0.0)
                for k in 0..<take {
                    let image = series.slice(take == n ? k : k * n / take)
                    network.workspace.algorithm = .im2col
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let reference = restorer.networkOutput(image)
                    network.workspace.algorithm = .winograd
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    let fast = restorer.networkOutput(image)
                    let t2 = DispatchTime.now().uptimeNanoseconds
                    times.0 += Double(t1 - t0) / 1e9
                    times.1 += Double(t2 - t1) / 1e9
                    for i in image.hu.indices {
                        let d = abs(fast.hu[i] - reference.hu[i])
                        worst = max(worst, d)
                        sumAbs += Double(d)
                        count += 1
                    }
                }
                print(String(format: "%@: %d of %d slices %d×%d: max |Winograd − im2col| %.4f HU, mean %.5f HU; network %.2f s (im2col) vs %.2f s (Winograd) per slice",
                             info.seriesDescription ?? folder, take, n, series.rows, series.columns, worst, sumAbs / Double(max(count, 1)),
                             times.0 / Double(take), times.1 / Double(take)))
            }
        }
    }
}
