import CDCMTK
import Foundation

/// Low-level access to one DICOM file through DCMTK (the `CDCMTK` shim).
///
/// Opening reads the header; large values (pixel data) are read lazily on first use, so opening
/// thousands of files to group them into series stays cheap. Not thread-safe: use one
/// `DICOMFile` per thread. Everything that can fail throws `DICOMError` naming the file.
public final class DICOMFile {
    let handle: OpaquePointer
    /// The path it was read from, or the path it is meant for (new files).
    public let path: String

    /// Registers DCMTK's codecs and checks its data dictionary (once per process).
    public static func initialize() throws {
        var err = [CChar](repeating: 0, count: 512)
        if ldct_init(&err, err.count) != 0 {
            throw DICOMError.environment(reason: string(from: err))
        }
    }

    /// Process-wide: reuse freed slice-sized buffers instead of fresh pages (see ldct_dicom.h).
    /// Called once by the command line; measured in docs/benchmarks.md.
    public static func tuneAllocator() { ldct_tune_allocator() }

    /// Opens an existing file. Throws `.unreadable` when DCMTK cannot parse it.
    public init(path: String) throws {
        try DICOMFile.initialize()
        var err = [CChar](repeating: 0, count: 512)
        guard let h = ldct_open(path, &err, err.count) else {
            let reason = DICOMFile.string(from: err)
            if reason.contains("premature end of stream") { throw DICOMError.truncated(file: path) }
            throw DICOMError.unreadable(file: path, reason: reason)
        }
        handle = h
        self.path = path
    }

    /// A new empty file, to be filled with `set` and saved with `save`.
    public init(newFileFor path: String) throws {
        try DICOMFile.initialize()
        guard let h = ldct_new() else {
            throw DICOMError.environment(reason: "could not allocate a DICOM dataset")
        }
        handle = h
        self.path = path
    }

    deinit { ldct_close(handle) }

    /// The top-level dataset.
    public var dataset: DICOMItem { DICOMItem(raw: ldct_dataset(handle), owner: self) }

    /// The file meta information (group 0002: Media Storage SOP Class/Instance UID, transfer
    /// syntax); empty for files stored without one.
    public var metaHeader: DICOMItem { DICOMItem(raw: ldct_meta_header(handle), owner: self) }

    /// Transfer syntax UID the file was stored in ("" for new files).
    public var transferSyntaxUID: String {
        var buf = [CChar](repeating: 0, count: 80)
        _ = ldct_get_transfer_syntax_uid(handle, &buf, buf.count)
        return DICOMFile.string(from: buf)
    }

    /// Rows, columns, frames, bit depth and photometric interpretation of the pixel data.
    public func pixelInfo() throws -> PixelInfo {
        var info = ldct_pixel_info()
        var err = [CChar](repeating: 0, count: 512)
        guard ldct_pixel_info_get(handle, &info, &err, err.count) == 0 else {
            throw DICOMError.invalidAttribute(file: path, tag: .rows, value: "", expected: DICOMFile.string(from: err))
        }
        let photometric = withUnsafeBytes(of: info.photometric) { raw -> String in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        return PixelInfo(rows: Int(info.rows), columns: Int(info.columns), frames: Int(info.frames),
                         samplesPerPixel: Int(info.samples_per_pixel), bitsAllocated: Int(info.bits_allocated),
                         bitsStored: Int(info.bits_stored), highBit: Int(info.high_bit),
                         pixelRepresentation: Int(info.pixel_representation),
                         encapsulated: info.encapsulated != 0,
                         photometric: photometric.trimmingCharacters(in: .whitespaces))
    }

    /// Decodes all frames into stored values (masked to BitsStored, sign-extended), frame after frame.
    public func decodeStoredValues(info: PixelInfo) throws -> [Int32] {
        let count = info.rows * info.columns * info.frames
        var out = [Int32](repeating: 0, count: count)
        var err = [CChar](repeating: 0, count: 512)
        let status = out.withUnsafeMutableBufferPointer { buf in
            ldct_decode_frames(handle, buf.baseAddress, count, &err, err.count)
        }
        guard status == 0 else {
            let reason = DICOMFile.string(from: err)
            let ts = transferSyntaxUID
            if reason.hasPrefix("no Pixel Data") { throw DICOMError.noPixelData(file: path) }
            if reason.contains("premature end of stream") { throw DICOMError.truncated(file: path) }
            if let (found, expected) = DICOMFile.shortCounts(reason) {
                throw DICOMError.shortPixelData(file: path, expected: expected, found: found)
            }
            throw DICOMError.undecodable(file: path, transferSyntax: UID.transferSyntaxNames[ts] ?? ts, reason: reason)
        }
        return out
    }

    /// Writes the file with a fresh meta header in the given transfer syntax. Not atomic by itself:
    /// `AtomicFile` wraps it.
    public func save(to path: String, transferSyntax: OutputTransferSyntax) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard ldct_save(handle, path, transferSyntax.cValue, &err, err.count) == 0 else {
            throw DICOMError.writeFailed(file: path, reason: DICOMFile.string(from: err))
        }
    }

    static func string(from buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { ptr in
            let bytes = UnsafeRawBufferPointer(ptr).prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Parses "pixel data holds N values, Rows x Columns x frames is M".
    static func shortCounts(_ reason: String) -> (Int, Int)? {
        guard reason.hasPrefix("pixel data holds ") else { return nil }
        let numbers = reason.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        return (numbers[0], numbers[numbers.count - 1])
    }
}

/// An item of a DICOM file: the dataset or an item of a sequence. Valid while its file lives.
public struct DICOMItem {
    let raw: OpaquePointer?
    let owner: DICOMFile

    public var file: String { owner.path }

    /// The attribute's value as a string (values joined by `\`, trailing padding removed), or nil when absent.
    public func string(_ tag: Tag) -> String? {
        var buf = [CChar](repeating: 0, count: 1024)
        var status = ldct_get_string(raw, tag.group, tag.element, &buf, buf.count)
        if status == -5 {  // longer than the buffer: retry with the exact size
            let needed = Int(ldct_value_length(raw, tag.group, tag.element)) * 8 + 64
            buf = [CChar](repeating: 0, count: needed)
            status = ldct_get_string(raw, tag.group, tag.element, &buf, buf.count)
        }
        guard status == 0 else { return nil }
        return DICOMFile.string(from: buf).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
    }

    /// The attribute's values split at `\`, each trimmed; nil when absent.
    public func strings(_ tag: Tag) -> [String]? {
        guard let s = string(tag) else { return nil }
        return s.split(separator: "\\", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }

    /// Decimal values (DS, IS, US, FD, …) or nil when absent or not numbers.
    public func doubles(_ tag: Tag) -> [Double]? {
        guard let values = strings(tag), !values.isEmpty else { return nil }
        let parsed = values.map { Double($0) }
        guard parsed.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
        return parsed.map { $0! }
    }

    public func double(_ tag: Tag) -> Double? { doubles(tag)?.first }

    public func int(_ tag: Tag) -> Int? {
        guard let d = double(tag), d.rounded() == d, abs(d) < 1e15 else { return nil }
        return Int(d)
    }

    public func has(_ tag: Tag) -> Bool { ldct_has(raw, tag.group, tag.element) == 1 }

    public func valueLength(_ tag: Tag) -> Int { Int(ldct_value_length(raw, tag.group, tag.element)) }

    /// The items of a sequence attribute (empty when absent).
    public func items(_ tag: Tag) -> [DICOMItem] {
        let n = Int(ldct_seq_count(raw, tag.group, tag.element))
        return (0..<n).compactMap { i in
            ldct_seq_item(raw, tag.group, tag.element, Int32(i)).map { DICOMItem(raw: $0, owner: owner) }
        }
    }

    public func item(_ tag: Tag, _ index: Int = 0) -> DICOMItem? {
        ldct_seq_item(raw, tag.group, tag.element, Int32(index)).map { DICOMItem(raw: $0, owner: owner) }
    }

    /// Tags present at this level, in order.
    public var tags: [Tag] {
        let n = Int(ldct_list_tags(raw, nil, 0))
        var values = [UInt32](repeating: 0, count: n)
        _ = ldct_list_tags(raw, &values, Int32(n))
        return values.map { Tag(UInt16($0 >> 16), UInt16($0 & 0xFFFF)) }
    }

    // MARK: writing

    /// Sets an attribute from its string form; the VR comes from the data dictionary.
    public func set(_ tag: Tag, _ value: String) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard ldct_put_string(raw, tag.group, tag.element, value, &err, err.count) == 0 else {
            throw DICOMError.invalidAttribute(file: owner.path, tag: tag, value: value,
                                              expected: DICOMFile.string(from: err))
        }
    }

    /// Sets a US/SS attribute (Pixel Padding Value and the like), choosing the VR by sign.
    public func setShort(_ tag: Tag, _ value: Int, signed: Bool) throws {
        guard ldct_put_xs(raw, tag.group, tag.element, Int32(clamping: value), signed ? 1 : 0) == 0 else {
            throw DICOMError.invalidAttribute(file: owner.path, tag: tag, value: String(value),
                                              expected: signed ? "a signed 16-bit value" : "an unsigned 16-bit value")
        }
    }

    /// Appends a new item to a sequence (created when absent) and returns it.
    @discardableResult
    public func appendItem(_ tag: Tag) throws -> DICOMItem {
        guard let item = ldct_seq_append(raw, tag.group, tag.element) else {
            throw DICOMError.invalidAttribute(file: owner.path, tag: tag, value: "", expected: "a sequence")
        }
        return DICOMItem(raw: item, owner: owner)
    }

    public func setEmptySequence(_ tag: Tag) throws {
        guard ldct_put_empty_sequence(raw, tag.group, tag.element) == 0 else {
            throw DICOMError.invalidAttribute(file: owner.path, tag: tag, value: "", expected: "a sequence")
        }
    }

    public func remove(_ tag: Tag) { _ = ldct_remove(raw, tag.group, tag.element) }

    /// Copies an attribute (any VR, sequences deep) from another item. Returns false when absent there.
    @discardableResult
    public func copy(_ tag: Tag, from source: DICOMItem) -> Bool {
        ldct_copy_element(source.raw, raw, tag.group, tag.element) == 0
    }

    /// Replaces the pixel data with native 16-bit words.
    public func setPixels(_ words: [UInt16]) throws {
        var err = [CChar](repeating: 0, count: 512)
        let status = words.withUnsafeBufferPointer { buf in
            ldct_put_pixels_u16(raw, buf.baseAddress, buf.count, &err, err.count)
        }
        guard status == 0 else {
            throw DICOMError.writeFailed(file: owner.path, reason: DICOMFile.string(from: err))
        }
    }
}

/// The Image Pixel module of a file.
public struct PixelInfo: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var frames: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var highBit: Int
    public var pixelRepresentation: Int
    public var encapsulated: Bool
    public var photometric: String

    public var isSigned: Bool { pixelRepresentation == 1 }
}

/// Transfer syntaxes the writer can produce.
public enum OutputTransferSyntax: String, Sendable, CaseIterable, Codable {
    case explicitLittle = "explicit-little"
    case implicitLittle = "implicit-little"
    case explicitBig = "explicit-big"
    case deflated
    case jpegLSLossless = "jpeg-ls"
    case rle
    case jpegLossless = "jpeg-lossless"

    var cValue: ldct_transfer_syntax {
        switch self {
        case .explicitLittle: return LDCT_TS_EXPLICIT_LITTLE
        case .implicitLittle: return LDCT_TS_IMPLICIT_LITTLE
        case .explicitBig: return LDCT_TS_EXPLICIT_BIG
        case .deflated: return LDCT_TS_DEFLATED
        case .jpegLSLossless: return LDCT_TS_JPEG_LS_LOSSLESS
        case .rle: return LDCT_TS_RLE
        case .jpegLossless: return LDCT_TS_JPEG_LOSSLESS_SV1
        }
    }
}
