import ArchivePlan
import DICOMIO
import Denoising
import Foundation
import Testing

/// A synthetic archive: phantom series of different lengths (one study each) and a junk file.
func makeArchive(_ root: String, slices: [Int], size: Int = 96) throws {
    for (i, n) in slices.enumerated() {
        let r = try ldct("phantom", "-o", root + "/study\(i)/ct", "--slices", "\(n)", "--size", "\(size)", "--seed", "\(40 + i)")
        #expect(r.code == 0, "\(r.err)")
    }
    try "not DICOM".write(toFile: root + "/README.txt", atomically: true, encoding: .utf8)
}

/// Restored series folders under OUT (not the state folder).
func seriesFolders(_ out: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).filter {
        var dir: ObjCBool = false
        return $0 != RestoreStateStore.folderName && FileManager.default.fileExists(atPath: out + "/" + $0, isDirectory: &dir) && dir.boolValue
    }.sorted()
}

func stateEntries(_ out: String) -> [RestoreManifest.Entry] { RestoreStateStore(root: out).all().entries }

@Suite("sharded restore: ldct plan, restore --plan --shard, ldct status (end to end)", .serialized)
struct ShardCLITests {
    @Test("three shards restore every series exactly once, equal to one process; status says done; a re-run writes nothing")
    func threeShards() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try makeArchive(work + "/archive", slices: [4, 3, 2, 2, 1])
        let plan = try ldct("plan", work + "/archive", "-o", work + "/plan.json", "--shards", "3")
        #expect(plan.code == 0, "\(plan.err)")
        #expect(plan.err.contains("5 CT series, 12 slices, 1 left out"), "\(plan.err)")
        let loaded = try RestorePlan.load(work + "/plan.json")
        #expect(!String(decoding: try Data(contentsOf: URL(fileURLWithPath: work + "/plan.json")), as: UTF8.self).contains("PHANTOM"),
                "no patient data in the plan")
        for k in 0..<3 {
            let r = try ldct("restore", "--plan", work + "/plan.json", "-o", work + "/out", "--shard", "\(k)/3", "--model", smallModel)
            #expect(r.code == 0, "\(r.err)")
            #expect(r.err.contains("shard \(k)/3 (--shard)"))
        }
        #expect(seriesFolders(work + "/out").count == 5)
        #expect(!FileManager.default.fileExists(atPath: work + "/out/manifest.json"), "shards share no file")
        let entries = stateEntries(work + "/out")
        #expect(entries.count == 5 && entries.allSatisfy { $0.state == "complete" && $0.plan == loaded.fingerprint })
        let owner = loaded.assignment(shards: 3)
        for (i, s) in loaded.series.enumerated() {
            #expect(entries.first { $0.sourceSeriesUID == s.seriesInstanceUID }?.shard == "\(owner[i])/3")
        }
        // The same files (UIDs and pixels) as one unsharded process.
        #expect(try ldct("restore", work + "/archive", "-o", work + "/single", "--model", smallModel).code == 0, "the junk file is skipped")
        let a = try contents(work + "/out"), b = try contents(work + "/single")
        #expect(a.count == 12 && a == b)
        let status = try ldct("status", work + "/out", "--plan", work + "/plan.json", "--json")
        #expect(status.code == 0, "\(status.err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any])
        #expect(doc["done"] as? Int == 5 && doc["failed"] as? Int == 0 && doc["missing"] as? Int == 0)
        // Each shard again: everything done before, nothing written.
        let again = try ldct("restore", "--plan", work + "/plan.json", "-o", work + "/out", "--shard", "1/3", "--model", smallModel)
        #expect(again.code == 0 && again.err.contains("done before") && again.err.contains("0 slice(s) written"), "\(again.err)")
    }

    @Test("a shard killed mid-series: status shows it missing (exit 1); re-run finishes it; same files as an uninterrupted run")
    func killedShard() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let model = try mediumModel(in: work)
        try makeArchive(work + "/archive", slices: [8, 6, 3], size: 128)
        #expect(try ldct("plan", work + "/archive", "-o", work + "/plan.json").code == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ldctBinary())
        process.arguments = ["restore", "--plan", work + "/plan.json", "-o", work + "/out", "--model", model, "--shard", "0/2"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !files(under: work + "/out").contains(where: { $0.hasSuffix("IM0001.dcm") }) { usleep(5_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(try ldct("restore", "--plan", work + "/plan.json", "-o", work + "/out", "--model", model, "--shard", "1/2").code == 0)
        let mid = try ldct("status", work + "/out", "--plan", work + "/plan.json")
        #expect(mid.code == 1 && mid.err.contains("missing: series"), "\(mid.err)")
        let rerun = try ldct("restore", "--plan", work + "/plan.json", "-o", work + "/out", "--model", model, "--shard", "0/2")
        #expect(rerun.code == 0, "\(rerun.err)")
        let end = try ldct("status", work + "/out", "--plan", work + "/plan.json")
        #expect(end.code == 0 && end.err.contains("3 series done (17 slices), 0 failed, 0 missing"), "\(end.err)")
        #expect(try ldct("restore", work + "/archive", "-o", work + "/clean", "--model", model).code == 0)
        let a = try contents(work + "/out"), b = try contents(work + "/clean")
        #expect(a.count == 17 && a == b, "no duplicates, nothing missing")
        #expect(seriesFolders(work + "/out").count == 3)
        #expect(!files(under: work + "/out").contains { $0.hasSuffix(".tmp") })
    }

    @Test("the shard from Slurm array and Kubernetes Indexed Job variables")
    func schedulerVariables() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try makeArchive(work + "/archive", slices: [2, 1, 1])
        #expect(try ldct("plan", work + "/archive", "-o", work + "/plan.json").code == 0)
        let args = ["restore", "--plan", work + "/plan.json", "-o", work + "/out", "--model", smallModel]
        // sbatch --array=1-3: task 2 is shard 1 of 3.
        let slurm = try ldct(args + ["--shard", "auto"], environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3"])
        #expect(slurm.code == 0 && slurm.err.contains("shard 1/3 (SLURM_ARRAY_TASK_ID)"), "\(slurm.err)")
        let k8s = try ldct(args + ["--shard", "auto/3"], environment: ["JOB_COMPLETION_INDEX": "2"])
        #expect(k8s.code == 0 && k8s.err.contains("shard 2/3 (JOB_COMPLETION_INDEX)"), "\(k8s.err)")
        let k0 = try ldct(args + ["--shard", "auto/3"], environment: ["JOB_COMPLETION_INDEX": "0"])
        #expect(k0.code == 0)
        #expect(try ldct("status", work + "/out", "--plan", work + "/plan.json").code == 0)
        let noCount = try ldct(args + ["--shard", "auto"], environment: ["JOB_COMPLETION_INDEX": "0"])
        #expect(noCount.code == 64 && noCount.err.contains("give auto/N"), "\(noCount.err)")
    }

    @Test("bad shard, missing plan, another archive's plan, a changed archive: clear errors")
    func refusals() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try makeArchive(work + "/archive", slices: [2, 2])
        try makeArchive(work + "/other", slices: [1])
        #expect(try ldct("plan", work + "/archive", "-o", work + "/plan.json").code == 0)
        let args = ["-o", work + "/out", "--model", smallModel]
        let range = try ldct(["restore", "--plan", work + "/plan.json", "--shard", "2/2"] + args)
        #expect(range.code == 64 && range.err.contains("out of range: shards count from 0 to 1"), "\(range.err)")
        let bad = try ldct(["restore", "--plan", work + "/plan.json", "--shard", "two"] + args)
        #expect(bad.code == 64 && bad.err.contains("--shard two"), "\(bad.err)")
        let none = try ldct(["restore", "--plan", work + "/nope.json"] + args)
        #expect(none.code == 64 && none.err.contains("nope.json: plan not found"), "\(none.err)")
        let other = try ldct(["restore", work + "/other", "--plan", work + "/plan.json"] + args)
        #expect(other.code == 64 && other.err.contains("was made for"), "\(other.err)")
        try "{\"tool\": \"something else\"}".write(toFile: work + "/foreign.json", atomically: true, encoding: .utf8)
        let foreign = try ldct(["restore", "--plan", work + "/foreign.json"] + args)
        #expect(foreign.code == 64 && foreign.err.contains("not a LowDoseCT restore plan"), "\(foreign.err)")
        let unplanned = try ldct(["restore", work + "/archive", "--shard", "0/2"] + args)
        #expect(unplanned.code == 64 && unplanned.err.contains("--shard needs --plan"))
        #expect(try ldct("status", work + "/empty").code == 2)
        #expect(!FileManager.default.fileExists(atPath: work + "/out"), "nothing written by a refused run")
        // One series loses a file after planning: it fails with the evidence, the other is restored.
        let plan = try RestorePlan.load(work + "/plan.json")
        let victim = try #require(plan.series.first?.files.last)
        try FileManager.default.removeItem(atPath: victim)
        let changed = try ldct(["restore", "--plan", work + "/plan.json"] + args)
        #expect(changed.code == 1 && changed.err.contains("file missing since the plan was made"), "\(changed.err)")
        let status = try ldct("status", work + "/out", "--plan", work + "/plan.json")
        #expect(status.code == 1 && status.err.contains("failed: series") && status.err.contains("1 series done"), "\(status.err)")
        // Every file of the shard gone: the plan does not fit the archive at all.
        try FileManager.default.removeItem(atPath: work + "/archive")
        let gone = try ldct(["restore", "--plan", work + "/plan.json"] + args)
        #expect(gone.code == 64 && gone.err.contains("does not match the files"), "\(gone.err)")
    }
}
