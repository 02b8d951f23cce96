import DICOMIO
import Foundation
import LowDoseSimulation
@testable import StudySimulation
import Testing

func tempDir() -> String {
    let p = NSTemporaryDirectory() + "ldct-pipe-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

@Suite("Phantom studies and dose simulation")
struct PhantomSimulationTests {
    @Test("phantom HU ranges per tissue are plausible, and seeds vary the anatomy", arguments: [1, 2] as [UInt64])
    func plausibility(_ seed: UInt64) {
        let p = BodyPhantom(seed: seed)
        let hu = p.slice(side: 128, pixel: 3, z: 0)
        #expect(hu.filter { $0 == -1000 }.count > 128 * 128 / 10, "air around the body")
        let fat = hu.filter { $0 > -130 && $0 < -70 }.count, soft = hu.filter { $0 > 20 && $0 < 80 }.count
        let bone = hu.filter { $0 > 700 }.count
        #expect(fat > 100 && soft > 500 && bone > 3, "fat \(fat), soft \(soft), bone \(bone)")
        if p.region == .chest { #expect(hu.filter { $0 < -700 && $0 > -950 }.count > 300, "lungs") }
        #expect(hu.allSatisfy { $0 >= -1000 && $0 < 1300 })
        let other = BodyPhantom(seed: seed + 2).slice(side: 128, pixel: 3, z: 0)
        #expect(other != hu)
        #expect(p.slice(side: 128, pixel: 3, z: 0) == hu, "deterministic per seed")
    }

    @Test("a phantom study is a readable CT series with realistic headers and CT-like noise")
    func phantomStudy() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try PhantomStudy(seed: 4, slices: 3, size: 96).write(to: dir)
        #expect(files.count == 3)
        let scan = StudyScanner.scan([dir])
        let s = try #require(scan.series.first)
        #expect(s.slices.count == 3 && s.rows == 96)
        #expect(s.dose.kvp != nil && s.dose.ctdiVolMGy != nil && s.dose.tubeCurrentMA != nil)
        #expect(s.convolutionKernel != nil && s.frameOfReferenceUID != nil)
        for f in files { #expect(try dciodvfyErrorsOf(f).isEmpty) }
    }

    @Test("simulate: derived series, dose tags scaled, same seed → same pixels and UIDs, noise grows")
    func simulate() throws {
        let (src, a, b) = (tempDir(), tempDir(), tempDir())
        defer { for d in [src, a, b] { try? FileManager.default.removeItem(atPath: d) } }
        try PhantomStudy(seed: 2, slices: 2, size: 96).write(to: src)
        let run = DoseSimulationRun(doseFraction: 0.25, photons: .fixed(5e3), seed: 9)
        let (r1, _) = try run.run([src], outputRoot: a)
        _ = try run.run([src], outputRoot: b)
        #expect(r1.count == 1 && r1[0].slicesWritten == 2 && r1[0].errors.isEmpty)
        let (low1, _) = SeriesLoader.load(try #require(StudyScanner.scan([a]).series.first))
        let (low2, _) = SeriesLoader.load(try #require(StudyScanner.scan([b]).series.first))
        let (normal, _) = SeriesLoader.load(try #require(StudyScanner.scan([src]).series.first))
        let (l1, l2, n) = (try #require(low1), try #require(low2), try #require(normal))
        #expect(l1.hu == l2.hu)
        #expect(l1.info.slices.map(\.sopInstanceUID) == l2.info.slices.map(\.sopInstanceUID))
        #expect(l1.info.seriesDescription?.contains("simulated 25% dose") == true)
        #expect(abs((l1.info.dose.ctdiVolMGy ?? 0) - 0.25 * (n.info.dose.ctdiVolMGy ?? 0)) < 0.01)
        let diff = zip(l1.hu, n.hu).map { Double($0 - $1) }
        let sd = (diff.map { $0 * $0 }.reduce(0, +) / Double(diff.count)).squareRoot()
        #expect(sd > 1, "noise was added (σ \(sd) HU)")
        let ds = try DICOMFile(path: l1.info.slices[0].file).dataset
        #expect(ds.item(.sourceImageSequence)?.string(.referencedSOPInstanceUID) == n.info.slices[0].sopInstanceUID)
        let other = DoseSimulationRun(doseFraction: 0.25, photons: .fixed(5e3), seed: 10)
        let c = tempDir()
        defer { try? FileManager.default.removeItem(atPath: c) }
        _ = try other.run([src], outputRoot: c)
        let (l3, _) = SeriesLoader.load(try #require(StudyScanner.scan([c]).series.first))
        #expect(try #require(l3).hu != l1.hu)
    }
}

func dciodvfyErrorsOf(_ file: String) throws -> [String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/dciodvfy")
    process.arguments = [file]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
}
