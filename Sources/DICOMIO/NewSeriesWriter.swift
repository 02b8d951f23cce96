import Foundation

/// Everything needed to write a brand-new (ORIGINAL) CT series: synthetic studies, phantoms,
/// fixtures. Values are what a scanner would put in the header.
public struct NewSeriesSpec: Sendable {
    public var patientName = "LOWDOSECT^PHANTOM"
    public var patientID = "LDCT-0001"
    public var patientBirthDate = ""
    public var patientSex = "O"
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var frameOfReferenceUID: String?
    public var studyDate = "20260101"
    public var studyTime = "120000"
    public var studyID = "1"
    public var accessionNumber = ""
    public var studyDescription = "Synthetic CT"
    public var seriesNumber = 1
    public var seriesDescription = "Synthetic CT"
    public var manufacturer = "LowDoseCT"
    public var manufacturerModelName = "Synthetic"
    public var convolutionKernel: String? = "STANDARD"
    public var bodyPartExamined: String? = "ABDOMEN"
    public var rows: Int
    public var columns: Int
    /// [row spacing, column spacing] in mm.
    public var pixelSpacing: [Double] = [0.75, 0.75]
    public var sliceThickness = 2.0
    /// Distance between slice centres along the normal, mm.
    public var sliceSpacing = 2.0
    public var orientation: [Double] = [1, 0, 0, 0, 1, 0]
    /// Image Position (Patient) of the first slice.
    public var origin: [Double] = [-192, -192, 0]
    /// Gantry/Detector Tilt in degrees (written as is; the orientation carries the geometry).
    public var gantryTilt: Double?
    public var bitsStored = 16
    public var signed = true
    public var rescaleSlope = 1.0
    public var rescaleIntercept = 0.0
    public var paddingValue: Int?
    public var dose = DoseInfo(kvp: 120, tubeCurrentMA: 200, exposureMAs: 100, exposureTimeMS: 500, ctdiVolMGy: 8)
    /// Dose of slice i where it varies along the scan (tube-current modulation); default: `dose`.
    public var sliceDoses: [DoseInfo]?
    /// SOP Instance UID of slice i; default: derived from the series UID.
    public var instanceUIDs: [String]?
    /// Instance Number of slice i; default: i + 1.
    public var instanceNumbers: [Int]?
    public var windowCenter = 40.0
    public var windowWidth = 400.0

    public init(studyInstanceUID: String, seriesInstanceUID: String, rows: Int, columns: Int) {
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.rows = rows
        self.columns = columns
    }

    /// Position of slice i: origin + i·spacing along the slice normal.
    public func position(_ i: Int) -> [Double] {
        let o = orientation
        let n = [o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]]
        return (0..<3).map { origin[$0] + Double(i) * sliceSpacing * n[$0] }
    }

    public func instanceUID(_ i: Int) -> String {
        if let list = instanceUIDs, i < list.count { return list[i] }
        let root = seriesInstanceUID.count <= 58 ? seriesInstanceUID : String(seriesInstanceUID.prefix(58))
        return root + "." + String(i + 1)
    }

    var storedRange: ClosedRange<Int> {
        signed ? -(1 << (bitsStored - 1))...((1 << (bitsStored - 1)) - 1) : 0...((1 << bitsStored) - 1)
    }
}

/// Writes new ORIGINAL CT series from HU images: classic (one file per slice) or Enhanced CT
/// (one multi-frame file with functional groups).
public enum NewSeriesWriter {
    /// Writes slice files `fileName(i)` into `directory`. Returns the paths.
    @discardableResult
    public static func writeClassic(_ spec: NewSeriesSpec, images: [SliceImage], directory: String,
                                    fileName: (Int) -> String = { String(format: "CT%04d.dcm", $0 + 1) },
                                    transferSyntax: OutputTransferSyntax = .explicitLittle) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var paths: [String] = []
        for (i, image) in images.enumerated() {
            let path = (directory as NSString).appendingPathComponent(FileNames.sanitize(fileName(i)))
            let file = try DICOMFile(newFileFor: path)
            let ds = file.dataset
            try common(spec, ds)
            try ds.set(.sopClassUID, UID.ctImageStorage)
            try ds.set(.sopInstanceUID, spec.instanceUID(i))
            try ds.set(.imageType, "ORIGINAL\\PRIMARY\\AXIAL")
            try ds.set(.instanceNumber, String(spec.instanceNumbers?[i] ?? i + 1))
            try ds.set(.acquisitionNumber, "1")
            try ds.set(.contentDate, spec.studyDate)
            try ds.set(.contentTime, spec.studyTime)
            let p = spec.position(i)
            try ds.set(.imagePositionPatient, p.map(DICOMNumber.ds).joined(separator: "\\"))
            try ds.set(.imageOrientationPatient, spec.orientation.map(DICOMNumber.ds).joined(separator: "\\"))
            try ds.set(.sliceLocation, DICOMNumber.ds(p[2]))
            try ds.set(.pixelSpacing, spec.pixelSpacing.map(DICOMNumber.ds).joined(separator: "\\"))
            try ds.set(.sliceThickness, DICOMNumber.ds(spec.sliceThickness))
            try ds.set(.rescaleIntercept, DICOMNumber.ds(spec.rescaleIntercept))
            try ds.set(.rescaleSlope, DICOMNumber.ds(spec.rescaleSlope))
            try ds.set(.rescaleType, "HU")
            try ds.set(.windowCenter, DICOMNumber.ds(spec.windowCenter))
            try ds.set(.windowWidth, DICOMNumber.ds(spec.windowWidth))
            let d = spec.sliceDoses.flatMap { i < $0.count ? $0[i] : nil } ?? spec.dose
            if let v = d.kvp { try ds.set(.kvp, DICOMNumber.ds(v)) } else { try ds.set(.kvp, "") }
            if let v = d.tubeCurrentMA { try ds.set(.xRayTubeCurrent, String(Int(v.rounded()))) }
            if let v = d.exposureMAs { try ds.set(.exposure, String(Int(v.rounded()))) }
            if let v = d.exposureTimeMS { try ds.set(.exposureTime, String(Int(v.rounded()))) }
            if let v = d.ctdiVolMGy {
                try ds.set(.ctdiVol, String(v))
                let phantom = try ds.appendItem(.ctdiPhantomTypeCodeSequence)
                try phantom.set(.codeValue, "113691")
                try phantom.set(.codingSchemeDesignator, "DCM")
                try phantom.set(.codeMeaning, "IEC Body Dosimetry Phantom")
            }
            if let k = spec.convolutionKernel { try ds.set(.convolutionKernel, k) }
            if let t = spec.gantryTilt { try ds.set(.gantryDetectorTilt, DICOMNumber.ds(t)) }
            try pixelModule(spec, ds, frames: 1)
            try ds.setPixels(storedWords(spec, image))
            try AtomicFile.write(to: path) { try file.save(to: $0, transferSyntax: transferSyntax) }
            paths.append(path)
        }
        return paths
    }

    /// Writes one Enhanced CT Image Storage file holding every slice as a frame: geometry per
    /// frame (Plane Position), the rest in the shared functional groups.
    public static func writeEnhanced(_ spec: NewSeriesSpec, images: [SliceImage], path: String,
                                     transferSyntax: OutputTransferSyntax = .explicitLittle) throws {
        let file = try DICOMFile(newFileFor: path)
        let ds = file.dataset
        try common(spec, ds)
        try ds.set(.sopClassUID, UID.enhancedCTImageStorage)
        try ds.set(.sopInstanceUID, spec.instanceUID(0))
        try ds.set(.imageType, "ORIGINAL\\PRIMARY\\AXIAL\\NONE")
        try ds.set(.instanceNumber, "1")
        try ds.set(.contentDate, spec.studyDate)
        try ds.set(.contentTime, spec.studyTime)
        try ds.set(.acquisitionNumber, "1")
        try ds.set(Tag(0x0008, 0x002A), spec.studyDate + spec.studyTime)  // AcquisitionDateTime
        try ds.set(Tag(0x0008, 0x9205), "MONOCHROME")                      // PixelPresentation
        try ds.set(Tag(0x0008, 0x9206), "VOLUME")                          // VolumetricProperties
        try ds.set(Tag(0x0008, 0x9207), "NONE")                            // VolumeBasedCalculationTechnique
        try ds.set(Tag(0x0018, 0x9004), "PRODUCT")                         // ContentQualification
        try ds.set(.burnedInAnnotation, "NO")
        try ds.set(Tag(0x0028, 0x0302), "YES")                             // RecognizableVisualFeatures
        try ds.set(.lossyImageCompression, "00")
        let dimension = try ds.appendItem(Tag(0x0020, 0x9222))  // DimensionIndexSequence
        try dimension.set(Tag(0x0020, 0x9165), "(0020,0032)")  // DimensionIndexPointer → ImagePositionPatient
        try dimension.set(Tag(0x0020, 0x9167), "(0020,9113)")  // FunctionalGroupPointer → PlanePositionSequence
        let organization = try ds.appendItem(Tag(0x0020, 0x9221))  // DimensionOrganizationSequence
        try organization.set(Tag(0x0020, 0x9164), spec.seriesInstanceUID + ".9")
        try dimension.set(Tag(0x0020, 0x9164), spec.seriesInstanceUID + ".9")

        let shared = try ds.appendItem(.sharedFunctionalGroupsSequence)
        let measures = try shared.appendItem(.pixelMeasuresSequence)
        try measures.set(.pixelSpacing, spec.pixelSpacing.map(DICOMNumber.ds).joined(separator: "\\"))
        try measures.set(.sliceThickness, DICOMNumber.ds(spec.sliceThickness))
        try shared.appendItem(.planeOrientationSequence)
            .set(.imageOrientationPatient, spec.orientation.map(DICOMNumber.ds).joined(separator: "\\"))
        let transform = try shared.appendItem(.pixelValueTransformationSequence)
        try transform.set(.rescaleIntercept, DICOMNumber.ds(spec.rescaleIntercept))
        try transform.set(.rescaleSlope, DICOMNumber.ds(spec.rescaleSlope))
        try transform.set(.rescaleType, "HU")
        let voi = try shared.appendItem(.frameVOILUTSequence)
        try voi.set(.windowCenter, DICOMNumber.ds(spec.windowCenter))
        try voi.set(.windowWidth, DICOMNumber.ds(spec.windowWidth))
        let xray = try shared.appendItem(.ctXRayDetailsSequence)
        if let v = spec.dose.kvp { try xray.set(.kvp, DICOMNumber.ds(v)) }
        let exposure = try shared.appendItem(.ctExposureSequence)
        if let v = spec.dose.tubeCurrentMA { try exposure.set(.xRayTubeCurrentInMA, String(v)) }
        if let v = spec.dose.exposureMAs { try exposure.set(.exposureInMAs, String(v)) }
        if let v = spec.dose.exposureTimeMS { try exposure.set(.exposureTimeInMs, String(v)) }
        if let v = spec.dose.ctdiVolMGy { try exposure.set(.ctdiVol, String(v)) }
        if let k = spec.convolutionKernel {
            try shared.appendItem(.ctReconstructionSequence).set(.convolutionKernel, k)
        }

        var words: [UInt16] = []
        for (i, image) in images.enumerated() {
            let frame = try ds.appendItem(.perFrameFunctionalGroupsSequence)
            let content = try frame.appendItem(.frameContentSequence)
            try content.set(Tag(0x0020, 0x9156), "1")  // FrameAcquisitionNumber
            try content.set(.dimensionIndexValues, String(i + 1))
            try content.set(.inStackPositionNumber, String(i + 1))
            try frame.appendItem(.planePositionSequence)
                .set(.imagePositionPatient, spec.position(i).map(DICOMNumber.ds).joined(separator: "\\"))
            words.append(contentsOf: storedWords(spec, image))
        }
        try pixelModule(spec, ds, frames: images.count)
        try ds.setPixels(words)
        try AtomicFile.write(to: path) { try file.save(to: $0, transferSyntax: transferSyntax) }
    }

    static func common(_ spec: NewSeriesSpec, _ ds: DICOMItem) throws {
        try ds.set(.specificCharacterSet, "ISO_IR 100")
        try ds.set(.patientName, spec.patientName)
        try ds.set(.patientID, spec.patientID)
        try ds.set(.patientBirthDate, spec.patientBirthDate)
        try ds.set(.patientSex, spec.patientSex)
        try ds.set(.studyInstanceUID, spec.studyInstanceUID)
        try ds.set(.studyDate, spec.studyDate)
        try ds.set(.studyTime, spec.studyTime)
        try ds.set(.referringPhysicianName, "")
        try ds.set(.studyID, spec.studyID)
        try ds.set(.accessionNumber, spec.accessionNumber)
        try ds.set(.studyDescription, spec.studyDescription)
        try ds.set(.modality, "CT")
        try ds.set(.seriesInstanceUID, spec.seriesInstanceUID)
        try ds.set(.seriesNumber, String(spec.seriesNumber))
        try ds.set(.seriesDescription, spec.seriesDescription)
        try ds.set(.seriesDate, spec.studyDate)
        try ds.set(.seriesTime, spec.studyTime)
        if let part = spec.bodyPartExamined { try ds.set(.bodyPartExamined, part) }
        try ds.set(.patientPosition, "HFS")
        try ds.set(.manufacturer, spec.manufacturer)
        try ds.set(.manufacturerModelName, spec.manufacturerModelName)
        if let frame = spec.frameOfReferenceUID { try ds.set(.frameOfReferenceUID, frame) }
        try ds.set(.positionReferenceIndicator, "")
    }

    static func pixelModule(_ spec: NewSeriesSpec, _ ds: DICOMItem, frames: Int) throws {
        try ds.set(.samplesPerPixel, "1")
        try ds.set(.photometricInterpretation, "MONOCHROME2")
        try ds.set(.rows, String(spec.rows))
        try ds.set(.columns, String(spec.columns))
        try ds.set(.bitsAllocated, "16")
        try ds.set(.bitsStored, String(spec.bitsStored))
        try ds.set(.highBit, String(spec.bitsStored - 1))
        try ds.set(.pixelRepresentation, spec.signed ? "1" : "0")
        if frames > 1 || ds.string(.sopClassUID) == UID.enhancedCTImageStorage {
            try ds.set(.numberOfFrames, String(frames))
        }
        if let pad = spec.paddingValue { try ds.setShort(.pixelPaddingValue, pad, signed: spec.signed) }
    }

    /// HU → stored words (clamped to BitsStored; padding pixels get the padding value), written
    /// as BitsStored-bit two's complement inside 16 bits, the way scanners store them.
    static func storedWords(_ spec: NewSeriesSpec, _ image: SliceImage) -> [UInt16] {
        let range = spec.storedRange
        let mask = (1 << spec.bitsStored) - 1
        return image.hu.indices.map { i in
            var v: Int
            if !image.paddingMask.isEmpty, image.paddingMask[i] != 0, let pad = spec.paddingValue {
                v = pad
            } else {
                v = Int(((Double(image.hu[i]) - spec.rescaleIntercept) / spec.rescaleSlope).rounded())
            }
            v = min(max(v, range.lowerBound), range.upperBound)
            return UInt16(truncatingIfNeeded: v & mask)
        }
    }
}
