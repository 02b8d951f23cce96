import ConvNet
import DICOMIO
import Foundation

/// Restores whole CT slices with a RED-CNN: HU → (HU + 1024)/4096 → network → HU.
///
/// Memory stays bounded for any slice size: the network keeps three activations plus the one it
/// computes, and every convolution's column matrix is computed in bands within the model's
/// workspace budget (64 MiB by default), so a 512² slice at width 96 stays well under 1 GiB.
/// Buffers are reused across slices; OpenBLAS uses every core.
public final class SliceRestorer {
    public let model: REDCNN
    /// HU fed to the network in place of padding / outside-field-of-view pixels (air), so the
    /// network sees no artificial −3024 HU edge; the original values are put back afterwards.
    public var paddingFillHU: Float = -1000
    /// How much of the network's correction is kept (default: all of it, the network's output).
    public var strength: RestoreStrength
    /// Views the network's output is averaged over (`ViewEnsemble`; default one, the slice as it is).
    public var ensemble: ViewEnsemble

    public init(model: REDCNN, strength: RestoreStrength = .fixed(1), ensemble: ViewEnsemble = .single) {
        self.model = model
        self.strength = strength
        self.ensemble = ensemble
    }

    /// What restoring one slice did: the strength used and the noise the network removed.
    public struct Detail: Sendable, Equatable {
        /// α of `input + α·(network − input)`.
        public var alpha: Float
        /// `NoiseEstimate.removed` (HU), when measured (under `auto`).
        public var removedNoise: Float?
        /// The blind noise σ of the input (HU) given to a model with the noise-level channel.
        public var noiseLevel: Float? = nil
    }

    /// The restored slice. Padding pixels keep their original HU; the mask is carried over.
    public func restore(_ image: SliceImage) -> SliceImage { restoreWithDetail(image).image }

    /// The restored slice with the strength it got.
    public func restoreWithDetail(_ image: SliceImage) -> (image: SliceImage, detail: Detail) {
        let level = model.config.noiseLevelChannel ? noiseLevel(image) : nil
        let network = networkOutput(image, noiseLevel: level)
        var sigma: Float? = nil
        if case .auto = strength {
            sigma = NoiseEstimate.removed(input: image.hu, output: network.hu, rows: image.rows, columns: image.columns,
                                          paddingMask: image.paddingMask)
        }
        let alpha = strength.alpha(removedNoise: sigma)
        guard alpha != 1 else { return (network, Detail(alpha: 1, removedNoise: sigma, noiseLevel: level)) }
        var out = network
        for i in out.hu.indices { out.hu[i] = image.hu[i] + alpha * (network.hu[i] - image.hu[i]) }
        return (out, Detail(alpha: alpha, removedNoise: sigma, noiseLevel: level))
    }

    /// The blind noise σ (HU) of a slice, as the noise-level channel gets it (`NoiseLevel.estimate`).
    public func noiseLevel(_ image: SliceImage) -> Float {
        NoiseLevel.estimate(hu: image.hu, rows: image.rows, columns: image.columns, paddingMask: image.paddingMask)
    }

    /// The network's output for a slice, in HU (α = 1; the mean over the ensemble's views). Padding
    /// pixels keep their original HU. A model with the noise-level channel gets `noiseLevel` (HU;
    /// nil: measured on the slice).
    public func networkOutput(_ image: SliceImage, noiseLevel level: Float? = nil) -> SliceImage {
        let (h, w) = (image.rows, image.columns)
        let minimum = model.config.minimumInput
        // Slices smaller than the network's minimum are edge-padded, then cropped back.
        let ph = max(h, minimum), pw = max(w, minimum)
        var input = Tensor(zeros: [1, model.config.inputChannels, ph, pw])
        let hasMask = !image.paddingMask.isEmpty
        for r in 0..<ph {
            let sr = min(r, h - 1)
            for c in 0..<pw {
                let sc = min(c, w - 1)
                let i = sr * w + sc
                let hu = hasMask && image.paddingMask[i] != 0 ? paddingFillHU : image.hu[i]
                input.data[r * pw + c] = model.normalize(hu)
            }
        }
        if model.config.noiseLevelChannel {
            let value = NoiseLevel.channelValue(sigma: level ?? noiseLevel(image))
            for i in ph * pw..<2 * ph * pw { input.data[i] = value }
        }
        let output = ensemble.run(input) { model.infer($0) }
        var out = image
        for r in 0..<h {
            for c in 0..<w {
                let i = r * w + c
                if hasMask && image.paddingMask[i] != 0 { continue }
                out.hu[i] = model.denormalize(output.data[r * pw + c])
            }
        }
        return out
    }
}
