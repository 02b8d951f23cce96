import ConvNet
import Foundation

/// Weight-space interpolation of two RED-CNNs of the same shape — a fine-tuned model and the model
/// it was fine-tuned from (WiSE-FT, Wortsman et al. 2022): `(1 − t) × base + t × tuned`, every
/// parameter. Models fine-tuned from one start lie in one basin, so the straight line between them
/// stays a good network; part of the way along it often keeps what the base did well (here: the
/// smooth-kernel quarter dose the phantom-trained model restores best) and most of what fine-tuning
/// gained (real anatomy, sharp kernels).
public enum ModelMerge {
    public enum MergeError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The two models differ in something that is not a weight (width, kernel, normalisation, final ReLU).
        case incompatible(base: String, tuned: String, reason: String)
        case weightOutOfRange(Double)

        public var description: String {
            switch self {
            case .incompatible(let b, let t, let r): return "\(b) and \(t) cannot be merged: \(r)"
            case .weightOutOfRange(let w): return "merge weight \(w) is outside 0…1"
            }
        }
    }

    /// Metadata keys that describe one set of weights and so do not carry over to the merge: the
    /// strength curve (tuned on the other network's output) and the CT-number corrections (already
    /// in the biases, each scaled by its weight).
    public static let perWeightsKeys = [StrengthCurve.metadataKey, "strength_tuned_on", RestoreStrength.tunedViewsKey, "hu_correction"]

    /// `(1 − weight) × base + weight × tuned`. The configurations must match exactly; `names` label
    /// the two in errors (file paths from the CLI).
    /// A model without the noise-level channel merges with one that has it as what it is: the same
    /// network with zero weights on the channel (`REDCNN.addingNoiseLevelChannel`).
    public static func interpolate(base: REDCNN, tuned: REDCNN, weight: Double,
                                   names: (base: String, tuned: String) = ("base", "tuned")) throws -> REDCNN {
        guard weight.isFinite, weight >= 0, weight <= 1 else { throw MergeError.weightOutOfRange(weight) }
        var base = base, tuned = tuned
        if base.config.noiseLevelChannel != tuned.config.noiseLevelChannel {
            if base.config.noiseLevelChannel { tuned = tuned.addingNoiseLevelChannel() } else { base = base.addingNoiseLevelChannel() }
        }
        let a = base.config, b = tuned.config
        var differences: [String] = []
        if a.width != b.width { differences.append("width \(a.width) against \(b.width)") }
        if a.kernel != b.kernel { differences.append("kernel \(a.kernel) against \(b.kernel)") }
        if a.finalReLU != b.finalReLU { differences.append("final ReLU \(a.finalReLU) against \(b.finalReLU)") }
        if a.huOffset != b.huOffset || a.huScale != b.huScale {
            differences.append("normalisation (HU + \(a.huOffset))/\(a.huScale) against (HU + \(b.huOffset))/\(b.huScale)")
        }
        guard differences.isEmpty, base.parameters.count == tuned.parameters.count else {
            throw MergeError.incompatible(base: names.base, tuned: names.tuned,
                                          reason: differences.isEmpty ? "parameter counts differ" : differences.joined(separator: "; "))
        }
        let merged = REDCNN(config: a, initialization: .gaussian(sigma: 0), workspace: base.workspace)
        let t = Float(weight), s = 1 - t
        for i in merged.parameters.indices {
            merged.parameters[i] = s * base.parameters[i] + t * tuned.parameters[i]
        }
        return merged
    }

    /// The merged model's metadata: the tuned model's provenance without what belonged to its own
    /// weights, plus a `merged_from` line that names both fingerprints and the weight.
    public static func metadata(base: (name: String, model: REDCNN, metadata: [String: String]),
                                tuned: (name: String, model: REDCNN, metadata: [String: String]),
                                weight: Double) -> [String: String] {
        var meta = tuned.metadata
        for key in perWeightsKeys { meta[key] = nil }
        for key in ["format", "architecture", "width", "kernel", "final_relu", "hu_offset", "hu_scale", NoiseLevel.metadataKey] { meta[key] = nil }
        let line = String(format: "%.3g × %@ (fingerprint %@) + %.3g × %@ (fingerprint %@)",
                          1 - weight, (base.name as NSString).lastPathComponent, ModelFile.fingerprint(base.model),
                          weight, (tuned.name as NSString).lastPathComponent, ModelFile.fingerprint(tuned.model))
        meta["merged_from"] = line
        return meta
    }
}
