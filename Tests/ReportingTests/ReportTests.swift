import DICOMIO
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ImageQuality
import Reporting
import Testing

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let reportFixture = root + "/Tests/Fixtures/report"

func temporary() -> String {
    let path = NSTemporaryDirectory() + "ldct-report-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

struct Goldens: Decodable {
    struct Row: Decodable {
        var psnrLow, psnrRestored, ssimLow, ssimRestored, rmseLow, rmseRestored: Double
    }
    var slices: [String: Row]
}

@Suite("dose report")
struct ReportTests {
    let builder = ReportBuilder(low: [reportFixture + "/low"], restored: [reportFixture + "/restored"], normal: [reportFixture + "/normal"])

    @Test("PSNR, SSIM and RMSE per slice equal scikit-image's goldens (1e-4 dB, 1e-5)")
    func goldens() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: reportFixture + "/goldens.json"))
        let goldens = try JSONDecoder().decode(Goldens.self, from: data)
        let (report, _) = try builder.build()
        #expect(report.slices.count == 3)
        #expect(Set(report.slices.map(\.lowSOPInstanceUID)) == Set(goldens.slices.keys))
        for s in report.slices {
            let g = try #require(goldens.slices[s.lowSOPInstanceUID])
            #expect(abs(try #require(s.psnrLow) - g.psnrLow) < 1e-4)
            #expect(abs(try #require(s.psnrRestored) - g.psnrRestored) < 1e-4)
            #expect(abs(try #require(s.ssimLow) - g.ssimLow) < 1e-5)
            #expect(abs(try #require(s.ssimRestored) - g.ssimRestored) < 1e-5)
            #expect(abs(try #require(s.rmseLow) - g.rmseLow) < 1e-3)
            #expect(abs(try #require(s.rmseRestored) - g.rmseRestored) < 1e-3)
        }
    }

    @Test("series summary: doses from the headers, ratio, equivalent dose, spectra, pictures")
    func summary() throws {
        let (report, pictures) = try builder.build()
        let s = try #require(report.series.first)
        #expect(report.series.count == 1 && s.slices == 3 && s.slicesWithNormal == 3)
        // ldct simulate scales CTDIvol and mAs by the dose fraction.
        #expect(abs(try #require(s.doseRatio) - 0.25) < 1e-3, "\(String(describing: s.doseRatio))")
        let factor = try #require(s.equivalentDoseFactor)
        let (nl, nr) = (try #require(s.noiseLow), try #require(s.noiseRestored))
        #expect(abs(factor - (nl / nr) * (nl / nr)) < 1e-9)
        #expect(s.nps.low != nil && s.nps.restored != nil && s.nps.normal != nil)
        // Quarter dose is noisier than normal dose in the same regions.
        #expect(nl > (try #require(s.noiseNormal)))
        // Middle slice, quartiles: 3 windows + difference each, PNG signature.
        #expect(pictures.count == 3 * 4)
        #expect(pictures.allSatisfy { $0.png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) })
    }

    @Test("report files: JSON with the documented keys, CSV with a row per slice, self-contained HTML")
    func files() throws {
        let out = temporary()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let (report, pictures) = try builder.build()
        let paths = try ReportWriter.write(report, pictures: pictures, to: out)
        #expect(paths.allSatisfy { FileManager.default.fileExists(atPath: $0) })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as? [String: Any])
        let slices = try #require(json["slices"] as? [[String: Any]])
        #expect(slices.count == 3)
        for key in ["lowSOPInstanceUID", "psnrLow", "psnrRestored", "ssimLow", "ssimRestored", "rmseLow", "rmseRestored"] {
            #expect(slices.allSatisfy { $0[key] != nil }, "missing \(key)")
        }
        // What was done to the restored series, as the restore recorded it.
        let series = try #require((json["series"] as? [[String: Any]])?.first)
        #expect((series["restoration"] as? String)?.hasPrefix("Noise reduced with RED-CNN") == true, "\(series["restoration"] ?? "none")")
        let conventions = try #require(json["conventions"] as? [String: Any])
        #expect(conventions["dataRange"] as? Double == 400 && conventions["clipLow"] as? Double == -160)
        let csv = try String(contentsOfFile: out + "/slices.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 4 && csv[0].hasPrefix("series,lowSOPInstanceUID"))
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        #expect(html.contains("data:image/png;base64,") && html.contains("<svg"))
        #expect(html.contains("Restored: Noise reduced with RED-CNN"))
        #expect(!html.contains("src=\"http") && !html.contains("<script"), "self-contained, no script")
        #expect(!html.contains("PatientName"))
    }

    @Test("a low-dose slice without a restored partner is listed, not fatal; none at all is an error")
    func unpaired() throws {
        let out = temporary()
        defer { try? FileManager.default.removeItem(atPath: out) }
        // Restored series with one slice removed.
        let restoredFolder = out + "/restored"
        try FileManager.default.copyItem(atPath: reportFixture + "/restored", toPath: restoredFolder)
        let series = try #require(try FileManager.default.contentsOfDirectory(atPath: restoredFolder).first)
        try FileManager.default.removeItem(atPath: restoredFolder + "/" + series + "/IM0002.dcm")
        let (report, _) = try ReportBuilder(low: [reportFixture + "/low"], restored: [restoredFolder]).build()
        #expect(report.slices.count == 2)
        #expect(report.unpaired.count == 1 && report.unpaired[0].reason.contains("no restored slice"))
        #expect(report.slices.allSatisfy { $0.psnrLow == nil }, "no normal dose given → no PSNR")
        #expect(throws: ReportError.self) { try ReportBuilder(low: [reportFixture + "/low"], restored: [reportFixture + "/normal"]).build() }
        #expect(throws: ReportError.noLowDose(paths: [out + "/nothing"])) { try ReportBuilder(low: [out + "/nothing"], restored: [restoredFolder]).build() }
    }

    @Test("PNG encoder writes a PNG with the right signature and IHDR; bad geometry is a typed error; windows map HU to gray")
    func png() throws {
        let pixels = (0..<(20 * 10)).map { UInt8($0 % 256) }
        let data = try PNG.encode(pixels: pixels, width: 20, height: 10, channels: 1)
        #expect(data.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        // IHDR: width 20, height 10, bit depth 8, colour type 0 (gray).
        let ihdr = Array(data[16..<26])
        #expect(ihdr == [0, 0, 0, 20, 0, 0, 0, 10, 8, 0])
        #expect(throws: PNGError.self) { try PNG.encode(pixels: [1, 2, 3], width: 20, height: 10, channels: 1) }
        #expect(DisplayWindow.softTissue.gray(40) == 128 && DisplayWindow.softTissue.gray(-160) == 0 && DisplayWindow.softTissue.gray(240) == 255)
    }

    @Test("SVG chart: well-formed, one polyline per series, log axis works")
    func chart() throws {
        let chart = LineChart(title: "t <&>", xLabel: "x", yLabel: "y",
                              series: [.init(name: "a", color: "#f00", points: [(0, 1), (1, 10), (2, 100)]),
                                       .init(name: "b", color: "#00f", points: [(0, 2), (1, 3)], dashed: true)], logY: true)
        let svg = chart.svg()
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>"))
        #expect(svg.components(separatedBy: "<polyline").count == 3)
        #expect(svg.contains("t &lt;&amp;&gt;"))
        let doc = try XMLDocument(xmlString: svg)
        #expect(doc.rootElement()?.name == "svg")
    }
}
