import Foundation

/// Dose and technique as the image headers state them; nil is "unknown" (absent or unreadable).
public struct DoseInfo: Sendable, Equatable, Codable {
    /// Peak kilovoltage (0018,0060).
    public var kvp: Double?
    /// X-Ray Tube Current in mA (0018,1151).
    public var tubeCurrentMA: Double?
    /// Exposure in mAs (0018,1152).
    public var exposureMAs: Double?
    /// Exposure Time in ms (0018,1150).
    public var exposureTimeMS: Double?
    /// CTDIvol in mGy (0018,9345).
    public var ctdiVolMGy: Double?
    /// Dose-length product in mGy·cm, where a header carries one.
    public var dlpMGyCm: Double?

    public init(kvp: Double? = nil, tubeCurrentMA: Double? = nil, exposureMAs: Double? = nil,
                exposureTimeMS: Double? = nil, ctdiVolMGy: Double? = nil, dlpMGyCm: Double? = nil) {
        self.kvp = kvp
        self.tubeCurrentMA = tubeCurrentMA
        self.exposureMAs = exposureMAs
        self.exposureTimeMS = exposureTimeMS
        self.ctdiVolMGy = ctdiVolMGy
        self.dlpMGyCm = dlpMGyCm
    }

    /// Series-level values: the mean over slices of each value that slices state (tube current
    /// modulation makes mA and CTDIvol vary along the scan).
    public static func mean(of doses: [DoseInfo]) -> DoseInfo {
        func avg(_ key: KeyPath<DoseInfo, Double?>) -> Double? {
            let values = doses.compactMap { $0[keyPath: key] }
            return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
        }
        return DoseInfo(kvp: avg(\.kvp), tubeCurrentMA: avg(\.tubeCurrentMA), exposureMAs: avg(\.exposureMAs),
                        exposureTimeMS: avg(\.exposureTimeMS), ctdiVolMGy: avg(\.ctdiVolMGy),
                        dlpMGyCm: avg(\.dlpMGyCm))
    }
}

/// One slice as the header describes it: a single-frame image, or one frame of a multi-frame one.
public struct SliceInfo: Sendable, Equatable {
    /// The file it lives in.
    public var file: String
    /// 1-based frame number in a multi-frame file; nil for single-frame images.
    public var frame: Int?
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var instanceNumber: Int?
    /// Image Position (Patient) in mm.
    public var position: [Double]?
    /// Image Orientation (Patient): row direction cosines, then column direction cosines.
    public var orientation: [Double]?
    /// Pixel Spacing [row spacing, column spacing] in mm.
    public var pixelSpacing: [Double]?
    public var sliceThickness: Double?
    public var rescaleSlope: Double
    public var rescaleIntercept: Double
    public var pixel: PixelInfo
    /// Pixel Padding Value (and Range Limit) in stored values, when the file declares them.
    public var paddingValue: Int?
    public var paddingRangeLimit: Int?
    public var windowCenter: Double?
    public var windowWidth: Double?
    public var dose: DoseInfo
    public var transferSyntaxUID: String
    /// The instance this slice was derived from (first Source Image Sequence item), as
    /// "SOPInstanceUID" or "SOPInstanceUID#frame"; nil for original images.
    public var sourceReference: String? = nil
    public var frameOfReferenceUID: String? = nil
    public var studyInstanceUID: String? = nil
    /// What LowDoseCT's Image Comments say about how this slice was restored (strength, removed
    /// noise); nil for originals and for comments of any other origin.
    public var restoration: RestorationComment? = nil

    /// Key matching `sourceReference` of slices derived from this one.
    public var referenceKey: String { frame.map { "\(sopInstanceUID)#\($0)" } ?? sopInstanceUID }

    /// Distance along the slice normal (row × column direction), when position and orientation exist.
    public var normalPosition: Double? {
        guard let p = position, p.count == 3, let o = orientation, o.count == 6 else { return nil }
        let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
        return p[0] * n[0] + p[1] * n[1] + p[2] * n[2]
    }
}

/// A CT series as found on disk: metadata and its slices in anatomical order, no pixels.
public struct SeriesInfo: Sendable, Equatable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var frameOfReferenceUID: String?
    public var patientID: String?
    public var patientName: String?
    public var modality: String
    public var manufacturer: String?
    public var manufacturerModelName: String?
    public var convolutionKernel: String?
    public var seriesDescription: String?
    public var seriesNumber: Int?
    public var sliceThickness: Double?
    public var pixelSpacing: [Double]?
    public var rows: Int
    public var columns: Int
    /// Series-level dose: the mean of what slices state.
    public var dose: DoseInfo
    /// Slices ordered along the slice normal (InstanceNumber where positions are missing).
    public var slices: [SliceInfo]
    /// What looked odd: duplicates, gaps, mixed sizes, malformed values. Never patient data.
    public var warnings: [String]
    /// Files of the series that were left out (duplicate instances, another image size), with why.
    public var leftOut: [Rejection] = []

    public var isMultiFrame: Bool { slices.contains { $0.frame != nil } }
}

/// One slice's pixels in Hounsfield units, with the mask of padding / outside-field-of-view pixels.
public struct SliceImage: Sendable {
    public var rows: Int
    public var columns: Int
    /// Row-major HU values, rows × columns.
    public var hu: [Float]
    /// 1 where the pixel is padding or outside the field of view (writers restore those), else 0.
    /// Empty when the slice has no such pixels.
    public var paddingMask: [UInt8]

    public var paddingCount: Int { paddingMask.reduce(0) { $0 + Int($1) } }

    public init(rows: Int, columns: Int, hu: [Float], paddingMask: [UInt8] = []) {
        self.rows = rows
        self.columns = columns
        self.hu = hu
        self.paddingMask = paddingMask
    }
}

/// A whole series in memory: one contiguous Float32 HU buffer (slices × rows × columns), the
/// per-slice padding masks and the metadata the writer needs. The one currency between stages.
public struct CTSeries: Sendable {
    public var info: SeriesInfo
    public var rows: Int { info.rows }
    public var columns: Int { info.columns }
    public var sliceCount: Int { info.slices.count }
    /// slices × rows × columns, row-major within each slice.
    public var hu: [Float]
    /// Same layout as `hu`; 1 = padding / outside field of view. Empty when no slice has any.
    public var paddingMask: [UInt8]

    public init(info: SeriesInfo, hu: [Float], paddingMask: [UInt8]) {
        self.info = info
        self.hu = hu
        self.paddingMask = paddingMask
    }

    /// Pixels of slice `index` as a fresh SliceImage.
    public func slice(_ index: Int) -> SliceImage {
        let n = rows * columns
        let range = index * n..<(index + 1) * n
        return SliceImage(rows: rows, columns: columns, hu: Array(hu[range]),
                          paddingMask: paddingMask.isEmpty ? [] : Array(paddingMask[range]))
    }
}
