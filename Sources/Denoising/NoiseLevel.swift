import Foundation
import ImageQuality

/// The noise-level input of a RED-CNN with two input channels (FFDNet's idea, Zhang et al. 2018):
/// channel 0 is the slice, channel 1 holds one number per slice, everywhere — the slice's noise
/// measured blind on the low-dose input (`estimate`) divided by `scaleHU`. The same estimator runs
/// when training (on each low-dose slice of a pair) and when restoring, so the network learns what
/// the number means for the kernels and doses it saw.
///
/// Why: a network without it sees a 55-pixel patch and cannot tell how noisy the whole slice is; its
/// strength regresses to the mean dose of each series (attempt 15 of docs/default-model-training.md:
/// the best strength per slice follows the dose, 0.9 at 25 % and 1.1–1.2 at 10 %). Told the noise,
/// it can be gentle on a quiet slice and firm on a noisy one.
///
/// A model without the channel is exactly a model with the channel and zero weights on it
/// (`REDCNN.addingNoiseLevelChannel()`), which is how a fine-tune starts from one.
public enum NoiseLevel {
    /// Metadata key of a two-channel model; its value names the estimator (`estimator`).
    public static let metadataKey = "noise_level_channel"
    /// The estimator's name and definition, written in the model's metadata. A model that names
    /// another estimator is refused (its channel would mean something else).
    public static let estimator = "ldct-blind-v1: 1.4826 MAD of (HU − 3×3 mean) / √(8/9) in soft tissue (7×7 mean −60…160 HU, eroded 2 px), ÷ 25 HU"
    /// Channel value = σ / scaleHU: typical slices give 0.4 … 4.
    public static let scaleHU: Float = 25
    /// Fewest soft-tissue pixels for the soft-tissue estimate; below it the body (7×7 mean above
    /// −900 HU) is used, then the whole slice.
    public static let minimumPixels = 500

    /// The slice's noise σ (HU), measured blind: the median absolute deviation of the slice minus
    /// its 3×3 mean (×1.4826, and ÷ √(8/9), which makes it σ for white noise; correlated CT noise
    /// reads lower, the same at training and restoring), over soft tissue. Padding pixels never
    /// count. 0 for a slice with fewer than 9 usable pixels.
    public static func estimate(hu: [Float], rows: Int, columns: Int, paddingMask: [UInt8] = []) -> Float {
        let n = rows * columns
        guard n > 0, hu.count == n else { return 0 }
        let local = Regions.boxMean(hu, rows: rows, columns: columns, radius: 1)
        let wide = Regions.boxMean(hu, rows: rows, columns: columns, radius: 3)
        func usable(_ i: Int) -> Bool { paddingMask.isEmpty || paddingMask[i] == 0 }
        /// σ over the pixels `keep` selects (eroded by `radius`) and how many there were.
        func sigma(_ keep: (Int) -> Bool, erodeBy radius: Int) -> (sigma: Float, pixels: Int)? {
            var mask = [UInt8](repeating: 0, count: n)
            for i in 0..<n where usable(i) && keep(i) { mask[i] = 1 }
            if radius > 0 { mask = NoiseEstimate.erode(mask, rows: rows, columns: columns, radius: radius) }
            var d: [Float] = []
            d.reserveCapacity(n / 4)
            for i in 0..<n where mask[i] != 0 { d.append(hu[i] - local[i]) }
            guard d.count >= 9 else { return nil }
            let m = NoiseEstimate.median(&d)
            for i in d.indices { d[i] = abs(d[i] - m) }
            return (1.4826 * NoiseEstimate.median(&d) / (8.0 / 9.0 as Float).squareRoot(), d.count)
        }
        let tissue = sigma({ (-60...160).contains(wide[$0]) }, erodeBy: 2)
        if let tissue, tissue.pixels >= minimumPixels { return tissue.sigma }
        if let body = sigma({ wide[$0] > -900 }, erodeBy: 0), body.pixels >= minimumPixels { return body.sigma }
        return sigma({ _ in true }, erodeBy: 0)?.sigma ?? 0
    }

    /// The channel's value for a slice with blind noise `sigma` (HU).
    public static func channelValue(sigma: Float) -> Float { sigma / scaleHU }
}
