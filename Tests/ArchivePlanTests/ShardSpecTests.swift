import ArchivePlan
import Foundation
import Testing

@Suite struct ShardSpecTests {
    @Test func explicitShards() throws {
        let s = try ShardSpec.parse("2/4", environment: [:])
        #expect(s.index == 2 && s.count == 4 && s.source == "--shard")
        #expect(throws: PlanError.shardOutOfRange(index: 4, count: 4, source: "--shard")) { try ShardSpec.parse("4/4", environment: [:]) }
        #expect(throws: PlanError.shardOutOfRange(index: -1, count: 4, source: "--shard")) { try ShardSpec.parse("-1/4", environment: [:]) }
        for bad in ["3", "a/4", "1/b", "1/0", "1/2/3", "/4"] {
            #expect(throws: PlanError.self) { try ShardSpec.parse(bad, environment: [:]) }
        }
    }

    @Test func slurmArray() throws {
        // --array=0-3: ID 2 of COUNT 4.
        var s = try ShardSpec.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(s == (try ShardSpec(index: 2, count: 4, source: "SLURM_ARRAY_TASK_ID")))
        // --array=1-4 (no COUNT): K = ID − MIN, N = MAX − MIN + 1.
        s = try ShardSpec.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"])
        #expect(s.index == 3 && s.count == 4)
        #expect(throws: PlanError.self) {
            try ShardSpec.parse("auto/3", environment: ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"])
        }
        #expect(throws: PlanError.self) { try ShardSpec.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"]) }
        #expect(throws: PlanError.self) { try ShardSpec.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "1"]) }
    }

    @Test func kubernetesIndexedJob() throws {
        let s = try ShardSpec.parse("auto/5", environment: ["JOB_COMPLETION_INDEX": "4"])
        #expect(s == (try ShardSpec(index: 4, count: 5, source: "JOB_COMPLETION_INDEX")))
        #expect(throws: PlanError.shardOutOfRange(index: 5, count: 5, source: "JOB_COMPLETION_INDEX")) {
            try ShardSpec.parse("auto/5", environment: ["JOB_COMPLETION_INDEX": "5"])
        }
        // The index alone does not say how many shards there are.
        #expect(throws: PlanError.self) { try ShardSpec.parse("auto", environment: ["JOB_COMPLETION_INDEX": "0"]) }
        #expect(throws: PlanError.self) { try ShardSpec.parse("auto", environment: [:]) }
    }
}

@Suite struct PlanAssignmentTests {
    func plan(_ sizes: [Int]) -> RestorePlan {
        RestorePlan(inputs: ["/archive"], series: sizes.enumerated().map { i, n in
            RestorePlan.Series(seriesInstanceUID: "1.2.\(i)", studyInstanceUID: "1.2", slices: n,
                               files: (0..<n).map { "/archive/s\(i)/\($0).dcm" })
        })
    }

    @Test func everySeriesExactlyOnceAndBalanced() throws {
        let p = plan([300, 40, 40, 120, 7, 300, 64, 1, 250, 90, 90, 12])
        for n in 1...7 {
            let owner = p.assignment(shards: n)
            #expect(owner.allSatisfy { (0..<n).contains($0) })
            var seen: [String] = []
            for k in 0..<n { seen += try p.series(of: ShardSpec(index: k, count: n)).map(\.seriesInstanceUID) }
            #expect(seen.sorted() == p.series.map(\.seriesInstanceUID).sorted(), "each series in exactly one shard")
            // Greedy longest-first: no shard exceeds the average by more than the longest series.
            let loads = (0..<n).map { k in p.series.indices.filter { owner[$0] == k }.reduce(0) { $0 + p.series[$1].slices } }
            #expect(loads.max()! - loads.min()! <= 300)
            #expect(owner == p.assignment(shards: n), "a pure function of the plan")
        }
        // Two shards: 300 | 300, then the rest fills the lighter one.
        let owner = p.assignment(shards: 2)
        #expect(owner[0] != owner[5])
    }

    @Test func fingerprintNamesTheArchive() {
        let a = plan([3, 2]), b = plan([3, 2])
        #expect(a.fingerprint == b.fingerprint)
        var c = plan([3, 2])
        c = RestorePlan(inputs: ["/other"], series: c.series)
        #expect(c.fingerprint != a.fingerprint)
    }

    @Test func otherArchiveRefused() throws {
        let p = plan([3])
        try p.check(inputs: ["/archive/"], planPath: "p.json")
        try p.check(inputs: [], planPath: "p.json")
        #expect(throws: PlanError.self) { try p.check(inputs: ["/elsewhere"], planPath: "p.json") }
    }

    @Test func missingAndForeignPlans() throws {
        let dir = NSTemporaryDirectory() + "plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: PlanError.planNotFound(path: dir + "/none.json")) { try RestorePlan.load(dir + "/none.json") }
        try Data("{\"series\": []}".utf8).write(to: URL(fileURLWithPath: dir + "/other.json"))
        #expect(throws: PlanError.self) { try RestorePlan.load(dir + "/other.json") }
        let p = plan([2, 5])
        try p.save(to: dir + "/plan.json")
        #expect(try RestorePlan.load(dir + "/plan.json") == p)
    }
}
