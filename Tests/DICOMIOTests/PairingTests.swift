import DICOMIO
import Foundation
import Testing

/// Pairing on the Mayo-layout fixtures (Tests/Fixtures/dicom/pairing, made by FixtureMaker): two
/// studies with unrelated UIDs, identical geometry and dose tags, no Source Image Sequence.
@Suite("Pairing: source, frame of reference, geometry alone; refusals with reasons")
struct PairingTests {
    static func series(_ paths: String...) -> [SeriesInfo] {
        StudyScanner.scan(paths.map { fixture("pairing/" + $0) }).series
    }

    @Test("the Mayo layout pairs by geometry alone, slice by slice at the same position")
    func mayoLayout() throws {
        let low = Self.series("mayo-quarter"), normal = Self.series("mayo-full")
        try #require(low.count == 1 && normal.count == 1)
        #expect(low[0].studyInstanceUID != normal[0].studyInstanceUID)
        #expect(low[0].frameOfReferenceUID != normal[0].frameOfReferenceUID)
        let r = Pairing.pair(low: low, normal: normal)
        #expect(r.pairs.count == 5 && r.unpaired.isEmpty, "\(r.unpaired)")
        #expect(r.pairs.allSatisfy { $0.method == .position })
        for p in r.pairs {
            #expect(abs(p.low.normalPosition! - p.normal.normalPosition!) < 1e-6)
            #expect(p.seriesUID == normal[0].seriesInstanceUID)
        }
        #expect(r.counts[.position] == 5 && r.counts[.source] == 0 && r.counts[.frame] == 0)
        #expect(r.summary == "5 pair(s): 0 through Source Image Sequence, 0 by frame of reference and position, 5 by geometry alone; 0 unpaired")
    }

    @Test("--pair-by frame and source refuse what only geometry pairs, with the reason")
    func modes() {
        let low = Self.series("mayo-quarter"), normal = Self.series("mayo-full")
        let frame = Pairing.pair(low: low, normal: normal, mode: .frame)
        #expect(frame.pairs.isEmpty && frame.unpaired.count == 5)
        #expect(frame.unpaired.allSatisfy { $0.reason.contains("in the same frame of reference") })
        let source = Pairing.pair(low: low, normal: normal, mode: .source)
        #expect(source.pairs.isEmpty && source.unpaired.allSatisfy { $0.reason.contains("no Source Image Sequence") })
        let position = Pairing.pair(low: low, normal: normal, mode: .position)
        #expect(position.pairs.count == 5)
    }

    @Test("two normal-dose series with the same geometry and kernel: ambiguous, never guessed")
    func ambiguous() {
        let r = Pairing.pair(low: Self.series("mayo-quarter"), normal: Self.series("mayo-full", "refuse/full-again"))
        #expect(r.pairs.isEmpty)
        #expect(r.unpaired.count == 5 && r.unpaired.allSatisfy { $0.reason.hasPrefix("ambiguous: 2 normal-dose slices from 2 series") })
    }

    @Test("another pixel spacing or another kernel: refused with both reasons")
    func mismatches() {
        let spacing = Pairing.pair(low: Self.series("mayo-quarter"), normal: Self.series("refuse/full-other-spacing"))
        #expect(spacing.pairs.isEmpty && spacing.unpaired.allSatisfy { $0.reason.contains("pixel spacing differs: 0.7×0.7 mm here, 0.75×0.75 mm") })
        let kernel = Pairing.pair(low: Self.series("mayo-quarter"), normal: Self.series("refuse/full-other-kernel"))
        #expect(kernel.pairs.isEmpty && kernel.unpaired.allSatisfy { $0.reason.contains("kernel B30f here, D45f") })
        let both = Pairing.pair(low: Self.series("mayo-quarter"), normal: Self.series("refuse/full-other-spacing", "refuse/full-other-kernel"))
        #expect(both.unpaired.allSatisfy { $0.reason.contains("pixel spacing") && $0.reason.contains("kernel") })
        // The right partner among wrong ones is still found.
        let mixed = Pairing.pair(low: Self.series("mayo-quarter"), normal: Self.series("mayo-full", "refuse/full-other-kernel", "refuse/full-other-spacing"))
        #expect(mixed.pairs.count == 5 && mixed.pairs.allSatisfy { $0.normal.file.contains("/mayo-full/") })
    }

    @Test("positions: within a quarter of the slice step they pair, beyond it they do not; in-plane shifts beyond a pixel refuse")
    func tolerances() throws {
        let normal = Self.series("mayo-full")
        let n = normal[0]
        #expect(abs(Pairing.sliceStep(n) - 3) < 1e-9)
        func lowSeries(dz: Double, dx: Double = 0) throws -> [SeriesInfo] {
            let dir = temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var spec = NewSeriesSpec(studyInstanceUID: "2.25.99.1", seriesInstanceUID: "2.25.99.2", rows: 64, columns: 64)
            spec.frameOfReferenceUID = "2.25.99.3"
            spec.pixelSpacing = [0.7, 0.7]
            spec.sliceThickness = 3
            spec.sliceSpacing = 3
            spec.convolutionKernel = "B30f"
            spec.origin = [-22.4 + dx, -22.4, -120 + dz]
            let images = (0..<2).map { _ in SliceImage(rows: 64, columns: 64, hu: [Float](repeating: 0, count: 64 * 64)) }
            try NewSeriesWriter.writeClassic(spec, images: images, directory: dir)
            return StudyScanner.scan([dir]).series
        }
        #expect(Pairing.pair(low: try lowSeries(dz: 0.7), normal: normal).pairs.count == 2)
        let far = Pairing.pair(low: try lowSeries(dz: 0.8), normal: normal)
        #expect(far.pairs.isEmpty && far.unpaired.allSatisfy { $0.reason.contains("no normal-dose slice at position") })
        #expect(Pairing.pair(low: try lowSeries(dz: 0, dx: 0.6), normal: normal).pairs.count == 2)
        let shifted = Pairing.pair(low: try lowSeries(dz: 0, dx: 1.5), normal: normal)
        #expect(shifted.pairs.isEmpty && shifted.unpaired.allSatisfy { $0.reason.contains("in-plane origin differs by 1.5 mm") })
    }

    @Test("a low-dose slice is never paired with itself")
    func notItself() {
        let s = Self.series("mayo-full")
        let r = Pairing.pair(low: s, normal: s)
        #expect(r.pairs.isEmpty && r.unpaired.count == 5)
    }
}
