import ConvNet
import DICOMIO
import Denoising
import Foundation
import Testing

@Suite("ldct tune and restore --strength (end to end)", .serialized)
struct StrengthCLITests {
    /// A 4-slice 128² phantom and its simulated 75 % and 50 % partners (8 pairs; noisier partners
    /// at this pixel size leave too little contiguous soft tissue to measure the removed noise).
    func pairs(in dir: String) throws -> (normal: String, low: [String]) {
        #expect(try ldct("phantom", "-o", dir + "/normal", "--slices", "4", "--seed", "4", "--size", "128").code == 0)
        var low: [String] = []
        for dose in ["0.75", "0.5"] {
            let out = dir + "/low-" + dose
            #expect(try ldct("simulate", dir + "/normal", "-o", out, "--dose", dose, "--calibrate", "--seed", "2").code == 0)
            low.append(out)
        }
        return (dir + "/normal", low)
    }

    /// A width-6 RED-CNN close to the identity (last layer scaled by 0.05): its output stays near
    /// its input, so it "removes" a little of everything, as a weak denoiser would.
    func nearIdentityModel(in dir: String) throws -> String {
        let model = REDCNN(config: REDCNNConfig(width: 6), seed: 21)
        for name in ["tconv5.weight", "tconv5.bias"] {
            let v = try #require(model.layout.view(name))
            for i in v.offset..<v.offset + v.count { model.parameters[i] *= 0.05 }
        }
        let path = dir + "/near-identity.safetensors"
        try ModelFile.save(model, to: path)
        return path
    }

    @Test("tune --ensemble N fits the curve on N views and records it; restore says when its views differ; merge drops it; bad N is refused")
    func tuneOnViews() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (normal, low) = try pairs(in: dir)
        let base = try nearIdentityModel(in: dir)
        let args = ["--model", base, "--low"] + low + ["--normal", normal, "--knots", "2"]
        let one = try ldct(["tune"] + args + ["-o", dir + "/one.safetensors"])
        let two = try ldct(["tune"] + args + ["-o", dir + "/two.safetensors", "--ensemble", "2"])
        #expect(one.code == 0 && two.code == 0, "\(one.err) \(two.err)")
        #expect(two.err.contains("network averaged over 2 views") && !one.err.contains("views"), "\(two.err)")
        let (_, metaOne) = try ModelFile.load(dir + "/one.safetensors")
        let (_, metaTwo) = try ModelFile.load(dir + "/two.safetensors")
        #expect(metaOne["strength_tuned_views"] == nil && metaTwo["strength_tuned_views"] == "2")
        // The two fits saw different network outputs (the mean of two views removes less of the
        // same noise), so their summaries differ.
        #expect(metaOne["strength_tuned_on"] != metaTwo["strength_tuned_on"])
        let same = try ldct("restore", low[1], "-o", dir + "/r2", "--model", dir + "/two.safetensors", "--ensemble", "2")
        let other = try ldct("restore", low[1], "-o", dir + "/r1", "--model", dir + "/two.safetensors")
        #expect(same.code == 0 && other.code == 0, "\(same.err) \(other.err)")
        #expect(!same.err.contains("tuned on") && other.err.contains("the strength curve was tuned on 2 view(s); this restore averages 1"), "\(other.err)")
        let plain = try ldct("restore", low[1], "-o", dir + "/r3", "--model", dir + "/one.safetensors", "--ensemble", "2")
        #expect(plain.err.contains("tuned on 1 view(s); this restore averages 2"), "\(plain.err)")
        let merged = try ldct("merge", "--base", base, "--tuned", dir + "/two.safetensors", "--weight", "0.5", "-o", dir + "/merged.safetensors")
        #expect(merged.code == 0, "\(merged.err)")
        #expect(try ModelFile.load(dir + "/merged.safetensors").1["strength_tuned_views"] == nil)
        let bad = try ldct(["tune"] + args + ["-o", dir + "/bad.safetensors", "--ensemble", "3"])
        #expect(bad.code == 64 && bad.err.contains("ensemble '3' is not one of 1, 2, 4, 8"), "\(bad.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/bad.safetensors"))
    }

    @Test("tune writes a copy with a strength curve and the same weights; restore then uses auto per slice, recorded in files and manifest")
    func tuneThenRestore() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (normal, low) = try pairs(in: dir)
        let base = try nearIdentityModel(in: dir)
        let tuned = dir + "/tuned.safetensors"
        let t = try ldct(["tune", "--model", base, "--low"] + low + ["--normal", normal, "-o", tuned, "--knots", "2"])
        #expect(t.code == 0, "\(t.err)")
        #expect(t.err.contains(" slices; mean PSNR input"), "\(t.err)")
        let (original, _) = try ModelFile.load(base)
        let (copy, meta) = try ModelFile.load(tuned)
        #expect(ModelFile.fingerprint(copy) == ModelFile.fingerprint(original))
        let curve = try StrengthCurve(parsing: try #require(meta[StrengthCurve.metadataKey]))
        #expect((1...2).contains(curve.knots.count) && t.out.contains("strength curve"))
        #expect(meta["strength_tuned_on"]?.contains("mean PSNR input") == true)

        // restore with the tuned model: auto by default, α per slice in Image Comments, strength in
        // the derivation description and the manifest.
        let out = dir + "/out"
        let r = try ldct("restore", low[1], "-o", out, "--model", tuned)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("strength auto("), "\(r.err)")
        let series = try #require(StudyScanner.scan([out]).series.first)
        #expect(series.seriesDescription?.hasSuffix("[RED-CNN auto]") == true, "\(series.seriesDescription ?? "")")
        for slice in series.slices {
            let ds = try DICOMFile(path: slice.file).dataset
            #expect(ds.string(.imageComments)?.contains("at strength") == true)
            #expect(ds.string(.derivationDescription)?.contains("strength auto(") == true)
        }
        let manifest = RestoreManifest.load(root: out)
        #expect(manifest.series.first?.strength == "auto(\(curve))")
        // The manifest lists each file's α (as its Image Comments say) and removed noise, in file order.
        let entry = try #require(manifest.series.first)
        let strengths = try #require(entry.sliceStrengths, "no per-slice strengths in the manifest")
        #expect(strengths.count == entry.files.count && entry.removedNoise?.count == entry.files.count)
        for (file, alpha) in zip(entry.files, strengths) {
            let comment = try DICOMFile(path: out + "/" + entry.folder + "/" + file).dataset.string(.imageComments) ?? ""
            let said = RestorationComment.parse(comment)?.strength
            #expect(said.map { abs($0 - Double(alpha)) <= 0.006 } == true, "\(file): \(comment) vs \(alpha)")
        }

        // The report carries each slice's α and removed noise (from the restored files' Image
        // Comments) into report.json, slices.csv and the page, and the series' range.
        let rep = dir + "/rep"
        let made = try ldct("report", "--low", low[1], "--restored", out, "--normal", normal, "-o", rep)
        #expect(made.code == 0, "\(made.err)")
        #expect(made.err.contains(" per slice") || made.err.contains(", strength "), "\(made.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rep + "/report.json"))) as? [String: Any])
        let rows = try #require(json["slices"] as? [[String: Any]])
        let byUID = Dictionary(uniqueKeysWithValues: zip(entry.files, strengths).compactMap { file, alpha in
            (try? DICOMFile(path: out + "/" + entry.folder + "/" + file).dataset.string(.sopInstanceUID)).flatMap { $0 }.map { ($0, Double(alpha)) } })
        #expect(rows.count == entry.files.count)
        for row in rows {
            let alpha = try #require(byUID[row["restoredSOPInstanceUID"] as? String ?? ""])
            let reported = try #require(row["strength"] as? Double, "no strength in \(row.keys.sorted())")
            #expect(abs(reported - alpha) <= 0.006, "\(reported) vs \(alpha)")
            #expect(row["removedNoise"] is Double)
        }
        let range = try #require((json["series"] as? [[String: Any]])?.first?["strengthRange"] as? [Double])
        #expect(range.count == 2 && abs(range[0] - byUID.values.min()!) <= 0.006 && abs(range[1] - byUID.values.max()!) <= 0.006)
        let csv = try String(contentsOfFile: rep + "/slices.csv", encoding: .utf8)
        #expect(csv.hasPrefix("series,") && csv.components(separatedBy: "\n")[0].hasSuffix(",strength,removedNoise"))
        let page = try String(contentsOfFile: rep + "/report.html", encoding: .utf8)
        #expect(page.contains("<th>strength</th>") && (page.contains("Strength per slice") || page.contains("on every slice")))

        // Another strength is another derived series: redone (not skipped), new UIDs.
        let again = try ldct("restore", low[1], "-o", out, "--model", tuned)
        #expect(again.err.contains("done before"))
        let plain = try ldct("restore", low[1], "-o", out, "--model", tuned, "--strength", "1")
        #expect(plain.code == 0 && !plain.err.contains("done before"), "\(plain.err)")
        let plainSeries = try #require(StudyScanner.scan([out]).series.first)
        #expect(plainSeries.seriesInstanceUID != series.seriesInstanceUID)
        #expect(plainSeries.seriesDescription?.hasSuffix("[RED-CNN]") == true)
        #expect(RestoreManifest.load(root: out).series.first?.strength == nil)
        #expect(RestoreManifest.load(root: out).series.first?.sliceStrengths == nil, "strength 1: no per-slice list")
        // Strength 1 with a model that has no curve gives the UIDs restores always gave.
        let old = dir + "/old"
        #expect(try ldct("restore", low[1], "-o", old, "--model", base).code == 0)
        #expect(StudyScanner.scan([old]).series.first?.seriesInstanceUID == plainSeries.seriesInstanceUID)
    }

    @Test("tune --correct-hu cancels the network's mean HU shift in soft tissue through its last bias (new fingerprint, recorded)")
    func correctHU() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (normal, low) = try pairs(in: dir)
        let base = try nearIdentityModel(in: dir)
        // The same network adding 6 HU more everywhere.
        let (shifted, _) = try ModelFile.load(base)
        shifted.shiftOutput(hu: 6)
        let biased = dir + "/biased.safetensors"
        try ModelFile.save(shifted, to: biased)
        func measuredShift(_ text: String) -> Double? {
            guard let r = text.range(of: "uniform soft tissue: ") else { return nil }
            return Double(text[r.upperBound...].prefix { "+-.0123456789".contains($0) })
        }
        let args = ["--low"] + low + ["--normal", normal, "--knots", "1", "--ssim-weight", "0"]
        let plain = try ldct(["tune", "--model", biased, "-o", dir + "/plain.safetensors"] + args)
        #expect(plain.code == 0, "\(plain.err)")
        let before = try #require(measuredShift(plain.err), "\(plain.err)")
        let fixed = dir + "/fixed.safetensors"
        let t = try ldct(["tune", "--model", biased, "-o", fixed, "--correct-hu"] + args)
        #expect(t.code == 0 && t.out.contains("last bias corrected"), "\(t.err)\(t.out)")
        let (copy, meta) = try ModelFile.load(fixed)
        #expect(ModelFile.fingerprint(copy) != ModelFile.fingerprint(shifted))
        #expect(meta["hu_correction"]?.contains("tconv5.bias") == true)
        // Tuning the corrected model again measures (almost) no shift: the correction was the shift.
        let again = try ldct(["tune", "--model", fixed, "-o", dir + "/again.safetensors"] + args)
        let after = try #require(measuredShift(again.err), "\(again.err)")
        let original = try ldct(["tune", "--model", base, "-o", dir + "/base.safetensors"] + args)
        let own = try #require(measuredShift(original.err), "\(original.err)")
        #expect(abs(before - own - 6) < 0.05, "shiftOutput(6) must add 6 HU: \(own) → \(before)")
        #expect(abs(before) > 1, "a shifted network to correct: \(before)")
        #expect(abs(after) < 0.05, "after the correction \(after) HU (before \(before))")
        // Correcting a corrected model keeps both records.
        let twice = dir + "/twice.safetensors"
        #expect(try ldct(["tune", "--model", fixed, "-o", twice, "--correct-hu"] + args).code == 0)
        #expect(try ModelFile.load(twice).1["hu_correction"]?.components(separatedBy: "tconv5.bias").count == 3)
    }

    @Test("strength 0 writes the input's HU; a pipeline's restore stage takes strength")
    func zeroStrength() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = fixtures + "/valid/u12"
        let r = try ldct("restore", input, "-o", dir + "/zero", "--model", smallModel, "--strength", "0")
        #expect(r.code == 0, "\(r.err)")
        let a = try contents(input), b = try contents(dir + "/zero")
        #expect(Set(a.values.map { $0 }) == Set(b.values.map { $0 }), "strength 0 changed pixels")
        let yaml = dir + "/p.yaml"
        try """
            name: s
            stages:
              - restore: {inputs: ['\(input)'], output: '\(dir)/half', model: '\(smallModel)', strength: 0.5}
            """.write(toFile: yaml, atomically: true, encoding: .utf8)
        let p = try ldct("run", yaml)
        #expect(p.code == 0, "\(p.err)")
        #expect(p.err.contains("--strength 0.5"))
        #expect(StudyScanner.scan([dir + "/half"]).series.first?.seriesDescription?.hasSuffix("[RED-CNN 0.5]") == true)
    }

    @Test("bad strengths and tune misuse are refused: exit 64, or 2 when nothing pairs")
    func refusals() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = fixtures + "/valid/u12"
        let auto = try ldct("restore", input, "-o", dir + "/a", "--model", smallModel, "--strength", "auto")
        #expect(auto.code == 64 && auto.err.contains("no tuned strength curve"), "\(auto.err)")
        let big = try ldct("restore", input, "-o", dir + "/b", "--model", smallModel, "--strength", "5")
        #expect(big.code == 64 && big.err.contains("strength '5'"), "\(big.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a") && !FileManager.default.fileExists(atPath: dir + "/b"))
        let same = try ldct("tune", "--model", smallModel, "--low", input, "--normal", input, "-o", smallModel)
        #expect(same.code == 64 && same.err.contains("must not be the model itself"), "\(same.err)")
        let none = try ldct("tune", "--model", smallModel, "--low", fixtures + "/valid/u12", "--normal", fixtures + "/valid/s14", "-o", dir + "/t.safetensors")
        #expect(none.code == 2, "\(none.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/t.safetensors"))
    }
}
