import ArchivePlan
import DICOMIO
import Foundation

/// Restore state kept per source series: OUT/state/<hash of the series UID>.json, one small JSON
/// file per series (a `RestoreManifest.Entry`), written atomically by the one process that
/// restores that series. Shards on a shared file system therefore never write the same file, and
/// `ldct status` merges them. UIDs, folder and file names and counts only, never patient data.
public struct RestoreStateStore: Sendable {
    public static let folderName = "state"
    public let root: String

    public init(root: String) { self.root = root }

    public var folder: String { (root as NSString).appendingPathComponent(RestoreStateStore.folderName) }

    public func path(for sourceSeriesUID: String) -> String {
        let key = String(format: "%016llx", UIDFactory.fnv1a64(sourceSeriesUID))
        return (folder as NSString).appendingPathComponent(key + ".json")
    }

    /// The recorded state of a series; nil when there is none or it cannot be read (then the
    /// series is simply redone).
    public func load(source: String) -> RestoreManifest.Entry? {
        guard let data = FileManager.default.contents(atPath: path(for: source)),
              let entry = try? JSONDecoder().decode(RestoreManifest.Entry.self, from: data),
              entry.sourceSeriesUID == source else { return nil }
        return entry
    }

    public func save(_ entry: RestoreManifest.Entry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try encoder.encode(entry), to: path(for: entry.sourceSeriesUID))
    }

    /// Every state file: the entries, and the files that are not readable state (with the reason).
    public func all() -> (entries: [RestoreManifest.Entry], unreadable: [Rejection]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return ([], []) }
        var entries: [RestoreManifest.Entry] = []
        var bad: [Rejection] = []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let file = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file) else {
                bad.append(Rejection(file: file, reason: "cannot be read"))
                continue
            }
            do { entries.append(try JSONDecoder().decode(RestoreManifest.Entry.self, from: data)) } catch {
                bad.append(Rejection(file: file, reason: "not restore state: \(String(describing: error).prefix(160))"))
            }
        }
        return (entries, bad)
    }
}

/// The merged state of a restore output folder (`ldct status OUT [--plan PLAN]`): series done,
/// failed with the reasons, and — given the plan — series no shard has finished yet.
public struct RestoreStatus: Sendable {
    public struct Failed: Sendable {
        public var entry: RestoreManifest.Entry
        public var reasons: [String]
    }

    public var done: [RestoreManifest.Entry] = []
    public var failed: [Failed] = []
    /// Plan series without any state (never started, or a shard killed before the series ended).
    public var missing: [RestorePlan.Series] = []
    /// State files that could not be read.
    public var unreadable: [Rejection] = []
    /// State of series that are not in the plan (another archive's run into the same OUT).
    public var outsidePlan: [RestoreManifest.Entry] = []

    public var ok: Bool { failed.isEmpty && missing.isEmpty && unreadable.isEmpty }

    /// Reads OUT/state (and, for outputs of runs before per-series state, OUT/manifest.json).
    /// A series counts as done when its state is complete and all its files exist.
    public static func collect(outputRoot: String, plan: RestorePlan? = nil) -> RestoreStatus {
        let store = RestoreStateStore(root: outputRoot)
        var (entries, unreadable) = store.all()
        var known = Set(entries.map(\.sourceSeriesUID))
        for e in RestoreManifest.load(root: outputRoot).series where !known.contains(e.sourceSeriesUID) {
            entries.append(e)
            known.insert(e.sourceSeriesUID)
        }
        var status = RestoreStatus()
        status.unreadable = unreadable
        let planned = plan.map { Set($0.series.map(\.seriesInstanceUID)) }
        for e in entries.sorted(by: { $0.sourceSeriesUID < $1.sourceSeriesUID }) {
            if let planned, !planned.contains(e.sourceSeriesUID) {
                status.outsidePlan.append(e)
                continue
            }
            if e.state == "complete" {
                if let gone = e.missingFile(root: outputRoot) {
                    status.failed.append(Failed(entry: e, reasons: ["\(gone): restored file missing"]))
                } else if e.files.count != e.slices {
                    status.failed.append(Failed(entry: e, reasons: ["\(e.files.count) of \(e.slices) slices recorded"]))
                } else {
                    status.done.append(e)
                }
            } else {
                status.failed.append(Failed(entry: e, reasons: e.errors.isEmpty ? ["interrupted"] : e.errors))
            }
        }
        if let plan {
            status.missing = plan.series.filter { !known.contains($0.seriesInstanceUID) }
        }
        return status
    }
}
