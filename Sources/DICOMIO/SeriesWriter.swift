import Foundation

/// A coded concept (Code Value, Coding Scheme Designator, Code Meaning).
public struct CodedConcept: Sendable, Equatable {
    public var value: String
    public var scheme: String
    public var meaning: String
    public init(_ value: String, _ scheme: String, _ meaning: String) {
        self.value = value
        self.scheme = scheme
        self.meaning = meaning
    }
    /// CID 7203 "Image Processing", the derivation LowDoseCT records by default.
    public static let imageProcessing = CodedConcept("110001", "DCM", "Image Processing")
    /// CID 7202 "Source image for image processing operation", the purpose of each source reference.
    public static let sourceImageForProcessing = CodedConcept("121322", "DCM", "Source image for image processing operation")
}

/// How a derived series is labelled and encoded.
public struct SeriesWriterOptions: Sendable {
    /// UID root of the site; nil uses the `2.25.` UUID arc.
    public var uidRoot: String?
    /// When set, output UIDs are derived from the source UIDs and this key (e.g. the model's hash),
    /// so writing the same series again yields the same UIDs. nil: random UIDs.
    public var deterministicKey: String?
    /// Series Number of the output; nil: the source's + 1000 (a common convention for derived series).
    public var seriesNumber: Int?
    /// Series Description; `{source}` is replaced by the source's description.
    public var seriesDescription: String
    public var derivationDescription: String
    public var derivationCode: CodedConcept
    public var transferSyntax: OutputTransferSyntax
    /// File names are `<prefix><slice number, 4 digits>.dcm`.
    public var fileNamePrefix: String
    /// Instance creation / series date and time; nil: now. Fixed in tests for identical output.
    public var creationDate: Date?
    /// Attributes set last, on every file (string form, `\` between values).
    public var attributeOverrides: [Tag: String]
    public var imageComments: String?

    public init(uidRoot: String? = nil, deterministicKey: String? = nil, seriesNumber: Int? = nil,
                seriesDescription: String = "{source} [LowDoseCT]",
                derivationDescription: String = "Processed by LowDoseCT",
                derivationCode: CodedConcept = .imageProcessing,
                transferSyntax: OutputTransferSyntax = .explicitLittle, fileNamePrefix: String = "IM",
                creationDate: Date? = nil, attributeOverrides: [Tag: String] = [:], imageComments: String? = nil) {
        self.uidRoot = uidRoot
        self.deterministicKey = deterministicKey
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.derivationDescription = derivationDescription
        self.derivationCode = derivationCode
        self.transferSyntax = transferSyntax
        self.fileNamePrefix = fileNamePrefix
        self.creationDate = creationDate
        self.attributeOverrides = attributeOverrides
        self.imageComments = imageComments
    }
}

/// What a write produced.
public struct WriteResult: Sendable, Equatable {
    public var seriesInstanceUID: String
    public var files: [String]
    /// Pixels whose stored value had to be clamped to the 16-bit range.
    public var clampedPixels: Int
    /// What the writer repaired in the source's header (missing Type 2 attributes, a new
    /// FrameOfReferenceUID …), once per kind.
    public var repairs: [String]
}

/// Writes a series as a new derived series: classic CT Image Storage, one file per slice,
/// patient/study/equipment/frame-of-reference copied from each slice's source, new UIDs,
/// DERIVED\SECONDARY image type, Source Image Sequence back to the source instance (and frame).
///
/// Use `write(_:to:)` for a series in memory, or `begin` + `SeriesWriterSession.write` to stream
/// slice by slice with bounded memory.
public struct SeriesWriter: Sendable {
    public var options: SeriesWriterOptions

    public init(options: SeriesWriterOptions = SeriesWriterOptions()) {
        self.options = options
    }

    /// Writes every slice of `series` into `directory` (created when missing).
    public func write(_ series: CTSeries, to directory: String) throws -> WriteResult {
        let session = try begin(source: series.info, directory: directory)
        for i in 0..<series.sliceCount {
            try session.write(index: i, image: series.slice(i))
        }
        return session.finish()
    }

    /// Starts writing a derived series of `source` into `directory`.
    public func begin(source: SeriesInfo, directory: String) throws -> SeriesWriterSession {
        try SeriesWriterSession(source: source, directory: directory, options: options)
    }
}

/// One derived series being written. Not thread-safe.
public final class SeriesWriterSession {
    public let source: SeriesInfo
    public let directory: String
    public let options: SeriesWriterOptions
    public let seriesInstanceUID: String
    let uids: UIDFactory
    let frameOfReferenceUID: String
    let sourceIdentity: String
    let creation: (date: String, time: String)
    private(set) var files: [String] = []
    private(set) var clamped = 0
    private var repairs: [String] = []

    init(source: SeriesInfo, directory: String, options: SeriesWriterOptions) throws {
        self.source = source
        self.directory = directory
        self.options = options
        uids = try UIDFactory(root: options.uidRoot)
        // A source whose de-identification emptied its UIDs is identified by its first instance.
        let identity = source.seriesInstanceUID.isEmpty ? "first-instance:" + (source.slices.first?.sopInstanceUID ?? "") : source.seriesInstanceUID
        sourceIdentity = identity
        if let key = options.deterministicKey {
            seriesInstanceUID = uids.deterministic("series|\(identity)|\(key)")
        } else {
            seriesInstanceUID = uids.random()
        }
        if let frame = source.frameOfReferenceUID, !frame.isEmpty {
            frameOfReferenceUID = frame
        } else {
            // One new frame of reference for the whole series, derived from the source series so
            // that every derived series of the same source agrees.
            frameOfReferenceUID = uids.deterministic("frame-of-reference|\(identity)")
            repairs.append("FrameOfReferenceUID was missing; generated one for the series")
        }
        creation = DICOMDateTime.format(options.creationDate ?? Date())
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw DICOMError.writeFailed(file: directory, reason: "cannot create folder: \(error.localizedDescription)")
        }
        // A run killed while writing this series left its temporary files here.
        AtomicFile.removeStale(in: directory)
    }

    /// Path of the file for slice `index`.
    public func path(forSlice index: Int) -> String {
        let name = options.fileNamePrefix + String(format: "%04d", index + 1) + ".dcm"
        return (directory as NSString).appendingPathComponent(FileNames.sanitize(name))
    }

    /// SOP Instance UID the file for slice `index` gets (deterministic mode: stable across runs).
    public func sopInstanceUID(forSlice index: Int) -> String {
        let slice = source.slices[index]
        if let key = options.deterministicKey {
            return uids.deterministic("instance|\(slice.sopInstanceUID)|\(slice.frame ?? 0)|\(key)")
        }
        return uids.random()
    }

    /// Writes slice `index` of the source series with new pixels `image` (HU). `overrides` are set
    /// last on this file only (e.g. per-slice dose tags). Returns the path.
    @discardableResult
    public func write(index: Int, image: SliceImage, overrides: [Tag: String] = [:]) throws -> String {
        guard index >= 0, index < source.slices.count else {
            throw DICOMError.inconsistentSeries(file: directory, reason: "slice index \(index) outside the series (\(source.slices.count) slices)")
        }
        let slice = source.slices[index]
        guard image.rows == slice.pixel.rows, image.columns == slice.pixel.columns,
              image.hu.count == image.rows * image.columns
        else {
            throw DICOMError.inconsistentSeries(
                file: slice.file, reason: "image is \(image.columns)x\(image.rows), source slice is \(slice.pixel.columns)x\(slice.pixel.rows)")
        }
        let sourceFile = try DICOMFile(path: slice.file)
        let src = sourceFile.dataset
        let outPath = path(forSlice: index)
        let out = try DICOMFile(newFileFor: outPath)
        let ds = out.dataset

        for tag in SeriesWriterSession.copiedAttributes { ds.copy(tag, from: src) }
        // Type 2 attributes must be present, even empty.
        for (tag, name) in SeriesWriterSession.type2Attributes where !ds.has(tag) {
            try ds.set(tag, "")
            noteRepair("\(name) \(tag) was missing; added empty (Type 2)")
        }

        if (ds.string(.studyInstanceUID) ?? "").isEmpty {
            // Empty in the source (de-identification): one study UID for everything derived from
            // the same frame of reference, so the restored series of one scan share a study.
            try ds.set(.studyInstanceUID, uids.deterministic("study|\(frameOfReferenceUID)"))
            noteRepair("StudyInstanceUID was empty; generated one from the frame of reference")
        }

        // SOP common, series, frame of reference
        try ds.set(.sopClassUID, UID.ctImageStorage)
        try ds.set(.sopInstanceUID, sopInstanceUID(forSlice: index))
        try ds.set(.modality, "CT")
        try ds.set(.seriesInstanceUID, seriesInstanceUID)
        try ds.set(.seriesNumber, String(options.seriesNumber ?? min((source.seriesNumber ?? 0) + 1000, 2_147_483_647)))
        let description = options.seriesDescription.replacingOccurrences(
            of: "{source}", with: source.seriesDescription ?? "CT")
        try ds.set(.seriesDescription, String(description.prefix(64)))
        try ds.set(.seriesDate, creation.date)
        try ds.set(.seriesTime, creation.time)
        try ds.set(.instanceCreationDate, creation.date)
        try ds.set(.instanceCreationTime, creation.time)
        try ds.set(.contentDate, creation.date)
        try ds.set(.contentTime, creation.time)
        try ds.set(.frameOfReferenceUID, frameOfReferenceUID)
        try ds.set(.instanceNumber, String(index + 1))

        // Derived image: type, description, code, source reference
        var type = ["DERIVED", "SECONDARY", "AXIAL"]
        if let sourceType = src.strings(.imageType), sourceType.count >= 3, sourceType[2] == "AXIAL" || sourceType[2] == "LOCALIZER" {
            type[2] = sourceType[2]
        }
        try ds.set(.imageType, type.joined(separator: "\\"))
        try ds.set(.derivationDescription, String(options.derivationDescription.prefix(1024)))
        let code = try ds.appendItem(.derivationCodeSequence)
        try setCode(code, options.derivationCode)
        let reference = try ds.appendItem(.sourceImageSequence)
        try reference.set(.referencedSOPClassUID, slice.sopClassUID)
        try reference.set(.referencedSOPInstanceUID, slice.sopInstanceUID)
        if let frame = slice.frame { try reference.set(.referencedFrameNumber, String(frame)) }
        try setCode(try reference.appendItem(.purposeOfReferenceCodeSequence), .sourceImageForProcessing)
        if let comments = options.imageComments { try ds.set(.imageComments, String(comments.prefix(10240))) }

        // Lossy history travels with the image (PS3.3 C.7.6.1.1.5).
        if UID.lossyTransferSyntaxes.contains(slice.transferSyntaxUID) && ds.string(.lossyImageCompression) != "01" {
            try ds.set(.lossyImageCompression, "01")
        }

        // Laterality of a multi-frame source lives per frame (Frame Anatomy): it becomes the
        // image's Image Laterality, which General Series' Type 2C Laterality condition accepts.
        if let frame = slice.frame, !ds.has(.imageLaterality), !ds.has(.laterality),
           let value = HeaderReader.functionalGroup(src, .frameAnatomySequence, frame: frame - 1)?.string(.frameLaterality),
           ["R", "L", "U", "B"].contains(value) {
            try ds.set(.imageLaterality, value)
        }
        // General Series' Laterality is Type 2C: needed unless the body part is unpaired. A source
        // that states no laterality anywhere and no unpaired body part (e.g. PARTIALBODY, or none)
        // gets it empty, which means "unknown" — the truth about such a source.
        if !ds.has(.laterality), !ds.has(.imageLaterality),
           !SeriesWriterSession.unpairedBodyParts.contains((ds.string(.bodyPartExamined) ?? "").uppercased()) {
            try ds.set(.laterality, "")
            noteRepair("Laterality (Type 2C) was missing and the body part does not rule it out; added empty (unknown)")
        }

        // Geometry from the slice (also for frames of multi-frame sources).
        if let p = slice.position { try ds.set(.imagePositionPatient, p.map(DICOMNumber.ds).joined(separator: "\\")) }
        if let o = slice.orientation { try ds.set(.imageOrientationPatient, o.map(DICOMNumber.ds).joined(separator: "\\")) }
        if let s = slice.pixelSpacing { try ds.set(.pixelSpacing, s.map(DICOMNumber.ds).joined(separator: "\\")) }
        if let t = slice.sliceThickness { try ds.set(.sliceThickness, DICOMNumber.ds(t)) }
        if let wc = slice.windowCenter, let ww = slice.windowWidth, !ds.has(.windowCenter) {
            try ds.set(.windowCenter, DICOMNumber.ds(wc))
            try ds.set(.windowWidth, DICOMNumber.ds(ww))
        }
        // Technique from functional groups when the source is multi-frame.
        let d = slice.dose
        if !ds.has(.kvp) || ds.string(.kvp) == "", let kvp = d.kvp { try ds.set(.kvp, DICOMNumber.ds(kvp)) }
        if !ds.has(.xRayTubeCurrent), let ma = d.tubeCurrentMA { try ds.set(.xRayTubeCurrent, String(Int(ma.rounded()))) }
        if !ds.has(.exposure), let mas = d.exposureMAs { try ds.set(.exposure, String(Int(mas.rounded()))) }
        if !ds.has(.exposureTime), let ms = d.exposureTimeMS { try ds.set(.exposureTime, String(Int(ms.rounded()))) }
        if !ds.has(.ctdiVol), let ctdi = d.ctdiVolMGy { try ds.set(.ctdiVol, String(ctdi)) }

        // Pixels: stored = round((HU − intercept) / slope), padding restored, clamped to 16 bits.
        let signed = slice.pixel.isSigned
        try ds.set(.samplesPerPixel, "1")
        try ds.set(.photometricInterpretation, slice.pixel.photometric)
        try ds.set(.rows, String(slice.pixel.rows))
        try ds.set(.columns, String(slice.pixel.columns))
        try ds.set(.bitsAllocated, "16")
        try ds.set(.bitsStored, "16")
        try ds.set(.highBit, "15")
        try ds.set(.pixelRepresentation, signed ? "1" : "0")
        try ds.set(.rescaleIntercept, DICOMNumber.ds(slice.rescaleIntercept))
        try ds.set(.rescaleSlope, DICOMNumber.ds(slice.rescaleSlope))
        try ds.set(.rescaleType, "HU")
        if let pad = slice.paddingValue {
            try ds.setShort(.pixelPaddingValue, pad, signed: signed)
            if let limit = slice.paddingRangeLimit { try ds.setShort(.pixelPaddingRangeLimit, limit, signed: signed) }
        }
        let (words, clampCount) = SeriesWriterSession.storedWords(image: image, slice: slice)
        clamped += clampCount
        try ds.setPixels(words)

        for (tag, value) in options.attributeOverrides.sorted(by: { $0.key < $1.key }) { try ds.set(tag, value) }
        for (tag, value) in overrides.sorted(by: { $0.key < $1.key }) { try ds.set(tag, value) }

        try AtomicFile.write(to: outPath) { tmp in try out.save(to: tmp, transferSyntax: options.transferSyntax) }
        files.append(outPath)
        return outPath
    }

    /// Finishes the series and reports what was written.
    public func finish() -> WriteResult {
        WriteResult(seriesInstanceUID: seriesInstanceUID, files: files, clampedPixels: clamped, repairs: repairs)
    }

    private func noteRepair(_ message: String) {
        if !repairs.contains(message) { repairs.append(message) }
    }

    private func setCode(_ item: DICOMItem, _ code: CodedConcept) throws {
        try item.set(.codeValue, code.value)
        try item.set(.codingSchemeDesignator, code.scheme)
        try item.set(.codeMeaning, code.meaning)
    }

    /// HU → stored 16-bit words with the source's rescale. Padding pixels get the Pixel Padding
    /// Value back (when the source declared one); the rest are rounded and clamped.
    static func storedWords(image: SliceImage, slice: SliceInfo) -> ([UInt16], Int) {
        let n = image.hu.count
        let slope = slice.rescaleSlope, intercept = slice.rescaleIntercept
        let (lo, hi): (Double, Double) = slice.pixel.isSigned ? (-32768, 32767) : (0, 65535)
        var words = [UInt16](repeating: 0, count: n)
        var clamped = 0
        let hasMask = !image.paddingMask.isEmpty
        let pad = slice.paddingValue
        image.hu.withUnsafeBufferPointer { hu in
            words.withUnsafeMutableBufferPointer { out in
                for i in 0..<n {
                    var v: Double
                    if hasMask, image.paddingMask[i] != 0, let pad {
                        v = Double(pad)
                    } else {
                        v = ((Double(hu[i]) - intercept) / slope).rounded()
                        if !v.isFinite { v = lo }
                    }
                    if v < lo { v = lo; clamped += 1 } else if v > hi { v = hi; clamped += 1 }
                    out[i] = UInt16(bitPattern: Int16(truncatingIfNeeded: Int32(v)))
                }
            }
        }
        return (words, clamped)
    }

    /// Attributes copied from the source slice's top level (patient, study, equipment, frame of
    /// reference, acquisition). Everything else is written by the writer or left out.
    static let copiedAttributes: [Tag] = [
        .specificCharacterSet, .studyDate, .studyTime, .acquisitionDate, .acquisitionTime, .accessionNumber,
        .manufacturer, .institutionName, .institutionAddress, .referringPhysicianName, .timezoneOffsetFromUTC,
        .stationName, .studyDescription, .institutionalDepartmentName, .manufacturerModelName,
        .patientName, .patientID, .issuerOfPatientID, .patientBirthDate, .patientSex, .patientAge, .patientSize,
        .patientWeight, .patientIdentityRemoved, .deidentificationMethod, .deidentificationMethodCodeSequence,
        .bodyPartExamined, .laterality, .imageLaterality, .scanOptions, .kvp, .dataCollectionDiameter, .deviceSerialNumber, .softwareVersions,
        .protocolName, .reconstructionDiameter, .distanceSourceToDetector, .distanceSourceToPatient,
        .gantryDetectorTilt, .tableHeight, .rotationDirection, .exposureTime, .xRayTubeCurrent, .exposure,
        .filterType, .generatorPower, .focalSpots, .convolutionKernel, .patientPosition, .revolutionTime,
        .singleCollimationWidth, .totalCollimationWidth, .tableSpeed, .tableFeedPerRotation, .spiralPitchFactor,
        .ctdiVol, .ctdiPhantomTypeCodeSequence, .studyInstanceUID, .studyID, .acquisitionNumber, .positionReferenceIndicator, .sliceLocation,
        .windowCenter, .windowWidth, .windowCenterWidthExplanation, .burnedInAnnotation,
        .lossyImageCompression, .lossyImageCompressionRatio, .lossyImageCompressionMethod,
    ]

    /// Body Part Examined values of unpaired regions (no laterality needed).
    static let unpairedBodyParts: Set<String> = [
        "ABDOMEN", "ABDOMENPELVIS", "CHEST", "CHESTABDOMEN", "CHESTABDPELVIS", "HEAD", "HEADNECK", "NECK", "PELVIS",
        "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "COCCYX", "WHOLEBODY", "HEART", "BRAIN", "SKULL", "AORTA",
        "LIVER", "PANCREAS", "SPLEEN", "STOMACH", "BLADDER", "ESOPHAGUS", "THORAX",
    ]

    /// Type 2 attributes of the modules the writer emits (PS3.3 A.3): present even when empty.
    static let type2Attributes: [(Tag, String)] = [
        (.patientName, "PatientName"), (.patientID, "PatientID"), (.patientBirthDate, "PatientBirthDate"),
        (.patientSex, "PatientSex"), (.studyDate, "StudyDate"), (.studyTime, "StudyTime"),
        (.referringPhysicianName, "ReferringPhysicianName"), (.studyID, "StudyID"),
        (.accessionNumber, "AccessionNumber"), (.manufacturer, "Manufacturer"),
        (.positionReferenceIndicator, "PositionReferenceIndicator"), (.kvp, "KVP"),
        (.acquisitionNumber, "AcquisitionNumber"), (.sliceThickness, "SliceThickness"),
    ]
}

/// DICOM string forms of numbers and dates.
public enum DICOMNumber {
    /// Decimal String: at most 16 characters, no exponent unless needed.
    public static func ds(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        for digits in stride(from: 10, through: 1, by: -1) {
            var s = String(format: "%.\(digits)f", value)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            if s.count <= 16 { return s }
        }
        return String(format: "%.6g", value)
    }
}

enum DICOMDateTime {
    static func format(_ date: Date) -> (date: String, time: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return (String(format: "%04d%02d%02d", c.year ?? 1970, c.month ?? 1, c.day ?? 1),
                String(format: "%02d%02d%02d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0))
    }
}
