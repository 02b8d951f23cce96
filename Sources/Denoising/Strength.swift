import Foundation
import ImageQuality

/// How much of the network's correction a restored slice keeps:
/// `restored = input + α · (network − input)`. α = 1 is the network's output as it is, α = 0 the
/// input; 0.5 keeps half the correction (what a CT vendor's "50 % iterative" blend means).
///
/// `auto` picks α per slice from the noise the network removed (`NoiseEstimate.removed`), through
/// a curve tuned on paired data (`ldct tune`, `StrengthTuner`) and stored in the model file. It
/// needs nothing but the image: a quiet slice gets a gentle correction, a noisy one a full one.
public enum RestoreStrength: Sendable, Equatable, CustomStringConvertible {
    case fixed(Float)
    case auto(StrengthCurve)

    /// α of a slice whose removed noise is `sigma` (HU; nil when it could not be measured, which
    /// gives the network's output unchanged under `auto`).
    public func alpha(removedNoise sigma: Float?) -> Float {
        switch self {
        case .fixed(let a): return a
        case .auto(let curve): return sigma.map(curve.alpha) ?? 1
        }
    }

    /// True when the output is the network's output untouched (α = 1 everywhere).
    public var isIdentity: Bool { self == .fixed(1) }

    /// For series descriptions: "auto", "0.6".
    public var shortLabel: String {
        switch self {
        case .fixed(let a): return StrengthCurve.format(a)
        case .auto: return "auto"
        }
    }

    /// For logs, DerivationDescription and the restore manifest: "1", "0.6", "auto(6:0.2,…)".
    public var description: String {
        switch self {
        case .fixed(let a): return StrengthCurve.format(a)
        case .auto(let curve): return "auto(\(curve))"
        }
    }
}

/// α as a function of the removed noise σ (HU): piecewise linear in ln σ between knots sorted by
/// σ, constant beyond the first and the last. Written in a model's safetensors metadata under
/// `strength_curve` as "σ:α,σ:α,…" (e.g. "6:0.25,12:0.5,24:0.8,48:1.1").
public struct StrengthCurve: Sendable, Equatable, CustomStringConvertible {
    public struct Knot: Sendable, Equatable {
        public var sigma: Float
        public var alpha: Float
        public init(sigma: Float, alpha: Float) {
            self.sigma = sigma
            self.alpha = alpha
        }
    }

    public static let metadataKey = "strength_curve"
    /// The range any α is kept within (fixed or tuned): beyond 2 the correction is amplified more
    /// than the network ever saw.
    public static let alphaRange: ClosedRange<Float> = 0...2

    public private(set) var knots: [Knot]

    /// Knots with increasing σ > 0 and α within `alphaRange`; at least one.
    public init(knots: [Knot]) throws {
        guard !knots.isEmpty else { throw StrengthError.invalidCurve(text: "", reason: "no knots") }
        for (i, k) in knots.enumerated() {
            guard k.sigma.isFinite, k.sigma > 0 else {
                throw StrengthError.invalidCurve(text: "\(k.sigma)", reason: "noise σ must be a positive number of HU")
            }
            guard k.alpha.isFinite, StrengthCurve.alphaRange.contains(k.alpha) else {
                throw StrengthError.invalidCurve(text: "\(k.alpha)", reason: "strength must be within 0…2")
            }
            if i > 0, k.sigma <= knots[i - 1].sigma {
                throw StrengthError.invalidCurve(text: "\(k.sigma)", reason: "knots must have increasing σ")
            }
        }
        self.knots = knots
    }

    /// Parses "σ:α,σ:α,…".
    public init(parsing text: String) throws {
        var list: [Knot] = []
        for part in text.split(separator: ",") {
            let pair = part.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let s = Float(pair[0]), let a = Float(pair[1]) else {
                throw StrengthError.invalidCurve(text: text, reason: "expected σ:α pairs separated by commas, found '\(part)'")
            }
            list.append(Knot(sigma: s, alpha: a))
        }
        do { try self.init(knots: list) } catch StrengthError.invalidCurve(_, let reason) {
            throw StrengthError.invalidCurve(text: text, reason: reason)
        }
    }

    public func alpha(_ sigma: Float) -> Float {
        guard let first = knots.first, let last = knots.last else { return 1 }
        guard sigma.isFinite, sigma > first.sigma else { return first.alpha }
        if sigma >= last.sigma { return last.alpha }
        let x = log(sigma)
        for i in 1..<knots.count where sigma <= knots[i].sigma {
            let (a, b) = (knots[i - 1], knots[i])
            let t = (x - log(a.sigma)) / (log(b.sigma) - log(a.sigma))
            return a.alpha + t * (b.alpha - a.alpha)
        }
        return last.alpha
    }

    public var description: String {
        knots.map { "\(StrengthCurve.format($0.sigma)):\(StrengthCurve.format($0.alpha))" }.joined(separator: ",")
    }

    /// Up to 3 decimals, no trailing zeros ("0.25", "1", "12.5").
    static func format(_ v: Float) -> String {
        var s = String(format: "%.3f", Double(v))
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}

public enum StrengthError: Error, Equatable, CustomStringConvertible {
    /// A `--strength` value or a `strength_curve` that is not what it should be.
    case invalidCurve(text: String, reason: String)
    /// `--strength auto` with a model whose file holds no tuned curve.
    case noCurve(model: String)
    /// `ldct tune` found too few usable pairs.
    case notEnoughPairs(found: Int, needed: Int)

    public var description: String {
        switch self {
        case .invalidCurve(let text, let reason): return "strength '\(text)': \(reason)"
        case .noCurve(let model):
            return "\(model) has no tuned strength curve (metadata '\(StrengthCurve.metadataKey)'); tune one with `ldct tune` or give --strength NUMBER"
        case .notEnoughPairs(let found, let needed):
            return "\(found) usable low/normal-dose pair(s) with soft tissue, at least \(needed) needed to tune a strength curve"
        }
    }
}

/// The noise a network removed from a slice, measured without a reference: the robust standard
/// deviation (1.4826 × median absolute deviation) of input − output over soft tissue, i.e. output
/// pixels within −60…160 HU whose whole 5×5 neighbourhood is too (edges, where the correction also
/// holds structure, are left out), excluding padding. Nil below `minimumPixels` such pixels.
public enum NoiseEstimate {
    public static let tissueRange: ClosedRange<Float> = -60...160
    public static let minimumPixels = 500

    public static func removed(input: [Float], output: [Float], rows: Int, columns: Int,
                               paddingMask: [UInt8] = []) -> Float? {
        let n = rows * columns
        guard n > 0, input.count == n, output.count == n else { return nil }
        // Tissue mask, then eroded by 2 px in rows and columns (a 5×5 square).
        var mask = [UInt8](repeating: 0, count: n)
        for i in 0..<n where tissueRange.contains(output[i]) && (paddingMask.isEmpty || paddingMask[i] == 0) { mask[i] = 1 }
        mask = erode(mask, rows: rows, columns: columns, radius: 2)
        var d: [Float] = []
        d.reserveCapacity(n / 4)
        for i in 0..<n where mask[i] != 0 { d.append(input[i] - output[i]) }
        guard d.count >= minimumPixels else { return nil }
        let m = median(&d)
        for i in d.indices { d[i] = abs(d[i] - m) }
        return 1.4826 * median(&d)
    }

    /// Square erosion (side 2·radius + 1) through the box mean ImageQuality's masks use: a pixel
    /// stays when its whole neighbourhood is set; pixels within `radius` of the border are dropped.
    static func erode(_ mask: [UInt8], rows: Int, columns: Int, radius: Int) -> [UInt8] {
        let count = Regions.boxMean(mask.map { Float($0) }, rows: rows, columns: columns, radius: radius)
        var out = [UInt8](repeating: 0, count: mask.count)
        for y in radius..<max(radius, rows - radius) {
            for x in radius..<max(radius, columns - radius) where count[y * columns + x] > 0.9999 { out[y * columns + x] = 1 }
        }
        return out
    }

    /// The median (mean of the two middle values for an even count); reorders `values`.
    static func median(_ values: inout [Float]) -> Float {
        values.sort()
        let k = values.count / 2
        return values.count % 2 == 1 ? values[k] : (values[k - 1] + values[k]) / 2
    }
}

extension RestoreStrength {
    /// Metadata key of the views an `auto` curve was fitted on (`ldct tune --ensemble N`; absent = 1).
    public static let tunedViewsKey = "strength_tuned_views"

    /// A note for the log when an `auto` curve was tuned on another number of views than a restore
    /// averages (`views`): the curve reads α from the noise the network removed, which differs with the
    /// views. Nil under a fixed strength or when the views agree. `ldct restore` and `ldct node` log it.
    public func viewsNote(metadata: [String: String], views: Int) -> String? {
        guard case .auto = self else { return nil }
        let tuned = metadata[Self.tunedViewsKey].flatMap(Int.init) ?? 1
        return tuned == views ? nil : "the strength curve was tuned on \(tuned) view(s); this restore averages \(views)"
    }

    /// The strength for a `--strength` value (nil: not given) and a loaded model's metadata:
    /// a number within 0…2; `auto`, which needs the model's tuned curve; not given: `auto` when the
    /// model has a curve, else 1 (the network's output, as models without one always gave).
    public static func resolve(_ option: String?, metadata: [String: String], model: String) throws -> RestoreStrength {
        var curve: StrengthCurve? = nil
        if let text = metadata[StrengthCurve.metadataKey] {
            do { curve = try StrengthCurve(parsing: text) } catch StrengthError.invalidCurve(_, let reason) {
                throw StrengthError.invalidCurve(text: "\(model) metadata \(StrengthCurve.metadataKey)=\(text)", reason: reason)
            }
        }
        guard let option = option?.trimmingCharacters(in: .whitespaces) else { return curve.map { .auto($0) } ?? .fixed(1) }
        if option.lowercased() == "auto" {
            guard let curve else { throw StrengthError.noCurve(model: model) }
            return .auto(curve)
        }
        guard let value = Float(option), value.isFinite, StrengthCurve.alphaRange.contains(value) else {
            throw StrengthError.invalidCurve(text: option, reason: "expected 'auto' or a number from 0 (the input) to 1 (the network's output), at most 2")
        }
        return .fixed(value)
    }
}
