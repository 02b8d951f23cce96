/// Everything that can go wrong reading or writing DICOM. Each case names the file and carries
/// the evidence (tag, what was expected, what was found), so a message can say exactly what is wrong.
public enum DICOMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist or cannot be listed.
    case notFound(path: String)
    /// DCMTK could not parse the file (truncated, corrupt, or not DICOM after all).
    case unreadable(file: String, reason: String)
    /// The file ends before its last attribute (an interrupted copy or transfer).
    case truncated(file: String)
    /// A required attribute is absent.
    case missingAttribute(file: String, tag: Tag, name: String)
    /// An attribute is present but its value cannot be used.
    case invalidAttribute(file: String, tag: Tag, value: String, expected: String)
    /// The image has no Pixel Data element.
    case noPixelData(file: String)
    /// Pixel Data is shorter than Rows × Columns × frames.
    case shortPixelData(file: String, expected: Int, found: Int)
    /// Not a grey-scale image (RGB, palette, YBR …).
    case unsupportedPhotometric(file: String, found: String)
    /// Bit depth, samples per pixel or similar outside what CT uses.
    case unsupportedPixelFormat(file: String, reason: String)
    /// The codec failed on the compressed pixel data.
    case undecodable(file: String, transferSyntax: String, reason: String)
    /// Saving or renaming an output failed.
    case writeFailed(file: String, reason: String)
    /// The slices handed to the writer do not fit the series (programmer or input error).
    case inconsistentSeries(file: String, reason: String)
    /// The machine lacks something DCMTK needs (data dictionary).
    case environment(reason: String)

    /// The file the error is about ("" for environment errors).
    public var file: String {
        switch self {
        case .notFound(let f), .unreadable(let f, _), .truncated(let f), .missingAttribute(let f, _, _),
             .invalidAttribute(let f, _, _, _), .noPixelData(let f), .shortPixelData(let f, _, _),
             .unsupportedPhotometric(let f, _), .unsupportedPixelFormat(let f, _),
             .undecodable(let f, _, _), .writeFailed(let f, _), .inconsistentSeries(let f, _):
            return f
        case .environment: return ""
        }
    }

    /// What is wrong, without the file name.
    public var reason: String {
        switch self {
        case .notFound: return "no such file or folder"
        case .unreadable(_, let r): return "not readable as DICOM: \(r)"
        case .truncated: return "truncated: the file ends before its last attribute"
        case .missingAttribute(_, let tag, let name): return "missing \(name) \(tag)"
        case .invalidAttribute(_, let tag, let value, let expected):
            return "invalid value '\(value)' of \(tag): expected \(expected)"
        case .noPixelData: return "no Pixel Data (7FE0,0010)"
        case .shortPixelData(_, let expected, let found):
            return "pixel data too short: \(found) values, Rows × Columns × frames needs \(expected)"
        case .unsupportedPhotometric(_, let found):
            return "photometric interpretation \(found) is not supported (CT needs MONOCHROME1 or MONOCHROME2)"
        case .unsupportedPixelFormat(_, let r): return "unsupported pixel format: \(r)"
        case .undecodable(_, let ts, let r): return "cannot decode \(ts) pixel data: \(r)"
        case .writeFailed(_, let r): return "write failed: \(r)"
        case .inconsistentSeries(_, let r): return r
        case .environment(let r): return r
        }
    }

    public var description: String { file.isEmpty ? reason : "\(file): \(reason)" }
}
