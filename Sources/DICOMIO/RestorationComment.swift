import Foundation

/// The Image Comments (0020,4000) LowDoseCT writes into each restored slice, and its reading back.
/// One place for the format, so the restore that writes it and the report that reads it agree:
///
///     Denoised by LowDoseCT RED-CNN; not the original acquisition                                  (strength 1)
///     Denoised by LowDoseCT RED-CNN at strength 0.62 (removed noise 11.9 HU); not the original acquisition
///
/// Strength α blends the network output with the input (α = 1: the network alone); the removed
/// noise is what the network took away in uniform tissue, the quantity an `auto` curve reads α from.
public struct RestorationComment: Sendable, Equatable {
    public static let prefix = "Denoised by LowDoseCT RED-CNN"
    static let suffix = "; not the original acquisition"

    /// α this slice was restored with.
    public var strength: Double
    /// Noise (HU) the network removed in uniform tissue, when it was measured (strength `auto`).
    public var removedNoise: Double?

    public init(strength: Double, removedNoise: Double? = nil) {
        self.strength = strength
        self.removedNoise = removedNoise
    }

    /// The comment of a restore at strength 1 (the network's output as it is), written series-wide.
    public static let plainText = prefix + suffix

    /// The per-slice comment, written whenever the strength is not the identity (`auto` included,
    /// where a slice may get α 1).
    public var text: String {
        Self.prefix + String(format: " at strength %.2f", strength)
            + (removedNoise.map { String(format: " (removed noise %.1f HU)", $0) } ?? "") + Self.suffix
    }

    /// Reads a comment LowDoseCT wrote; nil for any other text (a comment of another tool, free
    /// text a site added), which is never echoed anywhere.
    public static func parse(_ comment: String?) -> RestorationComment? {
        guard let comment, comment.hasPrefix(prefix) else { return nil }
        let rest = comment.dropFirst(prefix.count)
        if rest.hasPrefix(suffix) || rest.isEmpty { return RestorationComment(strength: 1) }
        guard rest.hasPrefix(" at strength ") else { return nil }
        let fields = rest.dropFirst(" at strength ".count)
        let number = fields.prefix { "0123456789.-+eE".contains($0) }
        guard let alpha = Double(number), alpha.isFinite else { return nil }
        var noise: Double?
        let after = fields.dropFirst(number.count)
        if after.hasPrefix(" (removed noise ") {
            let value = after.dropFirst(" (removed noise ".count).prefix { "0123456789.-+eE".contains($0) }
            noise = Double(value).flatMap { $0.isFinite ? $0 : nil }
        }
        return RestorationComment(strength: alpha, removedNoise: noise)
    }
}
