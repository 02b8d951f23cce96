import DICOMIO
import Denoising
import Foundation
import Testing

/// A random-weight RED-CNN of width 48 (seeded): slow enough per slice to interrupt a run.
func mediumModel(in folder: String) throws -> String {
    let path = folder + "/w48.safetensors"
    try ModelFile.save(REDCNN(config: REDCNNConfig(width: 48), seed: 11), to: path)
    return path
}

/// SOP Instance UIDs and pixels of every series under a folder, in a comparable form.
func contents(_ folder: String) throws -> [String: [Float]] {
    var out: [String: [Float]] = [:]
    for series in StudyScanner.scan([folder]).series {
        let (loaded, errors) = SeriesLoader.load(series)
        #expect(errors.isEmpty)
        let s = try #require(loaded)
        for (i, slice) in series.slices.enumerated() { out[slice.sopInstanceUID] = s.slice(i).hu }
    }
    return out
}

func files(under folder: String) -> [String] {
    (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).sorted()
}

@Suite("batch restore, reports and pipelines (end to end)", .serialized)
struct BatchReportCLITests {
    @Test("multi-series folder with junk: all CT restored, junk listed; a re-run skips complete series and writes nothing")
    func resumeSkipsComplete() throws {
        let out = scratch()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let first = try ldct("restore", fixtures + "/mixed-study", "-o", out + "/restored", "--model", smallModel)
        #expect(first.code == 1, "mixed-study holds broken files → exit 1\n\(first.err)")
        #expect(first.err.contains("skipped:"))
        let manifest = try JSONDecoder().decode(RestoreManifest.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/restored/manifest.json")))
        #expect(!manifest.series.isEmpty && manifest.series.allSatisfy { $0.state == "complete" })
        let dates = try files(under: out + "/restored").filter { $0.hasSuffix(".dcm") }.map {
            try FileManager.default.attributesOfItem(atPath: out + "/restored/" + $0)[.modificationDate] as? Date
        }
        let second = try ldct("restore", fixtures + "/mixed-study", "-o", out + "/restored", "--model", smallModel)
        #expect(second.err.contains("done before:"))
        #expect(second.err.contains("0 slice(s) written"), "\(second.err)")
        let dates2 = try files(under: out + "/restored").filter { $0.hasSuffix(".dcm") }.map {
            try FileManager.default.attributesOfItem(atPath: out + "/restored/" + $0)[.modificationDate] as? Date
        }
        #expect(dates == dates2, "complete series were rewritten")
        // --force redoes them.
        let forced = try ldct("restore", fixtures + "/mixed-study", "-o", out + "/restored", "--model", smallModel, "--force")
        #expect(!forced.err.contains("done before:"))
    }

    @Test("SIGKILL mid-study, re-run: same files as an uninterrupted run, no temporary files left")
    func killAndResume() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let model = try mediumModel(in: work)
        #expect(try ldct("phantom", "-o", work + "/study/a", "--slices", "10", "--size", "128", "--seed", "4").code == 0)
        #expect(try ldct("phantom", "-o", work + "/study/b", "--slices", "4", "--size", "128", "--seed", "8").code == 0)
        // Uninterrupted reference run.
        #expect(try ldct("restore", work + "/study", "-o", work + "/clean", "--model", model).code == 0)
        // Interrupted run: killed once the first restored file exists.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ldctBinary())
        process.arguments = ["restore", work + "/study", "-o", work + "/resumed", "--model", model]
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, !files(under: work + "/resumed").contains(where: { $0.hasSuffix("IM0001.dcm") }) { usleep(5_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let partial = files(under: work + "/resumed").filter { $0.hasSuffix(".dcm") }.count
        #expect(partial >= 1 && partial < 14, "the kill came mid-study (\(partial) files)")
        let rerun = try ldct("restore", work + "/study", "-o", work + "/resumed", "--model", model)
        #expect(rerun.code == 0, "\(rerun.err)")
        let a = try contents(work + "/clean"), b = try contents(work + "/resumed")
        #expect(a.count == 14 && a == b, "resumed output differs from an uninterrupted run")
        #expect(!files(under: work + "/resumed").contains { $0.hasSuffix(".tmp") })
        let manifest = try JSONDecoder().decode(RestoreManifest.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/resumed/manifest.json")))
        #expect(manifest.series.count == 2 && manifest.series.allSatisfy { $0.state == "complete" && $0.files.count == $0.slices })
    }

    @Test("restore --reference writes a report; ldct report prints its path; exit 2 when nothing pairs")
    func report() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let low = packageRoot + "/Tests/Fixtures/report/low", normal = packageRoot + "/Tests/Fixtures/report/normal"
        let r = try ldct("restore", low, "-o", work + "/out", "--model", smallModel, "--reference", normal)
        #expect(r.code == 0, "\(r.err)")
        for f in ["report.html", "report.json", "slices.csv"] { #expect(FileManager.default.fileExists(atPath: work + "/out/report/" + f)) }
        #expect(r.err.contains("PSNR") && r.err.contains("SSIM"))
        let again = try ldct("report", "--low", low, "--restored", work + "/out", "--normal", normal, "-o", work + "/rep")
        #expect(again.code == 0 && again.out.trimmingCharacters(in: .whitespacesAndNewlines) == work + "/rep/report.html")
        let csv = try String(contentsOfFile: work + "/rep/slices.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 4)
        let none = try ldct("report", "--low", low, "--restored", normal, "-o", work + "/none")
        #expect(none.code == 2 && none.err.contains("references a low-dose slice"))
    }

    @Test("ldct run: a pipeline of phantom → simulate → restore → report runs; invalid files are refused before anything runs")
    func pipeline() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let yaml = """
            name: small
            vars: {out: results}
            stages:
              - phantom: {output: '${out}/normal', slices: 2, size: 96, seed: 5}
              - simulate: {inputs: ['${out}/normal'], output: '${out}/low', dose: 0.25, i0: 100000, seed: 3}
              - restore: {inputs: ['${out}/low'], output: '${out}/restored', model: '\(smallModel)'}
              - report: {low: ['${out}/low'], restored: ['${out}/restored'], normal: ['${out}/normal'], output: '${out}/report'}
            """
        try yaml.write(toFile: work + "/small.yaml", atomically: true, encoding: .utf8)
        let r = try ldct("run", work + "/small.yaml")
        #expect(r.code == 0, "\(r.err)")
        #expect(FileManager.default.fileExists(atPath: work + "/results/report/report.html"), "relative to the pipeline file")
        // --set overrides a variable.
        let dry = try ldct("run", work + "/small.yaml", "--set", "out=/elsewhere", "--dry-run")
        #expect(dry.code == 0 && dry.err.contains("/elsewhere/low"))
        // A misspelt key: refused with the line and a suggestion, nothing made.
        try yaml.replacingOccurrences(of: "dose: 0.25", with: "doze: 0.25").replacingOccurrences(of: "out: results", with: "out: other")
            .write(toFile: work + "/bad.yaml", atomically: true, encoding: .utf8)
        let bad = try ldct("run", work + "/bad.yaml")
        #expect(bad.code == 64)
        #expect(bad.err.contains("bad.yaml:5") && bad.err.contains("did you mean 'dose'"), "\(bad.err)")
        #expect(!FileManager.default.fileExists(atPath: work + "/other"), "validation runs before any stage")
    }

    @Test("the shipped pipelines validate")
    func shippedPipelines() throws {
        for name in ["demo", "restore-study", "dose-report", "train"] {
            let r = try ldct("run", packageRoot + "/Pipelines/\(name).yaml", "--dry-run")
            #expect(r.code == 0, "\(name): \(r.err)")
        }
    }
}

@Suite("the bundled default model (end to end)")
struct DefaultModelCLITests {
    @Test("restore without --model uses Models/redcnn-default.safetensors: less noise, CT numbers kept, closer to normal dose")
    func defaultModel() throws {
        let work = scratch()
        defer { try? FileManager.default.removeItem(atPath: work) }
        #expect(FileManager.default.fileExists(atPath: packageRoot + "/Models/redcnn-default.safetensors"))
        // One 512² slice of the bundled sample (a model trained at clinical pixel sizes needs a
        // clinical-size image; the 96² report fixture is not one).
        let low = packageRoot + "/SampleDICOM/quarter-dose/IM0004.dcm", normal = packageRoot + "/SampleDICOM/normal-dose"
        let r = try ldct("restore", low, "-o", work + "/out", "--reference", normal)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("default model"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/out/report/report.json"))) as? [String: Any])
        let series = try #require((json["series"] as? [[String: Any]])?.first)
        let (nl, nr) = (try #require(series["noiseLow"] as? Double), try #require(series["noiseRestored"] as? Double))
        #expect(nr < 0.8 * nl, "noise \(nl) → \(nr)")
        let shift = try #require(series["huShiftRestoredVsLow"] as? Double)
        #expect(abs(shift) <= 2, "soft-tissue HU shift \(shift)")
        let (pl, pr) = (try #require(series["psnrLow"] as? Double), try #require(series["psnrRestored"] as? Double))
        #expect(pr > pl, "PSNR \(pl) → \(pr)")
    }
}
