import ConvNet
import Denoising
import Foundation
import Testing

@Suite("ldct merge (end to end)", .serialized)
struct MergeCLITests {
    @Test("merge writes the interpolated weights with provenance and without the curve; restore runs with it; inputs untouched")
    func mergeThenRestore() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = REDCNN(config: REDCNNConfig(width: 4), seed: 1), tuned = REDCNN(config: REDCNNConfig(width: 4), seed: 2)
        try ModelFile.save(base, to: dir + "/base.safetensors")
        try ModelFile.save(tuned, to: dir + "/tuned.safetensors", metadata: ["strength_curve": "10:0.8", "training": "real pairs"])
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/tuned.safetensors"))
        let r = try ldct("merge", "--base", dir + "/base.safetensors", "--tuned", dir + "/tuned.safetensors", "--weight", "0.7",
                         "-o", dir + "/out/merged.safetensors")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("strength curves are not carried over"), "\(r.err)")
        let (merged, meta) = try ModelFile.load(dir + "/out/merged.safetensors")
        let expected = try ModelMerge.interpolate(base: base, tuned: tuned, weight: 0.7)
        #expect(merged.parameters == expected.parameters)
        #expect(meta["strength_curve"] == nil && meta["training"] == "real pairs")
        #expect(meta["merged_from"]?.hasPrefix("0.3 × base.safetensors") == true, "\(meta)")
        #expect(r.out.contains(ModelFile.fingerprint(merged)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/tuned.safetensors")) == before)

        #expect(try ldct("phantom", "-o", dir + "/normal", "--slices", "1", "--seed", "4", "--size", "64").code == 0)
        let restored = try ldct("restore", dir + "/normal", "-o", dir + "/restored", "--model", dir + "/out/merged.safetensors")
        #expect(restored.code == 0, "\(restored.err)")
    }

    @Test("merge refuses models of different widths (exit 64, both files named), a weight outside 0…1 and writing over an input")
    func refusals() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelFile.save(REDCNN(config: REDCNNConfig(width: 4), seed: 1), to: dir + "/a.safetensors")
        try ModelFile.save(REDCNN(config: REDCNNConfig(width: 6), seed: 1), to: dir + "/b.safetensors")
        let wide = try ldct("merge", "--base", dir + "/a.safetensors", "--tuned", dir + "/b.safetensors", "--weight", "0.5", "-o", dir + "/m.safetensors")
        #expect(wide.code == 64, "\(wide.code) \(wide.err)")
        #expect(wide.err.contains("a.safetensors") && wide.err.contains("b.safetensors") && wide.err.contains("width 4 against 6"), "\(wide.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/m.safetensors"))
        let range = try ldct("merge", "--base", dir + "/a.safetensors", "--tuned", dir + "/a.safetensors", "--weight", "1.2", "-o", dir + "/m.safetensors")
        #expect(range.code == 64 && range.err.contains("--weight must be within 0…1"), "\(range.err)")
        let over = try ldct("merge", "--base", dir + "/a.safetensors", "--tuned", dir + "/b.safetensors", "--weight", "0.5", "-o", dir + "/b.safetensors")
        #expect(over.code == 64 && over.err.contains("inputs are never written"), "\(over.err)")
        let missing = try ldct("merge", "--tuned", dir + "/none.safetensors", "--base", dir + "/a.safetensors", "--weight", "0.5", "-o", dir + "/m.safetensors")
        #expect(missing.code == 2 && missing.err.contains("none.safetensors"), "\(missing.err)")
    }
}
