import ConvNet
import DICOMIO
import Foundation

/// What happened to one input series.
public struct SeriesRestoreOutcome: Sendable {
    public var sourceSeriesUID: String
    public var description: String
    public var outputDirectory: String
    public var outputSeriesUID: String?
    public var slicesWritten: Int
    public var slicesTotal: Int
    public var clampedPixels: Int
    public var errors: [String]
    public var seconds: Double
}

/// Progress of a restore run, for the command line's progress line.
public struct RestoreProgress: Sendable {
    public var seriesIndex: Int
    public var seriesCount: Int
    public var sliceIndex: Int
    public var sliceCount: Int
    public var slicesDone: Int
    public var slicesTotal: Int
    public var elapsed: Double
}

public struct RestoreSummary: Sendable {
    public var series: [SeriesRestoreOutcome]
    public var rejected: [Rejection]
    public var errors: [DICOMError]
    public var failed: Bool { !errors.isEmpty || series.contains { !$0.errors.isEmpty || $0.slicesWritten < $0.slicesTotal } }
}

/// Finds the CT series under the inputs and restores each, slice by slice (decode → network →
/// write), into one derived series per input series. Memory holds one slice and the network's
/// buffers at a time, whatever the study size. Inputs are never written.
public final class StudyRestorer {
    public let restorer: SliceRestorer
    public var writerOptions: SeriesWriterOptions
    /// Shown in DerivationDescription (file name of the model, not a path).
    public let modelLabel: String
    public let fingerprint: String

    public init(model: REDCNN, modelLabel: String, uidRoot: String? = nil,
                transferSyntax: OutputTransferSyntax = .explicitLittle) {
        restorer = SliceRestorer(model: model)
        self.modelLabel = modelLabel
        fingerprint = ModelFile.fingerprint(model)
        writerOptions = SeriesWriterOptions(
            uidRoot: uidRoot,
            // Same source + same weights → same UIDs: a re-run or a re-send replaces, never doubles.
            deterministicKey: "redcnn|" + fingerprint,
            seriesDescription: "{source} [RED-CNN]",
            derivationDescription: "Noise reduced with RED-CNN (LowDoseCT, model \(modelLabel), fingerprint \(fingerprint))",
            transferSyntax: transferSyntax,
            imageComments: "Denoised by LowDoseCT RED-CNN; not the original acquisition")
    }

    /// Folder for a series' output: series number, description and a short hash of its UID
    /// (sanitised: nothing from a tag can leave `root`).
    public static func outputFolder(for series: SeriesInfo, root: String) -> String {
        let hash = String(UIDFactory.fnv1a64(series.seriesInstanceUID), radix: 16).prefix(8)
        let name = FileNames.sanitize("\(series.seriesNumber ?? 0)-\(series.seriesDescription ?? "CT")-restored-\(hash)", maxLength: 80)
        return (root as NSString).appendingPathComponent(name)
    }

    public func run(_ paths: [String], outputRoot: String, progress: (RestoreProgress) -> Void = { _ in }) -> RestoreSummary {
        let scan = StudyScanner.scan(paths)
        let total = scan.series.reduce(0) { $0 + $1.slices.count }
        var done = 0
        let start = Date()
        var outcomes: [SeriesRestoreOutcome] = []
        for (k, series) in scan.series.enumerated() {
            let folder = StudyRestorer.outputFolder(for: series, root: outputRoot)
            var outcome = SeriesRestoreOutcome(sourceSeriesUID: series.seriesInstanceUID,
                                               description: series.seriesDescription ?? "", outputDirectory: folder,
                                               outputSeriesUID: nil, slicesWritten: 0, slicesTotal: series.slices.count,
                                               clampedPixels: 0, errors: [], seconds: 0)
            let seriesStart = Date()
            do {
                let session = try SeriesWriter(options: writerOptions).begin(source: series, directory: folder)
                outcome.outputSeriesUID = session.seriesInstanceUID
                // Decode one file at a time; a multi-frame file yields all its frames at once.
                var index = 0
                while index < series.slices.count {
                    let file = series.slices[index].file
                    var end = index
                    while end < series.slices.count && series.slices[end].file == file { end += 1 }
                    do {
                        let images = try PixelDecoder.decode(file: file, slices: Array(series.slices[index..<end]))
                        for (j, image) in images.enumerated() {
                            try session.write(index: index + j, image: restorer.restore(image))
                            outcome.slicesWritten += 1
                            done += 1
                            progress(RestoreProgress(seriesIndex: k, seriesCount: scan.series.count, sliceIndex: index + j,
                                                     sliceCount: series.slices.count, slicesDone: done, slicesTotal: total,
                                                     elapsed: Date().timeIntervalSince(start)))
                        }
                    } catch {
                        outcome.errors.append("\(error)")
                        done += end - index
                    }
                    index = end
                }
                let result = session.finish()
                outcome.clampedPixels = result.clampedPixels
            } catch {
                outcome.errors.append("\(error)")
            }
            outcome.seconds = Date().timeIntervalSince(seriesStart)
            outcomes.append(outcome)
        }
        return RestoreSummary(series: outcomes, rejected: scan.rejected, errors: scan.errors)
    }
}
