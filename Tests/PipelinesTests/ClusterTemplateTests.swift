import ArchivePlan
import Foundation
import Testing
import Yams

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite("cluster templates (Pipelines/)")
struct ClusterTemplateTests {
    @Test("the Kubernetes Indexed Job parses; its --shard auto/N matches completions; index i is shard i")
    func kubernetesJob() throws {
        let text = try String(contentsOfFile: root + "/Pipelines/cluster/k8s-restore-job.yaml", encoding: .utf8)
        let doc = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(doc["apiVersion"] as? String == "batch/v1" && doc["kind"] as? String == "Job")
        let spec = try #require(doc["spec"] as? [String: Any])
        #expect(spec["completionMode"] as? String == "Indexed")
        let completions = try #require(spec["completions"] as? Int)
        let parallelism = try #require(spec["parallelism"] as? Int)
        #expect(parallelism >= 1 && parallelism <= completions)
        let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
        #expect(pod["restartPolicy"] as? String == "Never", "Indexed Jobs need Never or OnFailure")
        let container = try #require((pod["containers"] as? [[String: Any]])?.first)
        let command = try #require(container["command"] as? [String])
        #expect(Array(command.prefix(2)) == ["ldct", "restore"] && command.contains("--plan"))
        let shardArg = try #require(command.firstIndex(of: "--shard").map { command[$0 + 1] })
        #expect(shardArg == "auto/\(completions)", "the shard count must equal completions")
        for index in 0..<completions {
            let shard = try ShardSpec.parse(shardArg, environment: ["JOB_COMPLETION_INDEX": "\(index)"])
            #expect(shard.index == index && shard.count == completions)
        }
        #expect(throws: PlanError.self) { try ShardSpec.parse(shardArg, environment: ["JOB_COMPLETION_INDEX": "\(completions)"]) }
        // Archive read-only, output shared; every mount has a volume.
        let mounts = try #require(container["volumeMounts"] as? [[String: Any]])
        let volumes = try #require(pod["volumes"] as? [[String: Any]])
        let volumeNames = Set(volumes.compactMap { $0["name"] as? String })
        #expect(mounts.allSatisfy { volumeNames.contains($0["name"] as? String ?? "") })
        #expect(mounts.first { $0["mountPath"] as? String == "/archive" }?["readOnly"] as? Bool == true)
        let output = try #require(command.firstIndex(of: "-o").map { command[$0 + 1] })
        #expect(mounts.contains { output.hasPrefix(($0["mountPath"] as? String ?? "?") + "/") })
    }

    @Test("the Slurm batch script asks for an array counted from 0 and runs ldct with --shard auto")
    func slurmScript() throws {
        let text = try String(contentsOfFile: root + "/Pipelines/cluster/slurm-restore.sbatch", encoding: .utf8)
        let array = try #require(text.split(separator: "\n").first { $0.hasPrefix("#SBATCH --array=") })
        #expect(array.hasPrefix("#SBATCH --array=0-"))
        #expect(text.contains("--shard auto") && text.contains("--plan \"$PLAN\""))
        // The array's variables map to shards 0 … N−1.
        for id in 0..<16 {
            let s = try ShardSpec.parse("auto", environment: ["SLURM_ARRAY_TASK_ID": "\(id)", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "16"])
            #expect(s.index == id && s.count == 16)
        }
    }
}
