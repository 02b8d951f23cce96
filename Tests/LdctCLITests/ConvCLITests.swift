import DICOMIO
import Foundation
import Testing

@Suite("ldct --conv (end to end)")
struct ConvCLITests {
    @Test("restore --conv im2col and --conv winograd write the same series (same UIDs, HU within one stored unit)")
    func restoreBothPaths() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = fixtures + "/valid/u12"
        for conv in ["im2col", "winograd"] {
            let r = try ldct("restore", input, "-o", dir + "/" + conv, "--model", smallModel, "--conv", conv)
            #expect(r.code == 0, "\(conv): \(r.err)")
        }
        let a = try contents(dir + "/im2col"), b = try contents(dir + "/winograd")
        #expect(!a.isEmpty && Set(a.keys) == Set(b.keys), "the path is not part of the output's identity")
        var worst: Float = 0
        for (uid, hu) in a { for (x, y) in zip(hu, b[uid] ?? []) { worst = max(worst, abs(x - y)) } }
        #expect(worst <= 1, "largest difference \(worst) HU")
    }

    @Test("a bad --conv is refused (exit 64); pipelines and the node's YAML take conv")
    func refusedAndPassedThrough() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = try ldct("restore", fixtures + "/valid/u12", "-o", dir + "/x", "--conv", "fft")
        #expect(bad.code == 64)
        #expect(bad.err.contains("fft"))
        let yaml = dir + "/p.yaml"
        try """
            name: c
            stages:
              - restore: {inputs: ['\(fixtures)/valid/u12'], output: '\(dir)/w', model: '\(smallModel)', conv: winograd}
            """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let p = try ldct("run", yaml)
        #expect(p.code == 0, "\(p.err)")
        #expect(p.err.contains("--conv winograd"))
        let node = dir + "/node.yaml"
        try "node:\n  ae: N\n  port: 11112\n  forward: ['P@127.0.0.1:11113']\n  spool: '\(dir)/spool'\n  conv: fast\n"
            .write(toFile: node, atomically: true, encoding: .utf8)
        let n = try ldct("node", "--config", node)
        #expect(n.code == 64, "\(n.err)")
        #expect(n.err.contains("conv"))
    }
}

@Suite("bundled pipelines (dry run)")
struct BundledPipelineTests {
    @Test("every pipeline in Pipelines/ validates: stages, keys and values (ldct run --dry-run)")
    func allValidate() throws {
        let folder = packageRoot + "/Pipelines"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.contains("train-real.yaml") && names.contains("demo.yaml"))
        for name in names {
            let r = try ldct("run", folder + "/" + name, "--dry-run")
            #expect(r.code == 0, "\(name): \(r.err)")
        }
    }
}
