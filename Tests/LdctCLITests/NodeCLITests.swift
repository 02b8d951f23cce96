import DICOMIO
import Denoising
import Foundation
import Testing

/// A real Orthanc (Debian's `orthanc`), started on unusual loopback ports below the ephemeral range (32768+) with a temporary
/// configuration and storage, stopped by its PID.
final class Orthanc: @unchecked Sendable {
    let http: Int, dicom: Int, folder: String
    let process = Process()

    init(http: Int, dicom: Int, modalities: [String: (ae: String, port: Int)]) throws {
        self.http = http
        self.dicom = dicom
        folder = scratch()
        let mods = modalities.map { "\"\($0.key)\": [\"\($0.value.ae)\", \"127.0.0.1\", \($0.value.port)]" }.joined(separator: ", ")
        let config = """
            { "Name": "ldct-test", "StorageDirectory": "\(folder)/db", "IndexDirectory": "\(folder)/db",
              "HttpPort": \(http), "DicomPort": \(dicom), "DicomAet": "ORTHANC", "RemoteAccessAllowed": false,
              "AuthenticationEnabled": false, "DicomCheckCalledAet": false, "Plugins": [], "HttpTimeout": 60,
              "DicomScuTimeout": 20, "DicomModalities": { \(mods) } }
            """
        try config.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/Orthanc")
        process.arguments = [folder + "/config.json"]
        _ = FileManager.default.createFile(atPath: folder + "/orthanc.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/orthanc.log"))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        for _ in 0..<200 {
            if (try? get("/system")) != nil { return }
            usleep(50_000)
        }
        let text = (try? String(contentsOfFile: folder + "/orthanc.log", encoding: .utf8)) ?? ""
        stop()
        throw CLIError.notBuilt(["Orthanc did not answer on port \(http): \(text.suffix(800))"])
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }

    func curl(_ args: [String]) throws -> (code: Int32, body: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-s", "-f", "--max-time", "60"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, data)
    }

    func get(_ path: String) throws -> Any {
        let r = try curl(["http://127.0.0.1:\(http)" + path])
        guard r.code == 0 else { throw CLIError.notBuilt(["GET \(path): curl \(r.code)"]) }
        return try JSONSerialization.jsonObject(with: r.body)
    }

    /// Uploads every DICOM file under a folder; returns the Orthanc series IDs.
    func upload(_ folder: String) throws -> [String] {
        var series = Set<String>()
        for f in (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []) where f.hasSuffix(".dcm") {
            let r = try curl(["-X", "POST", "http://127.0.0.1:\(http)/instances", "--data-binary", "@" + folder + "/" + f])
            if let json = try? JSONSerialization.jsonObject(with: r.body) as? [String: Any], let s = json["ParentSeries"] as? String { series.insert(s) }
        }
        return series.sorted()
    }

    /// Asks Orthanc to C-STORE resources to a modality; true when Orthanc reports success.
    func store(_ ids: [String], to modality: String) throws -> Bool {
        let body = "[" + ids.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        return try curl(["-X", "POST", "http://127.0.0.1:\(http)/modalities/\(modality)/store", "-d", body]).code == 0
    }

    /// SOP Instance UID → referenced SOP Instance UID (Source Image Sequence) of every instance.
    func instances() throws -> [(sop: String, source: String?, description: String)] {
        let ids = try get("/instances") as? [String] ?? []
        return try ids.map { id in
            let tags = try get("/instances/\(id)/tags?simplify") as? [String: Any] ?? [:]
            let source = (tags["SourceImageSequence"] as? [[String: Any]])?.first?["ReferencedSOPInstanceUID"] as? String
            return (tags["SOPInstanceUID"] as? String ?? "", source, tags["SeriesDescription"] as? String ?? "")
        }
    }
}

/// `ldct node` running in the background; killed by PID.
final class NodeProcess {
    let process = Process()
    let log: String

    init(_ arguments: [String], log: String) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: try ldctBinary())
        process.arguments = ["node"] + arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        for _ in 0..<100 {
            if text.contains("forwarding to") || !process.isRunning { break }
            usleep(30_000)
        }
    }

    var text: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

func waitFor(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(100_000)
    }
    return try condition()
}

/// Every source instance has exactly one restored instance referencing it.
func exactlyOneRestoredPerSource(_ orthanc: Orthanc, sources: Set<String>) throws -> Bool {
    let all = try orthanc.instances()
    let restored = all.filter { $0.source != nil }
    let counts = Dictionary(grouping: restored, by: { $0.source ?? "" }).mapValues(\.count)
    return Set(counts.keys) == sources && counts.values.allSatisfy { $0 == 1 }
}

@Suite("DICOM node against a real Orthanc (end to end)", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/Orthanc"), "Orthanc is installed by scripts/setup"))
struct NodeCLITests {
    /// A phantom series uploaded to Orthanc: (Orthanc series ID, source SOP Instance UIDs).
    func seed(_ orthanc: Orthanc, slices: Int, size: Int, seed: Int, in work: String) throws -> (String, Set<String>) {
        let dir = work + "/phantom-\(seed)"
        #expect(try ldct("phantom", "-o", dir, "--slices", "\(slices)", "--size", "\(size)", "--seed", "\(seed)").code == 0)
        let ids = try orthanc.upload(dir)
        let sops = Set(StudyScanner.scan([dir]).series.flatMap { $0.slices.map(\.sopInstanceUID) })
        return (try #require(ids.first), sops)
    }

    @Test("Orthanc → node → Orthanc: one restored instance per source, valid attributes; C-ECHO; --status")
    func roundTrip() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let orthanc = try Orthanc(http: 24_811, dicom: 24_812, modalities: ["ldct": ("LDCT", 24_813)])
        defer { orthanc.stop() }
        let node = try NodeProcess(["--ae", "LDCT", "--port", "24813", "--forward", "ORTHANC@127.0.0.1:24812", "--model", smallModel,
                                    "--spool", work + "/spool", "--series-timeout", "1", "--retry-base", "1"], log: work + "/node.log")
        defer { node.kill9() }
        #expect(try ldctEcho(port: 24_813))
        let (series, sources) = try seed(orthanc, slices: 4, size: 64, seed: 3, in: work)
        #expect(try orthanc.store([series], to: "ldct"))
        #expect(try waitFor(60) { try exactlyOneRestoredPerSource(orthanc, sources: sources) }, "\(node.text)")
        let restored = try orthanc.instances().filter { $0.source != nil }
        #expect(restored.allSatisfy { $0.description.hasSuffix("[RED-CNN]") })
        let id = try #require((try orthanc.get("/instances") as? [String])?.first { id in
            ((try? orthanc.get("/instances/\(id)/tags?simplify") as? [String: Any])?["SourceImageSequence"]) != nil
        })
        let tags = try #require(try orthanc.get("/instances/\(id)/tags?simplify") as? [String: Any])
        #expect(tags["Modality"] as? String == "CT" && (tags["ImageType"] as? String)?.hasPrefix("DERIVED") == true)
        #expect(waitFor(10) { node.text.contains("sent 4 instance(s) to ORTHANC@127.0.0.1:24812") })
        let status = try ldct("node", "--status", "--spool", work + "/spool")
        #expect(status.code == 0 && status.out.contains("sent") && status.out.contains("4/4 done"), "\(status.out)")
        #expect(!node.text.contains("PN") && !node.text.lowercased().contains("patient"), "no patient data in the log")
    }

    @Test("SIGKILL mid-series, restart on the same spool: every instance delivered exactly once")
    func killAndRestart() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let model = try mediumModel(in: work)
        let orthanc = try Orthanc(http: 24_821, dicom: 24_822, modalities: ["ldct": ("LDCT", 24_823)])
        defer { orthanc.stop() }
        let args = ["--ae", "LDCT", "--port", "24823", "--forward", "ORTHANC@127.0.0.1:24822", "--model", model,
                    "--spool", work + "/spool", "--series-timeout", "0.5", "--retry-base", "1"]
        let first = try NodeProcess(args, log: work + "/node1.log")
        let (series, sources) = try seed(orthanc, slices: 8, size: 128, seed: 5, in: work)
        #expect(try orthanc.store([series], to: "ldct"))
        // Kill while restoring (the width-48 model takes a while per 128² slice).
        _ = waitFor(30) { first.text.contains("restoring") }
        usleep(300_000)
        first.kill9()
        #expect(!first.text.contains("sent 8"), "the kill came before delivery:\n\(first.text)")
        let second = try NodeProcess(args, log: work + "/node2.log")
        defer { second.kill9() }
        #expect(try waitFor(90) { try exactlyOneRestoredPerSource(orthanc, sources: sources) }, "\(second.text)")
        #expect(waitFor(10) { second.text.contains("sent 8 instance(s)") })
        #expect(try orthanc.instances().count == 16, "8 sources + 8 restored, nothing doubled")
    }

    @Test("a destination that is down does not block another; it gets the series after a retry once it is up")
    func destinationDownThenUp() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let a = try Orthanc(http: 24_831, dicom: 24_832, modalities: ["ldct": ("LDCT", 24_833)])
        defer { a.stop() }
        let node = try NodeProcess(["--ae", "LDCT", "--port", "24833", "--forward", "ORTHANC@127.0.0.1:24832", "--forward", "ORTHANC@127.0.0.1:24835",
                                    "--model", smallModel, "--spool", work + "/spool", "--series-timeout", "0.5", "--retry-base", "1", "--retry-max", "2"],
                                   log: work + "/node.log")
        defer { node.kill9() }
        let (series, sources) = try seed(a, slices: 3, size: 64, seed: 7, in: work)
        #expect(try a.store([series], to: "ldct"))
        #expect(try waitFor(60) { try exactlyOneRestoredPerSource(a, sources: sources) }, "\(node.text)")
        #expect(waitFor(20) { node.text.contains("sending to ORTHANC@127.0.0.1:24835 failed (attempt 2") }, "\(node.text)")
        let b = try Orthanc(http: 24_834, dicom: 24_835, modalities: [:])
        defer { b.stop() }
        #expect(try waitFor(30) { (try b.instances()).filter { $0.source != nil }.count == 3 }, "\(node.text)")
        #expect(try exactlyOneRestoredPerSource(a, sources: sources), "the first destination got nothing twice")
    }

    @Test("several associations at once; a disallowed AE is refused; non-CT refused or ignored as configured")
    func associationsAndSafety() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let orthanc = try Orthanc(http: 24_841, dicom: 24_842,
                                  modalities: ["ldct": ("LDCT", 24_843), "strict": ("LDCT", 24_844), "lenient": ("LDCT", 24_845)])
        defer { orthanc.stop() }
        let node = try NodeProcess(["--ae", "LDCT", "--port", "24843", "--forward", "ORTHANC@127.0.0.1:24842", "--model", smallModel,
                                    "--spool", work + "/spool", "--series-timeout", "1", "--retry-base", "1"], log: work + "/node.log")
        defer { node.kill9() }
        let (s1, src1) = try seed(orthanc, slices: 3, size: 64, seed: 11, in: work)
        let (s2, src2) = try seed(orthanc, slices: 3, size: 64, seed: 12, in: work)
        // Two C-STORE associations at the same time.
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: 2) { i in results.set(i, (try? orthanc.store([i == 0 ? s1 : s2], to: "ldct")) ?? false) }
        #expect(results.all == [true, true])
        #expect(try waitFor(60) { try exactlyOneRestoredPerSource(orthanc, sources: src1.union(src2)) }, "\(node.text)")

        // --allow: Orthanc's AE is not on the list → association refused, nothing spooled.
        let strict = try NodeProcess(["--ae", "LDCT", "--port", "24844", "--forward", "ORTHANC@127.0.0.1:24842", "--model", smallModel,
                                      "--spool", work + "/strict", "--allow", "SCANNER1,SCANNER2"], log: work + "/strict.log")
        defer { strict.kill9() }
        #expect(try !orthanc.store([s1], to: "strict"))
        #expect(waitFor(5) { strict.text.contains("refused association from calling AE 'ORTHANC'") }, "\(strict.text)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: work + "/strict/incoming"))?.isEmpty ?? true)

        // A non-CT instance (MR): refused by default (status 0122), accepted and dropped with --non-ct ignore.
        let mr = work + "/mr.dcm"
        let ct = try #require(StudyScanner.scan([work + "/phantom-11"]).series.first?.slices.first?.file)
        try FileManager.default.copyItem(atPath: ct, toPath: mr)
        // dcmodify updates the meta header from the dataset.
        #expect(try run("/usr/bin/dcmodify", "-nb", "-m", "(0008,0016)=1.2.840.10008.5.1.4.1.1.4", "-m", "(0008,0060)=MR",
                        "-m", "(0008,0018)=1.2.826.0.1.3680043.2.1125.9.1", mr) == 0)
        let lenient = try NodeProcess(["--ae", "LDCT", "--port", "24845", "--forward", "ORTHANC@127.0.0.1:24842", "--model", smallModel,
                                       "--spool", work + "/lenient", "--non-ct", "ignore"], log: work + "/lenient.log")
        defer { lenient.kill9() }
        let upload = try orthanc.curl(["-X", "POST", "http://127.0.0.1:24841/instances", "--data-binary", "@" + mr])
        let mrID = try #require((try JSONSerialization.jsonObject(with: upload.body) as? [String: Any])?["ID"] as? String)
        #expect(try !orthanc.store([mrID], to: "ldct"), "refused by default")
        #expect(waitFor(5) { node.text.contains("refused a non-CT instance") })
        #expect(try orthanc.store([mrID], to: "lenient"), "accepted when configured to ignore")
        #expect(waitFor(5) { lenient.text.contains("accepted and ignored a non-CT instance") })
        #expect((try? FileManager.default.contentsOfDirectory(atPath: work + "/lenient/incoming"))?.isEmpty ?? true)
    }

    @Test("configured from a YAML file; a full spool refuses new instances with status A700")
    func yamlAndSpoolLimit() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let orthanc = try Orthanc(http: 24_851, dicom: 24_852, modalities: ["full": ("LDCT", 24_853)])
        defer { orthanc.stop() }
        // 2 MiB already in the spool, limit 1 MiB.
        try FileManager.default.createDirectory(atPath: work + "/spool/incoming/1.2.3", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: work + "/spool/incoming/1.2.3/junk.bin", contents: Data(count: 2 << 20))
        try """
            node:
              ae: LDCT
              port: 24853
              forward: [ORTHANC@127.0.0.1:24852]
              model: \(smallModel)
              spool: \(work)/spool
              series_timeout: 1
              spool_limit_mib: 1
            """.write(toFile: work + "/node.yaml", atomically: true, encoding: .utf8)
        let node = try NodeProcess(["--config", work + "/node.yaml"], log: work + "/node.log")
        defer { node.kill9() }
        #expect(node.text.contains("forwarding to ORTHANC@127.0.0.1:24852"), "\(node.text)")
        let (series, _) = try seed(orthanc, slices: 2, size: 64, seed: 13, in: work)
        #expect(try !orthanc.store([series], to: "full"))
        #expect(waitFor(5) { node.text.contains("spool is full") }, "\(node.text)")
        let bad = try ldct("node", "--ae", "LDCT", "--port", "24854", "--spool", work + "/s2", "--model", smallModel)
        #expect(bad.code == 64 && bad.err.contains("no destination"))
    }
}

final class LockedResults: @unchecked Sendable {
    private var values = [Bool](repeating: false, count: 2)
    private let lock = NSLock()
    func set(_ i: Int, _ v: Bool) { lock.lock(); values[i] = v; lock.unlock() }
    var all: [Bool] { lock.lock(); defer { lock.unlock() }; return values }
}

/// C-ECHO through DCMTK's echoscu.
func ldctEcho(port: Int) throws -> Bool {
    try run("/usr/bin/echoscu", "-aec", "LDCT", "127.0.0.1", "\(port)") == 0
}

@discardableResult
func run(_ tool: String, _ arguments: String...) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
}
