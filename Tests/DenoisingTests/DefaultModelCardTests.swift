@testable import Denoising
import Foundation
import Testing

/// The bundled model and docs/model-card.md must describe the same weights: a card left behind by
/// a new model (or a model copied over without its card) fails here.
@Suite("the bundled model matches its model card")
struct DefaultModelCardTests {
    @Test("the card names the bundled model's fingerprint and, when it has one, its strength curve and HU correction")
    func cardMatchesModel() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let (model, metadata) = try ModelFile.load(root + "/Models/redcnn-default.safetensors")
        let card = try String(contentsOfFile: root + "/docs/model-card.md", encoding: .utf8)
        let fingerprint = ModelFile.fingerprint(model)
        #expect(card.contains("`\(fingerprint)`"), "docs/model-card.md does not name the bundled model's fingerprint \(fingerprint)")
        if let curve = metadata[StrengthCurve.metadataKey] {
            #expect(card.contains(curve), "docs/model-card.md does not give the bundled strength curve \(curve)")
            // The curve parses (restore would refuse the bundled model otherwise) and is what a restore
            // without --strength uses.
            let strength = try RestoreStrength.resolve(nil, metadata: metadata, model: "bundled")
            #expect(strength == .auto(try StrengthCurve(parsing: curve)))
        }
        if let correction = metadata["hu_correction"] {
            #expect(card.contains("hu_correction") || card.contains(correction), "the card says nothing of the HU correction \(correction)")
        }
    }
}
