import ArchivePlan
import Denoising
import Foundation
import Testing

/// A real single-node Slurm for one test: started by scripts/slurm-local under a temporary folder
/// (own munge key and socket, unusual ports), stopped by PID at the end.
struct LocalSlurm {
    let dir: String
    let environment: [String: String]

    init(dir: String) throws {
        self.dir = dir
        let port = 20000 + Int(getpid() % 4000) * 2 + Int.random(in: 0..<2) * 8000
        let r = try tool(packageRoot + "/scripts/slurm-local", ["start", dir, "\(port)"])
        guard r.code == 0 else { throw SlurmError.notStarted(r.err + r.out) }
        environment = ["SLURM_CONF": dir + "/slurm.conf"]
    }

    func stop() { _ = try? tool(packageRoot + "/scripts/slurm-local", ["stop", dir]) }

    /// Submits Pipelines/cluster/slurm-restore.sbatch as an array of `tasks` (one CPU each).
    func submit(tasks: Int, plan: String, out: String, model: String, wait: Bool, log: String) throws -> (code: Int32, out: String, err: String) {
        var args = ["--array=0-\(tasks - 1)", "--cpus-per-task=1", "--mem=512M", "--output=\(log)/slurm-%A_%a.log", "--chdir=\(log)"]
        args += wait ? ["--wait"] : ["--parsable"]
        args.append(packageRoot + "/Pipelines/cluster/slurm-restore.sbatch")
        return try tool("sbatch", args, environment: environment.merging(["PLAN": plan, "OUT": out, "MODEL": model,
                                                                          "LDCT": try ldctBinary()]) { $1 })
    }

    func queueEmpty() throws -> Bool { try tool("squeue", ["-h"], environment: environment).out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
}

enum SlurmError: Error { case notStarted(String) }

@Suite("sharded restore under a real single-node Slurm (job array of Pipelines/cluster/slurm-restore.sbatch)", .serialized)
struct SlurmCLITests {
    @Test("array job: every series restored exactly once; cancelled mid-series and re-submitted: completes, no duplicates; status reports it")
    func arrayJob() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let slurm = try LocalSlurm(dir: work + "/slurm")
        defer { slurm.stop() }
        let model = try mediumModel(in: work)
        try makeArchive(work + "/archive", slices: [8, 6, 4, 3, 2], size: 128)
        #expect(try ldct("plan", work + "/archive", "-o", work + "/plan.json").code == 0)
        try FileManager.default.createDirectory(atPath: work + "/logs", withIntermediateDirectories: true)
        // Reference: one process.
        #expect(try ldct("restore", work + "/archive", "-o", work + "/single", "--model", model).code == 0)
        let reference = try contents(work + "/single")
        #expect(reference.count == 23)

        // 1. A 3-task array, waited for.
        let run = try slurm.submit(tasks: 3, plan: work + "/plan.json", out: work + "/out", model: model, wait: true, log: work + "/logs")
        #expect(run.code == 0, "\(run.out)\(run.err)")
        #expect(try contents(work + "/out") == reference)
        #expect(seriesFolders(work + "/out").count == 5)
        let shards = Set(stateEntries(work + "/out").compactMap(\.shard))
        #expect(shards == ["0/3", "1/3", "2/3"], "each task took its shard from SLURM_ARRAY_TASK_ID")
        #expect(try ldct("status", work + "/out", "--plan", work + "/plan.json").code == 0)

        // 2. Cancelled mid-series, then the same array submitted again.
        let submitted = try slurm.submit(tasks: 2, plan: work + "/plan.json", out: work + "/out2", model: model, wait: false, log: work + "/logs")
        #expect(submitted.code == 0, "\(submitted.err)")
        let job = submitted.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !files(under: work + "/out2").contains(where: { $0.hasSuffix("IM0002.dcm") }) { usleep(10_000) }
        #expect(try tool("scancel", ["--signal=KILL", job], environment: slurm.environment).code == 0)
        while Date() < deadline, !(try slurm.queueEmpty()) { usleep(100_000) }
        let mid = try ldct("status", work + "/out2", "--plan", work + "/plan.json")
        #expect(mid.code == 1 && mid.err.contains("missing"), "the cancel came mid-work: \(mid.err)")
        let again = try slurm.submit(tasks: 2, plan: work + "/plan.json", out: work + "/out2", model: model, wait: true, log: work + "/logs")
        #expect(again.code == 0, "\(again.err)")
        let end = try ldct("status", work + "/out2", "--plan", work + "/plan.json", "--json")
        #expect(end.code == 0, "\(end.err)")
        #expect(end.err.contains("5 series done (23 slices), 0 failed, 0 missing of 5 planned"), "\(end.err)")
        #expect(try contents(work + "/out2") == reference, "no duplicates, nothing missing, same files")
        #expect(seriesFolders(work + "/out2").count == 5)
        #expect(!files(under: work + "/out2").contains { $0.hasSuffix(".tmp") })
    }
}
