import ConvNet
import Foundation
@testable import ImageQuality
import Testing

let goldenFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/reference/quality_goldens.safetensors").path

@Suite("Image quality: equal to scikit-image")
struct MetricsTests {
    @Test("PSNR within 1e-4 dB and SSIM within 1e-5 of skimage, both conventions",
          arguments: ["noisy", "smooth", "shifted"])
    func goldens(_ name: String) throws {
        let file = try SafeTensors.read(goldenFile)
        let rows = Int(file.metadata["rows"] ?? "") ?? 0, cols = Int(file.metadata["columns"] ?? "") ?? 0
        let goldens = try #require(try JSONSerialization.jsonObject(with: Data((file.metadata["goldens"] ?? "").utf8)) as? [String: [String: Double]])
        let ref = try #require(file.tensors["reference"]).data, img = try #require(file.tensors[name]).data
        for (label, convention) in [("ldct", MetricConvention.ldct), ("full", MetricConvention.fullRange)] {
            let golden = try #require(goldens["\(name)/\(label)"])
            let psnr = Metrics.psnr(reference: ref, image: img, convention: convention)
            let ssim = Metrics.ssim(reference: ref, image: img, rows: rows, columns: cols, convention: convention)
            #expect(abs(psnr - golden["psnr"]!) < 1e-4, "\(name)/\(label) PSNR \(psnr) vs \(golden["psnr"]!)")
            #expect(abs(ssim - golden["ssim"]!) < 1e-5, "\(name)/\(label) SSIM \(ssim) vs \(golden["ssim"]!)")
        }
    }

    @Test("identical images: PSNR ∞, SSIM 1, RMSE 0")
    func identical() {
        let a = (0..<400).map { Float($0 % 37) * 3 - 50 }
        #expect(Metrics.psnr(reference: a, image: a) == .infinity)
        #expect(abs(Metrics.ssim(reference: a, image: a, rows: 20, columns: 20) - 1) < 1e-12)
        #expect(Metrics.rmse(reference: a, image: a) == 0)
        #expect(abs(Metrics.rmse(reference: a, image: a.map { $0 + 3 }) - 3) < 1e-9)
    }
}
