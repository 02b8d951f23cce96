import Foundation

/// How a low-dose slice found its normal-dose partner.
public enum PairingMethod: String, Sendable, CaseIterable, Codable {
    /// The low-dose slice's Source Image Sequence names the normal-dose instance (it was derived
    /// from it, e.g. by `ldct simulate`).
    case source
    /// Same frame of reference (or study, where a file has none) and the same geometry.
    case frame
    /// Geometry alone, across studies and frames of reference: what public low-dose sets need,
    /// whose two doses are separate studies with unrelated UIDs (the Mayo / TCIA layout).
    case position

    public var label: String {
        switch self {
        case .source: return "through Source Image Sequence"
        case .frame: return "by frame of reference and position"
        case .position: return "by geometry alone"
        }
    }
}

/// Which ways pairing may take (`--pair-by`).
public enum PairingMode: String, Sendable, CaseIterable, Codable {
    /// source → frame → position, per slice.
    case auto
    case source
    case frame
    case position

    public static let help = "How low-dose slices find their normal-dose partners: auto (Source Image Sequence, else frame of reference and position, else geometry alone), source, frame or position."
}

/// A low-dose slice and its normal-dose partner.
public struct SlicePair: Sendable, Equatable {
    public var low: SliceInfo
    public var normal: SliceInfo
    public var method: PairingMethod
    /// The normal-dose series the pair belongs to (validation splits by series).
    public var seriesUID: String
}

public struct PairingResult: Sendable {
    public var pairs: [SlicePair]
    /// Low-dose slices without a partner (file and reason).
    public var unpaired: [Rejection]

    /// Pairs found each way (every method present, zero included).
    public var counts: [PairingMethod: Int] {
        var c = Dictionary(uniqueKeysWithValues: PairingMethod.allCases.map { ($0, 0) })
        for p in pairs { c[p.method, default: 0] += 1 }
        return c
    }

    /// "12 pair(s): 0 through Source Image Sequence, 0 by frame of reference and position, 12 by
    /// geometry alone; 1 unpaired".
    public var summary: String {
        let c = counts
        return "\(pairs.count) pair(s): " + PairingMethod.allCases.map { "\(c[$0] ?? 0) \($0.label)" }.joined(separator: ", ")
            + "; \(unpaired.count) unpaired"
    }
}

/// Pairs low-dose slices with normal-dose slices, never by file name:
/// 1. **source**: the low-dose slice's Source Image Sequence names a normal-dose instance;
/// 2. **frame**: a normal-dose slice in the same frame of reference (the study where a file has
///    none) with the same geometry;
/// 3. **position**: the same geometry in any study — for sets whose two doses are separate studies
///    with unrelated UIDs.
///
/// "The same geometry": same orientation, rows, columns and pixel spacing, in-plane origin within a
/// pixel, position along the slice normal within a quarter of the normal-dose series' slice step.
/// Among those, a partner must have the same convolution kernel and slice thickness (where both
/// headers state them); two remaining candidates are ambiguous. Every refusal says why; nothing
/// is guessed.
public enum Pairing {
    /// Position tolerance along the normal as a share of the normal-dose series' slice step.
    public static let positionToleranceShare = 0.25
    /// Used when a series has one slice and no thickness.
    public static let defaultSliceStep = 1.0

    private struct Candidate {
        var slice: SliceInfo
        var series: SeriesInfo
        var position: Double
        var tolerance: Double
        var space: String
    }

    public static func pair(low: [SeriesInfo], normal: [SeriesInfo], mode: PairingMode = .auto) -> PairingResult {
        var bySource: [String: (SliceInfo, String)] = [:]
        var positioned: [Candidate] = []
        for series in normal {
            let tolerance = positionToleranceShare * sliceStep(series)
            for s in series.slices {
                bySource[s.referenceKey] = (s, series.seriesInstanceUID)
                if let p = s.normalPosition {
                    positioned.append(Candidate(slice: s, series: series, position: p, tolerance: tolerance, space: space(s)))
                }
            }
        }
        positioned.sort { $0.position < $1.position }
        let widest = positioned.map(\.tolerance).max() ?? 0

        var pairs: [SlicePair] = []
        var unpaired: [Rejection] = []
        for series in low {
            for s in series.slices {
                if mode == .auto || mode == .source, let ref = s.sourceReference, let (n, uid) = bySource[ref] {
                    pairs.append(SlicePair(low: s, normal: n, method: .source, seriesUID: uid))
                    continue
                }
                if mode == .source {
                    unpaired.append(Rejection(file: s.file, reason: s.sourceReference == nil
                        ? "no Source Image Sequence (--pair-by source)"
                        : "its Source Image Sequence names an instance that is not among the normal-dose files"))
                    continue
                }
                guard let z = s.normalPosition else {
                    unpaired.append(Rejection(file: s.file, reason: "no position and no Source Image Sequence"))
                    continue
                }
                // Normal-dose slices near this position (by the widest tolerance), then each by its own.
                var lo = 0, hi = positioned.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if positioned[mid].position < z - widest { lo = mid + 1 } else { hi = mid }
                }
                var near: [Candidate] = []
                var k = lo
                while k < positioned.count, positioned[k].position <= z + widest {
                    let c = positioned[k]
                    if abs(c.position - z) <= c.tolerance, c.slice.referenceKey != s.referenceKey { near.append(c) }
                    k += 1
                }
                let sameSpace = near.filter { $0.space == space(s) }
                var outcome = match(s, lowSeries: series, among: mode == .position ? near : sameSpace)
                if mode == .auto, case .failure = outcome, sameSpace.count < near.count {
                    let other = match(s, lowSeries: series, among: near.filter { $0.space != space(s) })
                    if case .success = other { outcome = other }
                    else if sameSpace.isEmpty { outcome = other }
                }
                switch outcome {
                case .success(let c):
                    let method: PairingMethod = c.space == space(s) && mode != .position ? .frame : .position
                    pairs.append(SlicePair(low: s, normal: c.slice, method: method, seriesUID: c.series.seriesInstanceUID))
                case .failure(let why):
                    let reason: String
                    switch why.reason {
                    case .none:
                        reason = String(format: "no normal-dose slice at position %.2f mm", z)
                            + (mode == .frame ? " in the same frame of reference" : mode == .position ? "" : " (same frame of reference or same geometry)")
                    case .some(let r): reason = r
                    }
                    unpaired.append(Rejection(file: s.file, reason: reason))
                }
            }
        }
        return PairingResult(pairs: pairs, unpaired: unpaired)
    }

    private struct NoMatch: Error { var reason: String? }

    /// The one candidate with the same geometry, kernel and thickness; or why there is none.
    private static func match(_ s: SliceInfo, lowSeries: SeriesInfo, among candidates: [Candidate]) -> Result<Candidate, NoMatch> {
        guard !candidates.isEmpty else { return .failure(NoMatch(reason: nil)) }
        let checks: [(Candidate) -> String?] = [
            { c in sameOrientation(s, c.slice) ? nil : "the normal-dose slice at this position has another orientation" },
            { c in c.slice.pixel.rows == s.pixel.rows && c.slice.pixel.columns == s.pixel.columns ? nil
                : "the normal-dose slice at this position is \(c.slice.pixel.columns)×\(c.slice.pixel.rows), this one \(s.pixel.columns)×\(s.pixel.rows)" },
            { c in
                guard let a = s.pixelSpacing, let b = c.slice.pixelSpacing else { return nil }
                return abs(a[0] - b[0]) <= 1e-3 && abs(a[1] - b[1]) <= 1e-3 ? nil
                    : String(format: "pixel spacing differs: %.4g×%.4g mm here, %.4g×%.4g mm in the normal-dose slice at this position",
                             a[0], a[1], b[0], b[1]) },
            { c in
                let (dr, dc) = inPlaneOffset(s, c.slice)
                let sp = s.pixelSpacing ?? [1, 1]
                return abs(dr) <= sp[1] && abs(dc) <= sp[0] ? nil
                    : String(format: "in-plane origin differs by %.1f mm from the normal-dose slice at this position (more than a pixel)",
                             (dr * dr + dc * dc).squareRoot()) },
            { c in
                guard let a = lowSeries.convolutionKernel, let b = c.series.convolutionKernel, a != b else { return nil }
                return "kernel \(a) here, \(b) in the normal-dose slice at this position" },
            { c in
                guard let a = s.sliceThickness, let b = c.slice.sliceThickness, abs(a - b) > 1e-3 else { return nil }
                return String(format: "slice thickness %g mm here, %g mm in the normal-dose slice at this position", a, b) },
        ]
        // Each candidate is refused for the first check it fails; with none left, every distinct
        // reason is reported.
        var remaining: [Candidate] = []
        var reasons: [String] = []
        for c in candidates {
            if let why = checks.lazy.compactMap({ $0(c) }).first {
                if !reasons.contains(why) { reasons.append(why) }
            } else {
                remaining.append(c)
            }
        }
        if remaining.isEmpty { return .failure(NoMatch(reason: reasons.joined(separator: "; "))) }
        if remaining.count > 1 {
            let files = remaining.prefix(3).map { ($0.slice.file as NSString).lastPathComponent }.joined(separator: ", ")
            return .failure(NoMatch(reason: "ambiguous: \(remaining.count) normal-dose slices from \(Set(remaining.map(\.series.seriesInstanceUID)).count) series match (\(files)); give only one of them as normal dose"))
        }
        return .success(remaining[0])
    }

    /// The frame of reference, or the study where a file has none.
    static func space(_ s: SliceInfo) -> String {
        s.frameOfReferenceUID.map { "for:" + $0 } ?? ("study:" + (s.studyInstanceUID ?? ""))
    }

    /// The median step between slice positions of a series; else its thickness; else 1 mm.
    public static func sliceStep(_ series: SeriesInfo) -> Double {
        let z = series.slices.compactMap(\.normalPosition).sorted()
        let steps = zip(z.dropFirst(), z).map { $0 - $1 }.filter { $0 > 1e-3 }.sorted()
        if !steps.isEmpty { return steps[steps.count / 2] }
        if let t = series.sliceThickness ?? series.slices.first?.sliceThickness, t > 0 { return t }
        return defaultSliceStep
    }

    static func sameOrientation(_ a: SliceInfo, _ b: SliceInfo) -> Bool {
        guard let x = a.orientation, let y = b.orientation else { return a.orientation == nil && b.orientation == nil }
        return zip(x, y).allSatisfy { abs($0 - $1) <= 1e-3 }
    }

    /// Offset of b's origin from a's along a's row and column directions (mm).
    static func inPlaneOffset(_ a: SliceInfo, _ b: SliceInfo) -> (Double, Double) {
        guard let p = a.position, let q = b.position, let o = a.orientation else { return (0, 0) }
        let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]]
        return (d[0] * o[0] + d[1] * o[1] + d[2] * o[2], d[0] * o[3] + d[1] * o[4] + d[2] * o[5])
    }
}
