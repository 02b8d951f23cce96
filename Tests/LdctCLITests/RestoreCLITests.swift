import DICOMIO
import Foundation
import Testing

let smallModel = packageRoot + "/scripts/reference/redcnn_state_dict.safetensors"

func scratch() -> String {
    let path = NSTemporaryDirectory() + "ldct-cli-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("ldct restore (end to end)")
struct RestoreCLITests {
    @Test("restores each series into a derived series that references its sources")
    func restoresSeries() throws {
        let out = scratch()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try ldct("restore", fixtures + "/valid/s12-padding", fixtures + "/valid/enhanced", "-o", out, "--model", smallModel)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("2 series, 8 slice(s) written"))
        let scan = StudyScanner.scan([out])
        #expect(scan.series.count == 2 && scan.errors.isEmpty)
        let sources = StudyScanner.scan([fixtures + "/valid/s12-padding", fixtures + "/valid/enhanced"])
        let sourceUIDs = Set(sources.series.flatMap { $0.slices.map(\.sopInstanceUID) })
        for series in scan.series {
            #expect(series.seriesDescription?.hasSuffix("[RED-CNN]") == true)
            for slice in series.slices {
                let ds = try DICOMFile(path: slice.file).dataset
                let ref = try #require(ds.item(.sourceImageSequence))
                #expect(sourceUIDs.contains(ref.string(.referencedSOPInstanceUID) ?? ""))
                #expect(ds.strings(.imageType)?.first == "DERIVED")
            }
        }
        // Padding (outside the field of view) keeps its value exactly.
        let restored = try #require(scan.series.first { $0.seriesDescription?.hasPrefix("signed 12-bit") == true })
        let (loaded, _) = SeriesLoader.load(restored)
        let (original, _) = SeriesLoader.load(try #require(sources.series.first { $0.seriesDescription?.hasPrefix("signed 12-bit") == true }))
        let a = try #require(loaded), b = try #require(original)
        #expect(a.paddingMask == b.paddingMask)
        #expect(zip(a.hu, b.hu).enumerated().allSatisfy { b.paddingMask[$0.offset] == 0 || $0.element.0 == $0.element.1 })
        #expect(zip(a.hu, b.hu).contains { $0 != $1 }, "the network changed the image")
    }

    @Test("a re-run writes identical UIDs; inputs are untouched")
    func deterministic() throws {
        let (out1, out2) = (scratch(), scratch())
        defer { try? FileManager.default.removeItem(atPath: out1); try? FileManager.default.removeItem(atPath: out2) }
        let folder = fixtures + "/valid/u12"
        let before = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        #expect(try ldct("restore", folder, "-o", out1, "--model", smallModel).code == 0)
        #expect(try ldct("restore", folder, "-o", out2, "--model", smallModel).code == 0)
        func uids(_ dir: String) -> [String] {
            StudyScanner.scan([dir]).series.flatMap { [$0.seriesInstanceUID] + $0.slices.map(\.sopInstanceUID) }
        }
        #expect(uids(out1) == uids(out2))
        let after = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        #expect(before == after)
    }

    @Test("broken and non-CT inputs are reported, the rest restored, exit 1")
    func mixedStudy() throws {
        let out = scratch()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try ldct("restore", fixtures + "/mixed-study", "-o", out, "--model", smallModel)
        #expect(r.code == 1)
        #expect(r.err.contains("IM9999"))
        #expect(r.err.contains("modality MR, not CT"))
        #expect(StudyScanner.scan([out]).series.first?.slices.count == 4)
    }

    @Test("a missing or invalid model is a clear error")
    func badModel() throws {
        let out = scratch()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try ldct("restore", fixtures + "/valid/u12", "-o", out, "--model", "/nonexistent/model.safetensors")
        #expect(r.code == 2)
        #expect(r.err.contains("/nonexistent/model.safetensors"))
        let junk = try ldct("restore", fixtures + "/valid/u12", "-o", out, "--model", fixtures + "/nonct/readme.txt")
        #expect(junk.code == 2 && junk.err.contains("safetensors"))
        #expect(try ldct("restore", fixtures + "/valid/u12", "-o", out, "--model", smallModel, "--transfer-syntax", "png").code == 64)
    }
}
