import CDCMTK
import DICOMIO
import Denoising
import Foundation

/// Log lines of the node: one per event, with a UTC timestamp, never patient names.
public enum NodeLog {
    nonisolated(unsafe) public static var sink: (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public static func line(_ message: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        sink("\(stamp) \(message)")
    }
}

/// C-STORE / C-ECHO client calls.
public enum DICOMClient {
    /// Sends files in one association; returns the DIMSE status per file (0xFFFF: not sent).
    public static func store(files: [String], to destination: Destination, callingAE: String, timeout: Int = 30) throws -> [UInt16] {
        guard !files.isEmpty else { return [] }
        var statuses = [UInt16](repeating: 0xFFFF, count: files.count)
        var err = [CChar](repeating: 0, count: 512)
        let cStrings = files.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
        let rc = pointers.withUnsafeBufferPointer { p in
            statuses.withUnsafeMutableBufferPointer { s in
                ldct_scu_store(callingAE, destination.ae, destination.host, destination.port, p.baseAddress, Int32(files.count),
                               s.baseAddress, Int32(timeout), &err, err.count)
            }
        }
        if rc != 0 { throw NodeError.send(destination: destination.description, reason: cText(err)) }
        return statuses
    }

    public static func echo(_ destination: Destination, callingAE: String, timeout: Int = 10) -> String? {
        var err = [CChar](repeating: 0, count: 512)
        let rc = ldct_scu_echo(callingAE, destination.ae, destination.host, destination.port, Int32(timeout), &err, err.count)
        return rc == 0 ? nil : cText(err)
    }

    /// Success or warning (Bxxx) statuses: the peer has the instance.
    public static func delivered(_ status: UInt16) -> Bool { status == 0 || (status & 0xF000) == 0xB000 }
}

/// The node: a C-STORE SCP spooling what it receives (on its own threads) and a worker that
/// restores completed series and sends them on, driven only by what the spool says — so a
/// restart after a crash continues where the spool stands.
public final class Node: @unchecked Sendable {
    public let config: NodeConfig
    public let spool: Spool
    let restorer: StudyRestorer
    /// The views each slice's restoration averages (config `ensemble`).
    public var ensemble: ViewEnsemble { restorer.ensemble }
    /// What the operator should know about the configuration (logged at start): e.g. an `auto`
    /// curve tuned on other views than `ensemble` (`RestoreStrength.viewsNote`).
    public private(set) var notes: [String] = []
    let modelPath: String

    public init(config: NodeConfig) throws {
        try config.validate()
        self.config = config
        spool = try Spool(root: config.spool)
        guard let path = config.model ?? DefaultModel.locate() else {
            throw NodeError.configuration(reason: "no model given and the bundled default model was not found")
        }
        modelPath = path
        let model: REDCNN
        let strength: RestoreStrength
        let metadata: [String: String]
        do {
            let (loaded, meta) = try ModelFile.load(path)
            model = loaded
            metadata = meta
            model.workspace.algorithm = config.conv
            strength = try RestoreStrength.resolve(config.strength, metadata: metadata, model: path)
        } catch { throw NodeError.configuration(reason: "\(error)") }
        let views = ViewEnsemble(count: config.ensemble) ?? .single
        restorer = StudyRestorer(model: model, modelLabel: (path as NSString).lastPathComponent, uidRoot: config.uidRoot,
                                 strength: strength, ensemble: views)
        if let note = strength.viewsNote(metadata: metadata, views: views.count) { notes.append(note) }
    }

    /// Starts the SCP on a background thread; returns once it is listening (or failed).
    public func startListening() throws {
        let failure = LockedBox<String?>(nil)
        let started = DispatchSemaphore(value: 0)
        let cfg = config
        let thread = Thread {
            let allow = cfg.allow.joined(separator: ",")
            let rc: Int32 = cfg.ae.withCString { ae in
                cfg.spool.withCString { spool in
                    allow.withCString { allowC in
                        var c = ldct_scp_config(ae_title: ae, port: cfg.port, spool: spool, allow: allowC,
                                                accept_non_ct: cfg.nonCT == "ignore" ? 1 : 0,
                                                spool_limit_bytes: UInt64(max(cfg.spoolLimitMiB, 0)) << 20,
                                                max_associations: Int32(cfg.maxAssociations),
                                                log: { _, message in
                                                    if let message { NodeLog.line("scp: " + String(cString: message)) }
                                                })
                        var err = [CChar](repeating: 0, count: 512)
                        started.signal()
                        return ldct_scp_run(&c, &err, err.count) == 0 ? 0 : { failure.set(cText(err)); return -1 }()
                    }
                }
            }
            // A node that no longer listens must not keep running silently: exit so that the
            // service manager restarts it (the spool carries the state).
            NodeLog.line("scp stopped" + (rc != 0 ? ": \(failure.get() ?? "")" : "") + "; exiting")
            exit(70)
        }
        thread.stackSize = 8 << 20
        thread.start()
        started.wait()
        // Give listen() a moment to bind or fail.
        for _ in 0..<20 {
            if failure.get() != nil { break }
            usleep(10_000)
        }
        if let f = failure.get() { throw NodeError.listen(reason: f) }
    }

    /// Runs the worker forever.
    public func runWorker(interval: Double = 0.5) -> Never {
        while true {
            tick(now: Date())
            usleep(UInt32(interval * 1_000_000))
        }
    }

    func short(_ uid: String) -> String { uid.count > 14 ? "…" + uid.suffix(12) : uid }

    /// One pass: restore series whose last instance is older than the timeout, send what is due.
    public func tick(now: Date) {
        for series in spool.incomingSeries() {
            var record = spool.record(series) ?? SeriesRecord(seriesUID: series)
            let (count, newest) = spool.incomingStatus(series)
            guard count > 0, let newest else { continue }
            if record.received != count || record.lastReceived != newest {
                if record.received != count { NodeLog.line("series \(short(series)): received \(count) instance(s)") }
                record.received = count
                record.lastReceived = newest
                if record.state != .receiving { record.state = .receiving }
                try? spool.save(record)
            }
            let needsRestore = record.restoredUpTo.map { newest > $0 } ?? true
            if needsRestore, now.timeIntervalSince(newest) >= config.seriesTimeout {
                restore(&record, newest: newest)
            }
        }
        // Only series whose restored files are still in the spool can need delivery (sent ones are
        // cleaned up), so the state of every series ever seen is not re-read twice a second.
        for series in spool.restoredSeries() {
            guard var record = spool.record(series),
                  record.state == .restored || record.state == .failed && !record.restoredFiles.isEmpty else { continue }
            deliver(&record, now: now)
        }
    }

    func restore(_ record: inout SeriesRecord, newest: Date) {
        let series = record.seriesUID
        record.state = .restoring
        try? spool.save(record)
        NodeLog.line("series \(short(series)): restoring \(record.received) instance(s)")
        let out = spool.restored + "/" + series
        let summary = restorer.run([spool.incoming + "/" + series], outputRoot: out)
        let outcome = summary.series.first
        record.description = outcome?.description
        let manifest = RestoreManifest.load(root: out)
        let entry = outcome.flatMap { o in manifest.series.first { $0.sourceSeriesUID == o.sourceSeriesUID } }
        // Every received instance must be restored: a file the scan could not read (it is then not
        // part of the series at all) counts as much as one whose pixels failed to decode.
        let restoredCount = entry?.files.count ?? 0
        let problems = (outcome?.errors ?? []) + summary.errors.map { "\($0)" } + summary.rejected.map { "\($0.file): \($0.reason)" }
        let complete = outcome.map { $0.errors.isEmpty && $0.slicesWritten + ($0.skipped ? $0.slicesTotal : 0) == $0.slicesTotal } ?? false
            && entry?.state == "complete" && problems.isEmpty && restoredCount >= record.received
        // With send_partial, a series some of whose instances failed still goes out with the rest.
        let partial = !complete && config.sendPartial && restoredCount > 0
        if let outcome, let entry, complete || partial {
            let files = entry.files.map { entry.folder + "/" + $0 }
            if files != record.restoredFiles { record.deliveries = [:] }
            record.restoredFiles = files
            record.restoredFolder = out
            record.restoredUpTo = newest
            record.state = .restored
            record.error = partial
                ? "partial: \(max(record.received - files.count, 1)) of \(max(record.received, files.count)) instance(s) not restored: "
                    + (problems.first ?? "fewer restored than received")
                : nil
            for d in config.forward where record.deliveries[d.key] == nil { record.deliveries[d.key] = Delivery() }
            var patient = ""
            if config.showPatient, let info = StudyScanner.scan([spool.incoming + "/" + series]).series.first {
                patient = ", patient \(info.patientName ?? "?") (\(info.patientID ?? "?"))"
            }
            NodeLog.line(String(format: "series %@: restored %d instance(s) in %.1f s (\"%@\"%@)", short(series), files.count,
                                outcome.seconds, outcome.description, patient))
            if let e = record.error { NodeLog.line("series \(short(series)): \(e); sending the restored instances (send_partial)") }
        } else {
            let why = problems.first ?? (outcome == nil ? "no CT series in the received files"
                : "\(restoredCount) of \(record.received) received instance(s) restored")
            record.state = .failed
            record.error = why
            record.restoredUpTo = newest
            NodeLog.line("series \(short(series)): FAILED to restore: \(why)")
        }
        try? spool.save(record)
    }

    func deliver(_ record: inout SeriesRecord, now: Date) {
        guard let folder = record.restoredFolder else { return }
        var changed = false
        for destination in config.forward {
            var d = record.deliveries[destination.key] ?? Delivery()
            if d.done { continue }
            if let next = d.nextAttempt, next > now { continue }
            let pending = record.restoredFiles.filter { !d.sent.contains($0) }
            do {
                let statuses = try DICOMClient.store(files: pending.map { folder + "/" + $0 }, to: destination, callingAE: config.ae)
                for (file, status) in zip(pending, statuses) where DICOMClient.delivered(status) { d.sent.append(file) }
                let failed = zip(pending, statuses).filter { !DICOMClient.delivered($0.1) }
                if failed.isEmpty {
                    d.done = true
                    d.lastError = nil
                    d.nextAttempt = nil
                    NodeLog.line("series \(short(record.seriesUID)): sent \(record.restoredFiles.count) instance(s) to \(destination)")
                } else {
                    let status = String(format: "%04X", failed[0].1)
                    throw NodeError.send(destination: destination.description, reason: "\(failed.count) instance(s) not accepted (status \(status))")
                }
            } catch {
                d.attempts += 1
                let wait = min(config.retryBase * pow(2, Double(d.attempts - 1)), config.retryMax)
                d.nextAttempt = now.addingTimeInterval(wait)
                d.lastError = "\(error)"
                NodeLog.line(String(format: "series %@: sending to %@ failed (attempt %d, retry in %.0f s): %@", short(record.seriesUID),
                                    destination.description, d.attempts, wait, "\(error)"))
            }
            record.deliveries[destination.key] = d
            changed = true
        }
        if config.forward.allSatisfy({ record.deliveries[$0.key]?.done == true }) {
            record.state = .sent
            changed = true
            if !config.keepSent {
                try? FileManager.default.removeItem(atPath: spool.incoming + "/" + record.seriesUID)
                try? FileManager.default.removeItem(atPath: folder)
                ldct_scp_set_spool_bytes(spool.bytes())
            }
        }
        if changed { try? spool.save(record) }
    }

    /// The queue as text, for `ldct node --status`.
    public static func status(spool path: String) throws -> String {
        let spool = try Spool(root: path)
        let records = spool.records()
        var lines = ["series                        state      received restored  deliveries"]
        for r in records {
            let deliveries = r.deliveries.sorted { $0.key < $1.key }.map { key, d in
                "\(key) \(d.sent.count)/\(r.restoredFiles.count)" + (d.done ? " done" : d.attempts > 0 ? " (\(d.attempts) failed, \(d.lastError ?? ""))" : "")
            }.joined(separator: "; ")
            let id = r.seriesUID.count > 28 ? "…" + r.seriesUID.suffix(27) : r.seriesUID
            lines.append(id.padding(toLength: 30, withPad: " ", startingAt: 0) + r.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(format: "%8d %8d  ", r.received, r.restoredFiles.count) + deliveries + (r.error.map { "  error: \($0)" } ?? ""))
        }
        let waiting = spool.incomingSeries().filter { spool.record($0) == nil }
        for w in waiting { lines.append((w.count > 28 ? "…" + w.suffix(27) : w).padding(toLength: 30, withPad: " ", startingAt: 0) + "receiving") }
        if records.isEmpty && waiting.isEmpty { lines.append("(spool empty)") }
        return lines.joined(separator: "\n")
    }
}

/// A value shared between threads under a lock.
final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
}

/// The text of a NUL-terminated C buffer the C side filled (an error message), up to its first NUL.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
