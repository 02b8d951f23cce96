import ConvNet
import DICOMIO
import Foundation
import Testing

@Suite("ldct phantom, simulate and train (end to end)")
struct TrainSimulateCLITests {
    @Test("phantom → simulate: a derived low-dose series; bad options are refused")
    func phantomSimulate() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try ldct("phantom", "-o", dir + "/normal", "--slices", "2", "--seed", "3", "--size", "64")
        #expect(p.code == 0, "\(p.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/normal").count == 2)
        let s = try ldct("simulate", dir + "/normal", "-o", dir + "/low", "--dose", "0.25", "--i0", "1e4", "--seed", "1")
        #expect(s.code == 0, "\(s.err)")
        let low = try #require(StudyScanner.scan([dir + "/low"]).series.first)
        #expect(low.slices.count == 2 && low.seriesDescription?.contains("simulated 25% dose") == true)
        #expect(try ldct("simulate", dir + "/normal", "-o", dir + "/x", "--dose", "2", "--i0", "1e4").code == 64)
        #expect(try ldct("simulate", dir + "/normal", "-o", dir + "/x", "--dose", "0.5", "--i0", "1e4", "--calibrate").code == 64)
        #expect(try ldct("simulate", dir + "/nothing-here", "-o", dir + "/x", "--dose", "0.5", "--i0", "1e4").code == 2)
    }

    @Test("a killed training run leaves its last checkpoint intact, and --resume continues from it (with its loss weighting)")
    func killAndResume() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try ldct("phantom", "-o", dir + "/normal", "--slices", "2", "--seed", "5", "--size", "64").code == 0)
        let run = dir + "/run"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ldctBinary())
        process.arguments = ["train", "-o", run, "--normal", dir + "/normal", "--simulate-dose", "0.5", "--i0", "3e4",
                             "--steps", "100000", "--width", "4", "--patch", "25", "--batch", "2", "--checkpoint-every", "1",
                             "--noise-weight", "2"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let checkpoint = run + "/checkpoint.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let meta = try? SafeTensors.read(checkpoint).metadata, let s = Int(meta["step"] ?? ""), s >= 3 { break }
            usleep(50_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let saved = try SafeTensors.read(checkpoint)
        let step = try #require(Int(saved.metadata["step"] ?? ""))
        #expect(step >= 3)
        let r = try ldct("train", "--resume", run, "--steps", String(step + 2))
        #expect(r.code == 0, "\(r.err)")
        // The weighting chosen on the command line is part of the run (config.json) and of its resume.
        #expect(r.err.contains("loss weighted by (20 HU / σ)^2"), "\(r.err)")
        #expect(try String(contentsOfFile: run + "/config.json", encoding: .utf8).contains("\"noiseWeightPower\" : 2"))
        #expect(try SafeTensors.read(checkpoint).metadata["step"] == String(step + 2))
        let rows = try String(contentsOfFile: run + "/log.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.compactMap { Int($0.split(separator: ",")[0]) } == Array(1...(step + 2)))
    }

    @Test("train refuses an outside weight out of (0, 1] and an SSIM weight without --loss psnr-ssim, naming them (exit 2: configuration)")
    func lossOptionRefusals() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try ldct("phantom", "-o", dir + "/normal", "--slices", "1", "--seed", "5", "--size", "64").code == 0)
        let common = ["train", "--normal", dir + "/normal", "--simulate-dose", "0.5", "--i0", "3e4", "--steps", "1",
                      "--width", "4", "--patch", "25", "--batch", "2"]
        let outside = try ldct(common + ["-o", dir + "/a", "--outside-weight", "0"])
        #expect(outside.code == 2 && outside.err.contains("outside-window weight must be in (0, 1]"), "\(outside.code) \(outside.err)")
        let ssim = try ldct(common + ["-o", dir + "/b", "--ssim-weight", "10"])
        #expect(ssim.code == 2 && ssim.err.contains("an SSIM weight needs --loss psnr-ssim"), "\(ssim.code) \(ssim.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/a/checkpoint.safetensors"))
    }

    @Test("train --noise-channel → restore: the two-channel model restores, the log and the manifest give each slice's noise level; with --kernel-augment it is refused (exit 2)")
    func noiseChannel() throws {
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try ldct("phantom", "-o", dir + "/normal", "--slices", "2", "--seed", "6", "--size", "64").code == 0)
        let common = ["train", "--normal", dir + "/normal", "--simulate-dose", "0.25", "--i0", "3e4", "--steps", "2",
                      "--width", "4", "--patch", "25", "--batch", "2", "--noise-channel"]
        let refused = try ldct(common + ["-o", dir + "/x", "--kernel-augment", "0.2"])
        #expect(refused.code == 2 && refused.err.contains("--kernel-augment and --noise-channel exclude each other"), "\(refused.code) \(refused.err)")
        let t = try ldct(common + ["-o", dir + "/run"])
        #expect(t.code == 0, "\(t.err)")
        #expect(t.err.contains("noise-level channel (blind σ) of the training slices"), "\(t.err)")
        #expect(try SafeTensors.read(dir + "/run/model.safetensors").tensors["conv1.weight"]?.shape == [4, 2, 5, 5])
        #expect(try ldct("simulate", dir + "/normal", "-o", dir + "/low", "--dose", "0.25", "--i0", "1e4", "--seed", "2").code == 0)
        let r = try ldct("restore", dir + "/low", "-o", dir + "/out", "--model", dir + "/run/model.safetensors")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("noise level told to the network (blind σ):"), "\(r.err)")
        let manifest = try String(contentsOfFile: dir + "/out/manifest.json", encoding: .utf8)
        #expect(manifest.contains("\"noiseLevels\""), "\(manifest)")
    }
}
