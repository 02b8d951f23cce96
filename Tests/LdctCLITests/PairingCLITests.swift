import DICOMIO
import Foundation
import Testing

/// The Mayo / TCIA low-dose layout (Tests/Fixtures/dicom/pairing): separate studies, identical
/// geometry, copied dose tags, tube-current modulation. Every command that pairs must pair it.
@Suite("Mayo-layout pairs in train, tune, report and restore --reference (end to end)")
struct PairingCLITests {
    static let quarter = fixtures + "/pairing/mayo-quarter", full = fixtures + "/pairing/mayo-full"

    @Test("restore --reference and report pair by geometry, say how, and tell the truth about copied dose tags")
    func reportPairs() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let r = try ldct("restore", Self.quarter, "-o", work + "/out", "--model", smallModel, "--reference", Self.full)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("5 pair(s): 0 through Source Image Sequence, 0 by frame of reference and position, 5 by geometry alone; 0 unpaired"), "\(r.err)")
        #expect(!r.err.contains("without a partner"))
        #expect(r.err.contains("identical dose tags"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/out/report/report.json"))) as? [String: Any])
        let pairing = try #require(json["pairing"] as? [String: Any])
        #expect(pairing["position"] as? Int == 5 && pairing["source"] as? Int == 0 && pairing["frame"] as? Int == 0 && pairing["mode"] as? String == "auto")
        #expect((pairing["warnings"] as? [String])?.isEmpty == true)
        let series = try #require((json["series"] as? [[String: Any]])?.first)
        #expect(series["doseTagsIdentical"] as? Bool == true)
        #expect(series["doseRatio"] == nil, "identical tags: no ratio from the headers")
        let fromNoise = try #require(series["doseRatioFromNoise"] as? Double)
        #expect(fromNoise > 0.15 && fromNoise < 0.5, "σ 20 vs 10 HU plus anatomy → about a quarter: \(fromNoise)")
        #expect(series["tubeCurrentRangeLow"] as? [Double] == [180, 310])
        let slices = try #require(json["slices"] as? [[String: Any]])
        #expect(Set(slices.compactMap { $0["tubeCurrentLowMA"] as? Double }) == [180, 240, 310, 260, 200])
        let html = try String(contentsOfFile: work + "/out/report/report.html", encoding: .utf8)
        #expect(html.contains("5 by geometry alone"))
        #expect(html.contains("identical dose tags") && html.contains("not stated: identical tags"))
        #expect(!html.contains(">100 %<") || html.contains("dose ratio from noise"))
        #expect(html.contains("Tube current per slice") && html.contains("180–310 (modulated"))
        // --pair-by frame refuses the same layout, with the reason, and says so.
        let strict = try ldct("report", "--low", Self.quarter, "--restored", work + "/out", "--normal", Self.full, "-o", work + "/strict", "--pair-by", "frame")
        #expect(strict.code == 0, "\(strict.err)")
        #expect(strict.err.contains("0 pair(s)") && strict.err.contains("5 slice(s) without a partner"))
        #expect(try ldct("report", "--low", Self.quarter, "--restored", work + "/out", "-o", work + "/x", "--pair-by", "nearest").code == 64)
    }

    @Test("train finds the pairs (log says how); swapped folders are warned about; tune pairs them too")
    func trainAndTune() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let t = try ldct("train", "-o", work + "/run", "--low", Self.quarter, "--normal", Self.full, "--steps", "2", "--width", "4",
                         "--patch", "25", "--batch", "2", "--validation-fraction", "0")
        #expect(t.code == 0, "\(t.err)")
        #expect(t.err.contains("5 pair(s): 0 through Source Image Sequence, 0 by frame of reference and position, 5 by geometry alone"), "\(t.err)")
        #expect(!t.err.contains("look swapped"))
        let swapped = try ldct("train", "-o", work + "/swapped", "--low", Self.full, "--normal", Self.quarter, "--steps", "1", "--width", "4",
                               "--patch", "25", "--batch", "2", "--validation-fraction", "0")
        #expect(swapped.code == 0, "\(swapped.err)")
        #expect(swapped.err.contains("in 5 of 5 compared pair(s) the low-dose slice is quieter"), "\(swapped.err)")
        let config = try String(contentsOfFile: work + "/run/config.json", encoding: .utf8)
        #expect(!config.contains("pairBy"), "auto is the default and keeps old runs' hashes")
        let frame = try ldct("train", "-o", work + "/frame", "--low", Self.quarter, "--normal", Self.full, "--steps", "1", "--width", "4",
                             "--patch", "25", "--batch", "2", "--pair-by", "frame")
        #expect(frame.code == 2 && frame.err.contains("no training pairs"), "\(frame.err)")
        let tune = try ldct("tune", "--model", smallModel, "--low", Self.quarter, "--normal", Self.full, "-o", work + "/tuned.safetensors", "--knots", "1")
        // The 64² fixtures pair, but have too little soft tissue to fit a curve on (the tuner's own
        // refusal); pairing is what is checked here.
        #expect(tune.err.contains("5 by geometry alone"), "\(tune.err)")
        #expect(!tune.err.contains("no low/normal-dose pairs found") && !tune.err.contains("unpaired:"))
    }

    @Test("tune fits a strength curve on a separate-study pair made from a phantom (Source Image Sequence and shared UIDs removed)")
    func tuneSeparateStudies() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        #expect(try ldct("phantom", "-o", work + "/normal", "--slices", "6", "--size", "128", "--seed", "4").code == 0)
        #expect(try ldct("simulate", work + "/normal", "-o", work + "/sim", "--dose", "0.75", "--calibrate", "--seed", "1").code == 0)
        // Make it look like the Mayo layout: another study and frame of reference, no Source Image Sequence.
        let low = work + "/low"
        try FileManager.default.createDirectory(atPath: low, withIntermediateDirectories: true)
        for series in StudyScanner.scan([work + "/sim"]).series {
            for (i, slice) in series.slices.enumerated() {
                let f = try DICOMFile(path: slice.file)
                f.dataset.remove(.sourceImageSequence)
                try f.dataset.set(.studyInstanceUID, "2.25.5151.1")
                try f.dataset.set(.frameOfReferenceUID, "2.25.5151.2")
                try f.save(to: low + "/q\(i).dcm", transferSyntax: .explicitLittle)
            }
        }
        let model = try StrengthCLITests().nearIdentityModel(in: work)  // as StrengthCLITests: a weak denoiser
        let tune = try ldct("tune", "--model", model, "--low", low, "--normal", work + "/normal", "-o", work + "/tuned.safetensors", "--knots", "1")
        #expect(tune.code == 0, "\(tune.err)")
        #expect(tune.err.contains("6 pair(s): 0 through Source Image Sequence, 0 by frame of reference and position, 6 by geometry alone"), "\(tune.err)")
        #expect(FileManager.default.fileExists(atPath: work + "/tuned.safetensors"))
    }

    @Test("refusals name the reason: ambiguous partners, another spacing")
    func refusals() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let ambiguous = try ldct("train", "-o", work + "/a", "--low", Self.quarter, "--normal", Self.full, fixtures + "/pairing/refuse/full-again",
                                 "--steps", "1", "--width", "4", "--patch", "25", "--batch", "2")
        #expect(ambiguous.code == 2 && ambiguous.err.contains("ambiguous: 2 normal-dose slices"), "\(ambiguous.err)")
        let spacing = try ldct("train", "-o", work + "/s", "--low", Self.quarter, "--normal", fixtures + "/pairing/refuse/full-other-spacing",
                               "--steps", "1", "--width", "4", "--patch", "25", "--batch", "2")
        #expect(spacing.code == 2 && spacing.err.contains("pixel spacing differs"), "\(spacing.err)")
    }
}
