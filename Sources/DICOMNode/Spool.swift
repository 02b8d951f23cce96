import DICOMIO
import Foundation

/// Delivery of one restored series to one destination.
public struct Delivery: Codable, Sendable, Equatable {
    /// File names (in the restored folder) the destination has acknowledged.
    public var sent: [String] = []
    public var attempts = 0
    public var nextAttempt: Date?
    public var lastError: String?
    public var done = false
}

/// What the node knows about one received series; spool/state/<SeriesInstanceUID>.json.
public struct SeriesRecord: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case receiving, restoring, restored, sent, failed
    }

    public var seriesUID: String
    public var description: String?
    public var state: State = .receiving
    public var received = 0
    public var lastReceived: Date?
    /// Newest received file time the last restore covered (a later instance triggers a re-restore).
    public var restoredUpTo: Date?
    public var restoredFolder: String?
    public var restoredFiles: [String] = []
    public var deliveries: [String: Delivery] = [:]
    public var error: String?
    public var updated: Date?

    public init(seriesUID: String) { self.seriesUID = seriesUID }
}

/// The spool: the node's source of truth on disk.
///
///     incoming/<series>/<sop>.dcm   received instances (written by the SCP, fsynced, renamed)
///     tmp/                          the SCP's temporary files
///     restored/<series>/…           the restored series (ldct restore layout + manifest.json, state/)
///     state/<series>.json           SeriesRecord, written atomically
public struct Spool: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        for sub in ["incoming", "tmp", "restored", "state"] {
            do {
                try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
            } catch {
                throw NodeError.configuration(reason: "cannot create spool folder \(root)/\(sub): \(error.localizedDescription)")
            }
        }
    }

    public var incoming: String { root + "/incoming" }
    public var restored: String { root + "/restored" }

    public func incomingSeries() -> [String] { folders(in: incoming) }

    /// Series with a restored folder (not yet cleaned up).
    public func restoredSeries() -> [String] { folders(in: restored) }

    func folders(in path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Number of instances and newest modification time of a received series.
    public func incomingStatus(_ series: String) -> (count: Int, newest: Date?) {
        let folder = incoming + "/" + series
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".dcm") }
        var newest: Date?
        for n in names {
            if let d = (try? FileManager.default.attributesOfItem(atPath: folder + "/" + n))?[.modificationDate] as? Date {
                newest = max(newest ?? d, d)
            }
        }
        return (names.count, newest)
    }

    func statePath(_ series: String) -> String { root + "/state/" + series + ".json" }

    public func record(_ series: String) -> SeriesRecord? {
        guard let data = FileManager.default.contents(atPath: statePath(series)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(SeriesRecord.self, from: data)
    }

    public func records() -> [SeriesRecord] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/state")) ?? []).filter { $0.hasSuffix(".json") }
        return names.sorted().compactMap { record(String($0.dropLast(5))) }
    }

    public func save(_ record: SeriesRecord) throws {
        var r = record
        r.updated = Date()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try encoder.encode(r), to: statePath(record.seriesUID))
    }

    /// Bytes under incoming/ and restored/.
    public func bytes() -> UInt64 {
        var total: UInt64 = 0
        for base in [incoming, restored] {
            let e = FileManager.default.enumerator(atPath: base)
            while let rel = e?.nextObject() as? String {
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: base + "/" + rel),
                      attributes[.type] as? FileAttributeType == .typeRegular,
                      let size = attributes[.size] as? NSNumber else { continue }
                total += size.uint64Value
            }
        }
        return total
    }
}
