import ArchivePlan
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
    /// True when a previous run had already finished this series with the same model (nothing written).
    public var skipped = false
    /// Of `seconds`, the time spent in the network (the rest is scan, decode, encode, write).
    public var networkSeconds = 0.0
    /// The strength α each written slice got, in slice order (all 1 without a strength setting).
    public var alphas: [Float] = []
    /// The blind noise σ (HU) each slice's noise-level channel got; empty for a one-channel model.
    public var noiseLevels: [Float] = []
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
    public var failed: Bool {
        !errors.isEmpty || series.contains { !$0.skipped && (!$0.errors.isEmpty || $0.slicesWritten < $0.slicesTotal) }
    }
}

/// OUT/manifest.json: what a restore run has finished, so a re-run skips complete series and
/// redoes partial ones. Written atomically after every series. Holds UIDs, folders and counts,
/// never patient data.
public struct RestoreManifest: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var sourceSeriesUID: String
        public var outputSeriesUID: String
        /// Folder name under OUT.
        public var folder: String
        public var modelFingerprint: String
        /// `RestoreStrength.description` of the run; nil in manifests from before strengths (= "1").
        public var strength: String?
        public var slices: Int
        /// File names (in `folder`) of the restored slices, in slice order.
        public var files: [String]
        /// "complete" or "failed" (a failed or interrupted series is redone by the next run).
        public var state: String
        public var errors: [String]
        public var finished: String
        /// The shard that wrote it ("K/N") and the plan's fingerprint, for sharded runs.
        public var shard: String? = nil
        public var plan: String? = nil
        /// Under a strength other than 1: the strength α each file got, aligned with `files` (under
        /// `auto` it varies from slice to slice), and the noise the network removed from it (HU; nil
        /// where it was not measured: fixed strengths, or too little soft tissue). Nil at strength 1
        /// and in state written before these existed.
        public var sliceStrengths: [Float]? = nil
        public var removedNoise: [Float?]? = nil
        /// Views the network was averaged over (`ViewEnsemble`); nil for one (and in state from before ensembles).
        public var views: Int? = nil
        /// With a model that has the noise-level channel: the blind noise σ (HU) each file's slice
        /// was measured with and the network was told (`NoiseLevel`), aligned with `files`; nil otherwise.
        public var noiseLevels: [Float]? = nil

        /// Complete with this model, strength, ensemble and slice count, and every file still there.
        public func isComplete(fingerprint: String, strength: String, views: Int = 1, slices: Int, root: String) -> Bool {
            guard state == "complete", modelFingerprint == fingerprint, (self.strength ?? "1") == strength,
                  (self.views ?? 1) == views,
                  self.slices == slices, files.count == slices else { return false }
            return missingFile(root: root) == nil
        }

        /// The first recorded file that is not on disk any more.
        public func missingFile(root: String) -> String? {
            let dir = (root as NSString).appendingPathComponent(folder)
            return files.lazy.map { (dir as NSString).appendingPathComponent($0) }.first { !FileManager.default.fileExists(atPath: $0) }
        }
    }

    public var tool = "LowDoseCT ldct restore"
    public var series: [Entry] = []

    public static let fileName = "manifest.json"

    public init() {}

    public static func load(root: String) -> RestoreManifest {
        let path = (root as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path),
              let manifest = try? JSONDecoder().decode(RestoreManifest.self, from: data) else { return RestoreManifest() }
        return manifest
    }

    public func save(root: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try AtomicFile.write(data, to: (root as NSString).appendingPathComponent(RestoreManifest.fileName))
    }

    public mutating func record(_ entry: Entry) {
        series.removeAll { $0.sourceSeriesUID == entry.sourceSeriesUID }
        series.append(entry)
    }
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
    public var strength: RestoreStrength { restorer.strength }
    public var ensemble: ViewEnsemble { restorer.ensemble }

    public init(model: REDCNN, modelLabel: String, uidRoot: String? = nil,
                transferSyntax: OutputTransferSyntax = .explicitLittle, strength: RestoreStrength = .fixed(1),
                ensemble: ViewEnsemble = .single) {
        restorer = SliceRestorer(model: model, strength: strength, ensemble: ensemble)
        self.modelLabel = modelLabel
        fingerprint = ModelFile.fingerprint(model)
        // Same source + same weights + same strength and ensemble → same UIDs: a re-run or a re-send
        // replaces, never doubles; another strength or ensemble is another derived series. (Strength 1
        // and one view keep the key of outputs written before strengths and ensembles existed.)
        let strengthKey = strength.isIdentity ? "" : "|strength " + strength.description
        let viewsKey = ensemble.isSingle ? "" : "|views \(ensemble.count)"
        let strengthText = strength.isIdentity ? "" : ", strength \(strength)"
        let viewsText = ensemble.isSingle ? "" : ", mean of \(ensemble.count) mirrored/rotated views"
        var label = strength.isIdentity ? "" : " " + strength.shortLabel
        if !ensemble.isSingle { label += (label.isEmpty ? " " : ", ") + "\(ensemble.count) views" }
        writerOptions = SeriesWriterOptions(
            uidRoot: uidRoot,
            deterministicKey: "redcnn|" + fingerprint + strengthKey + viewsKey,
            // Side by side in a PACS list, settings must be told apart: "[RED-CNN auto]", "[RED-CNN 0.5]",
            // "[RED-CNN auto, 8 views]".
            seriesDescription: "{source} [RED-CNN" + label + "]",
            derivationDescription: "Noise reduced with RED-CNN (LowDoseCT, model \(modelLabel), fingerprint \(fingerprint)\(strengthText)\(viewsText))",
            transferSyntax: transferSyntax,
            imageComments: RestorationComment.plainText)
    }

    /// Folder for a series' output: series number, description and a short hash of its UID
    /// (sanitised: nothing from a tag can leave `root`).
    public static func outputFolder(for series: SeriesInfo, root: String) -> String {
        let hash = String(UIDFactory.fnv1a64(series.seriesInstanceUID), radix: 16).prefix(8)
        let name = FileNames.sanitize("\(series.seriesNumber ?? 0)-\(series.seriesDescription ?? "CT")-restored-\(hash)", maxLength: 80)
        return (root as NSString).appendingPathComponent(name)
    }

    /// Restores every CT series under `paths` into `outputRoot`. With `resume` (the default), series
    /// that OUT/manifest.json records as complete with the same model, whose files are all there,
    /// are skipped; anything else is (re)written. Files under `outputRoot` are never taken as input.
    public func run(_ paths: [String], outputRoot: String, resume: Bool = true,
                    progress: (RestoreProgress) -> Void = { _ in }) -> RestoreSummary {
        var scan = StudyScanner.scan(paths)
        // An output folder inside an input folder must not be restored again on a re-run.
        let outPrefix = (URL(fileURLWithPath: outputRoot).standardizedFileURL.path as NSString).appendingPathComponent("")
        scan.series.removeAll { s in s.slices.allSatisfy { URL(fileURLWithPath: $0.file).standardizedFileURL.path.hasPrefix(outPrefix) } }
        scan.rejected.removeAll { URL(fileURLWithPath: $0.file).standardizedFileURL.path.hasPrefix(outPrefix) }
        return restore(scan, outputRoot: outputRoot, resume: resume, shard: nil, progress: progress)
    }

    /// One shard of a planned archive restore: reads the headers of this shard's files only,
    /// restores its series, and keeps state per series (OUT/state/…, never a file other shards
    /// write; no manifest.json). Plan series whose files changed are recorded as failed with the
    /// evidence. Throws when the plan does not fit the files at all.
    public func run(plan: RestorePlan, planPath: String, shard: ShardSpec, outputRoot: String, resume: Bool = true,
                    progress: (RestoreProgress) -> Void = { _ in }) throws -> RestoreSummary {
        let (scan, mismatched) = try plan.scan(shard: shard, planPath: planPath)
        var summary = restore(scan, outputRoot: outputRoot, resume: resume, shard: (shard, plan.fingerprint), progress: progress)
        let store = RestoreStateStore(root: outputRoot)
        for (series, evidence) in mismatched {
            let entry = RestoreManifest.Entry(sourceSeriesUID: series.seriesInstanceUID, outputSeriesUID: "", folder: "",
                                              modelFingerprint: fingerprint, strength: strength.isIdentity ? nil : strength.description,
                                              slices: series.slices, files: [], state: "failed", errors: [evidence],
                                              finished: ISO8601DateFormatter().string(from: Date()),
                                              shard: shard.description, plan: plan.fingerprint,
                                              views: ensemble.isSingle ? nil : ensemble.count)
            var outcome = SeriesRestoreOutcome(sourceSeriesUID: series.seriesInstanceUID, description: "", outputDirectory: "",
                                               outputSeriesUID: nil, slicesWritten: 0, slicesTotal: series.slices,
                                               clampedPixels: 0, errors: [evidence], seconds: 0)
            do { try store.save(entry) } catch { outcome.errors.append("state not written: \(error)") }
            summary.series.append(outcome)
        }
        return summary
    }

    /// Restores scanned series into `outputRoot`, skipping (with `resume`) those whose state
    /// says complete with this model and strength. State goes to OUT/state/<series>.json for every
    /// run; an unsharded run also keeps OUT/manifest.json (all its series in one file).
    func restore(_ scan: ScanResult, outputRoot: String, resume: Bool, shard: (ShardSpec, String)?,
                 progress: (RestoreProgress) -> Void) -> RestoreSummary {
        let store = RestoreStateStore(root: outputRoot)
        let keepManifest = shard == nil
        // Outputs of runs before per-series state have only manifest.json: read it (shards never write it).
        var manifest = resume ? RestoreManifest.load(root: outputRoot) : RestoreManifest()
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
            let earlier = store.load(source: series.seriesInstanceUID)
                ?? manifest.series.first { $0.sourceSeriesUID == series.seriesInstanceUID }
            if resume, let entry = earlier, entry.isComplete(fingerprint: fingerprint, strength: strength.description,
                                                             views: ensemble.count, slices: series.slices.count, root: outputRoot) {
                outcome.outputSeriesUID = entry.outputSeriesUID
                outcome.skipped = true
                done += series.slices.count
                outcomes.append(outcome)
                continue
            }
            let seriesStart = Date()
            var files: [String] = []
            var noise: [Float?] = []
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
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            let (restored, detail) = restorer.restoreWithDetail(image)
                            outcome.networkSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                            var overrides: [Tag: String] = [:]
                            if !strength.isIdentity {
                                // Per slice: the α it got (auto varies from slice to slice).
                                overrides[.imageComments] = RestorationComment(strength: Double(detail.alpha),
                                                                               removedNoise: detail.removedNoise.map(Double.init)).text
                            }
                            let path = try session.write(index: index + j, image: restored, overrides: overrides)
                            outcome.alphas.append(detail.alpha)
                            noise.append(detail.removedNoise.map { ($0 * 10).rounded() / 10 })
                            if let level = detail.noiseLevel { outcome.noiseLevels.append((level * 10).rounded() / 10) }
                            files.append((path as NSString).lastPathComponent)
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
            let complete = outcome.errors.isEmpty && outcome.slicesWritten == outcome.slicesTotal
            let entry = RestoreManifest.Entry(
                sourceSeriesUID: series.seriesInstanceUID, outputSeriesUID: outcome.outputSeriesUID ?? "",
                folder: (folder as NSString).lastPathComponent, modelFingerprint: fingerprint,
                strength: strength.isIdentity ? nil : strength.description, slices: series.slices.count, files: files,
                state: complete ? "complete" : "failed", errors: outcome.errors, finished: ISO8601DateFormatter().string(from: Date()),
                shard: shard?.0.description, plan: shard?.1,
                sliceStrengths: strength.isIdentity ? nil : outcome.alphas.map { ($0 * 1000).rounded() / 1000 },
                removedNoise: strength.isIdentity ? nil : noise, views: ensemble.isSingle ? nil : ensemble.count,
                noiseLevels: outcome.noiseLevels.isEmpty ? nil : outcome.noiseLevels)
            do { try store.save(entry) } catch { outcome.errors.append("state not written: \(error)") }
            if keepManifest {
                manifest.record(entry)
                do { try manifest.save(root: outputRoot) } catch { outcome.errors.append("manifest not written: \(error)") }
            }
            outcomes.append(outcome)
        }
        return RestoreSummary(series: outcomes, rejected: scan.rejected, errors: scan.errors)
    }
}
