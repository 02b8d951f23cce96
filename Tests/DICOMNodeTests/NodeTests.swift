import ConvNet
import DICOMIO
import DICOMNode
import Denoising
import Foundation
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let smallModel = root + "/scripts/reference/redcnn_state_dict.safetensors"

func temporary() -> String {
    let path = NSTemporaryDirectory() + "ldct-node-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("DICOM node: configuration, spool, worker")
struct NodeTests {
    @Test("destinations parse as AE@HOST:PORT; bad ones are typed errors")
    func destinations() throws {
        let d = try Destination(parsing: "PACS@pacs.local:104")
        #expect(d.ae == "PACS" && d.host == "pacs.local" && d.port == 104)
        for bad in ["PACS", "PACS@host", "@host:104", "PACS@:104", "PACS@host:0", "PACS@host:99999", "AVERYLONGAETITLE17@h:1"] {
            #expect(throws: NodeError.self) { try Destination(parsing: bad) }
        }
    }

    @Test("YAML configuration with a node: section; validation")
    func yaml() throws {
        let dir = temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "node:\n  ae: NODE1\n  port: 4000\n  forward: [A@h:1, B@h:2]\n  allow: [X]\n  series_timeout: 5\n  non_ct: ignore\n"
            .write(toFile: dir + "/n.yaml", atomically: true, encoding: .utf8)
        let c = try NodeConfig.load(yaml: dir + "/n.yaml")
        #expect(c.ae == "NODE1" && c.port == 4000 && c.forward.count == 2 && c.allow == ["X"] && c.seriesTimeout == 5 && c.nonCT == "ignore")
        try c.validate()
        var bad = c
        bad.nonCT = "maybe"
        #expect(throws: NodeError.self) { try bad.validate() }
        bad = c
        bad.forward = []
        #expect(throws: NodeError.self) { try bad.validate() }
        try "node:\n  forward: [nonsense]\n".write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        #expect(throws: NodeError.self) { try NodeConfig.load(yaml: dir + "/bad.yaml") }
        // Restore strength: a number or auto; auto needs a model with a tuned curve (the test model has none).
        try "node:\n  forward: [A@h:1]\n  strength: 0.6\n".write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        var strong = try NodeConfig.load(yaml: dir + "/s.yaml")
        #expect(strong.strength == "0.6" && !strong.sendPartial)
        try "node:\n  forward: [A@h:1]\n  send_partial: true\n".write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        #expect(try NodeConfig.load(yaml: dir + "/p.yaml").sendPartial)
        #expect(try NodeConfig.load(yaml: dir + "/p.yaml").conv == .auto)
        try "node:\n  forward: [A@h:1]\n  conv: im2col\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        #expect(try NodeConfig.load(yaml: dir + "/c.yaml").conv == .im2col)
        // Self-ensemble: 1 unless set; 1, 2, 4 or 8 views; the node restores with it.
        #expect(try NodeConfig.load(yaml: dir + "/c.yaml").ensemble == 1)
        try "node:\n  forward: [A@h:1]\n  ensemble: 4\n".write(toFile: dir + "/e.yaml", atomically: true, encoding: .utf8)
        var viewed = try NodeConfig.load(yaml: dir + "/e.yaml")
        #expect(viewed.ensemble == 4)
        viewed.spool = dir + "/spool-e"
        viewed.model = smallModel
        #expect(try Node(config: viewed).ensemble.count == 4)
        try "node:\n  forward: [A@h:1]\n  ensemble: 3\n".write(toFile: dir + "/e3.yaml", atomically: true, encoding: .utf8)
        #expect(throws: NodeError.self) { try NodeConfig.load(yaml: dir + "/e3.yaml") }
        viewed.ensemble = 6
        #expect(throws: NodeError.self) { try viewed.validate() }
        // A model with a curve tuned on one view: the node notes an ensemble that differs, as restore does.
        viewed.ensemble = 4
        viewed.model = smallModel
        #expect(try Node(config: viewed).notes.isEmpty, "no curve, nothing to note")
        let (plain, _) = try ModelFile.load(smallModel)
        try ModelFile.save(plain, to: dir + "/curved.safetensors", metadata: [StrengthCurve.metadataKey: "10:0.8,40:1"])
        viewed.model = dir + "/curved.safetensors"
        #expect(try Node(config: viewed).notes == ["the strength curve was tuned on 1 view(s); this restore averages 4"])
        try ModelFile.save(plain, to: dir + "/curved4.safetensors",
                           metadata: [StrengthCurve.metadataKey: "10:0.8,40:1", RestoreStrength.tunedViewsKey: "4"])
        viewed.model = dir + "/curved4.safetensors"
        #expect(try Node(config: viewed).notes.isEmpty)
        viewed.strength = "0.7"
        viewed.model = dir + "/curved.safetensors"
        #expect(try Node(config: viewed).notes.isEmpty, "a fixed strength reads no curve")
        strong.spool = dir + "/spool-s"
        strong.model = smallModel
        #expect(throws: Never.self) { try Node(config: strong) }
        strong.strength = "auto"
        #expect(throws: NodeError.self) { try Node(config: strong) }
    }

    @Test("worker: waits for the series timeout, restores, retries a refused destination with doubling backoff")
    func worker() throws {
        let dir = temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = NodeConfig()
        config.spool = dir + "/spool"
        config.model = smallModel
        config.forward = [Destination(ae: "NOBODY", host: "127.0.0.1", port: 9)]   // discard port: nothing listens
        config.seriesTimeout = 60
        config.retryBase = 10
        config.retryMax = 25
        let node = try Node(config: config)
        // "Receive" a series the way the SCP does: files under incoming/<series>/.
        let source = root + "/Tests/Fixtures/dicom/valid/u12"
        let series = try #require(StudyScanner.scan([source]).series.first)
        let folder = config.spool + "/incoming/" + series.seriesInstanceUID
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for s in series.slices { try FileManager.default.copyItem(atPath: s.file, toPath: folder + "/" + s.sopInstanceUID + ".dcm") }
        let t0 = Date()
        node.tick(now: t0)
        var record = try #require(node.spool.record(series.seriesInstanceUID))
        #expect(record.state == .receiving && record.received == series.slices.count, "not complete before the timeout")
        node.tick(now: t0.addingTimeInterval(61))
        record = try #require(node.spool.record(series.seriesInstanceUID))
        let delivery = try #require(record.deliveries.values.first)
        #expect(record.restoredFiles.count == series.slices.count)
        #expect(delivery.attempts == 1 && !delivery.done && delivery.lastError != nil)
        let first = try #require(delivery.nextAttempt)
        #expect(abs(first.timeIntervalSince(t0.addingTimeInterval(61)) - 10) < 1, "first retry after retry_base (state times are stored to the second)")
        // Not due yet: nothing happens.
        node.tick(now: t0.addingTimeInterval(65))
        #expect(node.spool.record(series.seriesInstanceUID)?.deliveries.values.first?.attempts == 1)
        node.tick(now: first.addingTimeInterval(1))
        let second = try #require(node.spool.record(series.seriesInstanceUID)?.deliveries.values.first)
        #expect(second.attempts == 2)
        #expect(abs(try #require(second.nextAttempt).timeIntervalSince(first.addingTimeInterval(1)) - 20) < 1, "doubled")
        let status = try Node.status(spool: config.spool)
        #expect(status.contains("restored") && status.contains("2 failed"))
    }

    @Test("one corrupt instance in a series: nothing is sent by default; with send_partial the restored rest goes out, the failure recorded")
    func partialSeries() throws {
        let dir = temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = root + "/Tests/Fixtures/dicom/valid/u12"
        let series = try #require(StudyScanner.scan([source]).series.first)
        for sendPartial in [false, true] {
            var config = NodeConfig()
            config.spool = dir + "/spool-\(sendPartial)"
            config.model = smallModel
            config.forward = [Destination(ae: "NOBODY", host: "127.0.0.1", port: 9)]   // discard port: nothing listens
            config.seriesTimeout = 0
            config.sendPartial = sendPartial
            let node = try Node(config: config)
            let folder = config.spool + "/incoming/" + series.seriesInstanceUID
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (i, slice) in series.slices.enumerated() {
                var data = try Data(contentsOf: URL(fileURLWithPath: slice.file))
                if i == 1 { data = data.prefix(data.count - 3000) }   // pixel data cut short
                try data.write(to: URL(fileURLWithPath: folder + "/\(i).dcm"))
            }
            node.tick(now: Date().addingTimeInterval(5))
            let record = try #require(node.spool.record(series.seriesInstanceUID))
            if sendPartial {
                #expect(record.state == .restored, "\(record)")
                #expect(record.restoredFiles.count == series.slices.count - 1)
                #expect(record.error?.hasPrefix("partial: 1 of \(series.slices.count) instance(s) not restored") == true, "\(record.error ?? "")")
                #expect(record.deliveries["NOBODY@127.0.0.1:9"]?.attempts == 1, "the restored part was offered to the destination")
                #expect(try Node.status(spool: config.spool).contains("error: partial"))
            } else {
                #expect(record.state == .failed && record.deliveries.isEmpty, "\(record)")
            }
        }
    }

    @Test("malformed received files: the series is marked failed with the reason, nothing is sent, the worker goes on")
    func malformed() throws {
        let dir = temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = NodeConfig()
        config.spool = dir + "/spool"
        config.model = smallModel
        config.forward = [Destination(ae: "NOBODY", host: "127.0.0.1", port: 9)]
        config.seriesTimeout = 0
        let node = try Node(config: config)
        let folder = config.spool + "/incoming/1.2.826.0.1.3680043.2.1125.77"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in ["truncated-pixels", "short-pixel-data", "truncated-header"] {
            try FileManager.default.copyItem(atPath: root + "/Tests/Fixtures/dicom/invalid/\(name).dcm", toPath: folder + "/\(name).dcm")
        }
        node.tick(now: Date().addingTimeInterval(5))
        let record = try #require(node.spool.record("1.2.826.0.1.3680043.2.1125.77"))
        #expect(record.state == .failed && record.error != nil && record.deliveries.isEmpty, "\(record)")
        // A later tick neither crashes nor retries the restore of unchanged files.
        node.tick(now: Date().addingTimeInterval(10))
        #expect(node.spool.record("1.2.826.0.1.3680043.2.1125.77")?.state == .failed)
        #expect(try Node.status(spool: config.spool).contains("error:"))
    }
}
