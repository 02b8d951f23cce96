import DICOMIO
import Denoising
import Foundation
import Testing

@Suite("ldct restore --ensemble (end to end)", .serialized)
struct EnsembleCLITests {
    @Test("--ensemble 2: other pixels, its own series (description, UIDs, derivation, manifest); a re-run skips it, another count redoes it")
    func restoreWithViews() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = fixtures + "/valid/u12"
        let one = dir + "/one", out = dir + "/two"
        #expect(try ldct("restore", input, "-o", one, "--model", smallModel).code == 0)
        let r = try ldct("restore", input, "-o", out, "--model", smallModel, "--ensemble", "2")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("mean of 2 views per slice"), "\(r.err)")
        let series = try #require(StudyScanner.scan([out]).series.first)
        let single = try #require(StudyScanner.scan([one]).series.first)
        #expect(series.seriesDescription?.hasSuffix("[RED-CNN 2 views]") == true, "\(series.seriesDescription ?? "")")
        #expect(series.seriesInstanceUID != single.seriesInstanceUID)
        let ds = try DICOMFile(path: try #require(series.slices.first?.file)).dataset
        #expect(ds.string(.derivationDescription)?.contains("mean of 2 mirrored/rotated views") == true)
        #expect(RestoreManifest.load(root: out).series.first?.views == 2)
        #expect(RestoreManifest.load(root: one).series.first?.views == nil)
        // The average is not the single pass: the restored pixel values differ.
        let a = try contents(one).values.flatMap { $0 }.sorted(), b = try contents(out).values.flatMap { $0 }.sorted()
        #expect(a.count == b.count && a != b)
        let again = try ldct("restore", input, "-o", out, "--model", smallModel, "--ensemble", "2")
        #expect(again.code == 0 && again.err.contains("done before"), "\(again.err)")
        let back = try ldct("restore", input, "-o", out, "--model", smallModel)
        #expect(back.code == 0 && !back.err.contains("done before"), "\(back.err)")
        #expect(StudyScanner.scan([out]).series.first?.seriesInstanceUID == single.seriesInstanceUID)
        #expect(RestoreManifest.load(root: out).series.first?.views == nil)
    }

    @Test("--ensemble other than 1, 2, 4, 8 is refused (exit 64, nothing written); a pipeline's restore stage takes ensemble")
    func refusedAndPipeline() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = fixtures + "/valid/u12"
        for bad in ["3", "0", "16"] {
            let r = try ldct("restore", input, "-o", dir + "/bad", "--model", smallModel, "--ensemble", bad)
            #expect(r.code == 64 && r.err.contains("ensemble '\(bad)' is not one of 1, 2, 4, 8"), "\(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad"))
        let node = try ldct("node", "--forward", "A@127.0.0.1:9", "--spool", dir + "/spool", "--model", smallModel, "--ensemble", "5")
        #expect(node.code == 64 && node.err.contains("ensemble '5'"), "\(node.err)")
        let yaml = dir + "/p.yaml"
        try """
            name: e
            stages:
              - restore: {inputs: ['\(input)'], output: '\(dir)/four', model: '\(smallModel)', ensemble: 4}
            """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let p = try ldct("run", yaml)
        #expect(p.code == 0, "\(p.err)")
        #expect(p.err.contains("--ensemble 4"), "\(p.err)")
        #expect(StudyScanner.scan([dir + "/four"]).series.first?.seriesDescription?.hasSuffix("[RED-CNN 4 views]") == true)
    }
}
