import Foundation

/// A low-dose slice and its normal-dose partner.
public struct SlicePair: Sendable, Equatable {
    public var low: SliceInfo
    public var normal: SliceInfo
    /// How they were matched: "source" (Source Image Sequence) or "position".
    public var method: String
    /// The normal-dose series the pair belongs to (validation splits by series).
    public var seriesUID: String
}

public struct PairingResult: Sendable {
    public var pairs: [SlicePair]
    /// Low-dose slices without a partner (file and reason).
    public var unpaired: [Rejection]
}

/// Pairs low-dose slices with normal-dose slices: through Source Image Sequence when one was
/// derived from the other; otherwise by frame of reference (the study where a file has none) and
/// slice position. Never by file name.
public enum Pairing {
    /// Positions closer than this (mm) along the normal, with the same in-plane origin, match.
    public static let positionTolerance = 0.05

    public static func pair(low: [SeriesInfo], normal: [SeriesInfo]) -> PairingResult {
        var bySource: [String: (SliceInfo, String)] = [:]
        var byPosition: [String: [(SliceInfo, String)]] = [:]
        for series in normal {
            for s in series.slices {
                bySource[s.referenceKey] = (s, series.seriesInstanceUID)
                byPosition[placeKey(s), default: []].append((s, series.seriesInstanceUID))
            }
        }
        var pairs: [SlicePair] = []
        var unpaired: [Rejection] = []
        for series in low {
            for s in series.slices {
                if let ref = s.sourceReference, let (n, uid) = bySource[ref] {
                    pairs.append(SlicePair(low: s, normal: n, method: "source", seriesUID: uid))
                    continue
                }
                let candidates = (byPosition[placeKey(s)] ?? []).filter { c in
                    guard let a = s.normalPosition, let b = c.0.normalPosition else { return false }
                    return abs(a - b) < positionTolerance && c.0.pixel.rows == s.pixel.rows && c.0.pixel.columns == s.pixel.columns
                        && c.0.sopInstanceUID != s.sopInstanceUID
                }
                if let (n, uid) = candidates.first {
                    pairs.append(SlicePair(low: s, normal: n, method: "position", seriesUID: uid))
                } else {
                    let why = s.normalPosition == nil ? "no position and no Source Image Sequence"
                        : String(format: "no normal-dose slice at position %.2f mm in the same frame of reference", s.normalPosition!)
                    unpaired.append(Rejection(file: s.file, reason: why))
                }
            }
        }
        return PairingResult(pairs: pairs, unpaired: unpaired)
    }

    /// Frame of reference (or study) plus in-plane position, rounded: slices that can match.
    static func placeKey(_ s: SliceInfo) -> String {
        let space = s.frameOfReferenceUID ?? ("study:" + (s.studyInstanceUID ?? ""))
        let p = s.position ?? []
        let inPlane = p.count == 3 && s.orientation != nil
            ? String(format: "%.1f/%.1f", (p[0] * 10).rounded() / 10, (p[1] * 10).rounded() / 10) : "?"
        return space + "|" + inPlane
    }
}
