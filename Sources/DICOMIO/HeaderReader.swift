import Foundation

/// What one file turned out to be.
public enum FileOutcome: Sendable {
    /// A CT image: its slices (one per frame) and the series-level attributes.
    case ct(slices: [SliceInfo], header: SeriesHeader)
    /// A DICOM object that is not a CT image slice (MR, SR, secondary capture, localizer …).
    case rejected(reason: String)
    /// Not DICOM at all.
    case notDICOM
    /// A CT file that cannot be used.
    case broken(DICOMError)
}

/// Series-level attributes read from one file.
public struct SeriesHeader: Sendable, Equatable {
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
    /// Malformed values noticed (UIDs with invalid characters …): attribute keyword → problem.
    public var malformed: [String]
}

/// Reads the header of one file and decides what it is. Pixel data is not decoded here, only
/// checked for presence and length (native syntaxes).
public enum HeaderReader {
    public static let ctSOPClasses: Set<String> = [
        UID.ctImageStorage, UID.enhancedCTImageStorage, UID.legacyConvertedEnhancedCTImageStorage,
    ]

    public static func read(path: String) -> FileOutcome {
        let preamble = hasDICMPreamble(path)
        let file: DICOMFile
        do {
            file = try DICOMFile(path: path)
        } catch let error as DICOMError {
            if case .environment = error { return .broken(error) }
            return preamble ? .broken(error) : .notDICOM
        } catch {
            return .notDICOM
        }
        let ds = file.dataset
        var sopClass = ds.string(.sopClassUID) ?? ""
        let modality = (ds.string(.modality) ?? "").uppercased()
        if !preamble && sopClass.isEmpty && modality.isEmpty && !ds.has(.sopInstanceUID) {
            return .notDICOM
        }
        // De-identification sometimes empties the data set's SOP Class/Instance UID; the file meta
        // (Media Storage SOP Class/Instance UID) still says what the object is.
        var fromMeta: [String] = []
        if sopClass.isEmpty, let meta = nonEmpty(file.metaHeader.string(.mediaStorageSOPClassUID)) {
            sopClass = meta
            fromMeta.append("SOPClassUID")
        }
        if sopClass == "1.2.840.10008.1.3.10" {
            return .rejected(reason: "DICOMDIR (media storage directory), not an image")
        }
        if !ctSOPClasses.contains(sopClass) {
            if !modality.isEmpty && modality != "CT" { return .rejected(reason: "modality \(modality), not CT") }
            if sopClass == UID.secondaryCaptureImageStorage {
                return .rejected(reason: "secondary capture image, not a CT image")
            }
            return .rejected(reason: "SOP class \(sopClass.isEmpty ? "(none)" : sopClass), not a CT image")
        }
        if let type = ds.strings(.imageType), type.count >= 3, type[2].uppercased() == "LOCALIZER" {
            return .rejected(reason: "localizer (scout) image, not an axial slice")
        }
        do {
            return try readCT(file: file, sopClass: sopClass, modality: modality, fromMeta: fromMeta)
        } catch let error as DICOMError {
            return .broken(error)
        } catch {
            return .broken(.unreadable(file: path, reason: "\(error)"))
        }
    }

    static func readCT(file: DICOMFile, sopClass: String, modality: String, fromMeta: [String] = []) throws -> FileOutcome {
        let ds = file.dataset
        let path = file.path
        guard ds.has(.rows) else { throw DICOMError.missingAttribute(file: path, tag: .rows, name: "Rows") }
        guard ds.has(.columns) else { throw DICOMError.missingAttribute(file: path, tag: .columns, name: "Columns") }
        let pixel = try file.pixelInfo()
        guard pixel.rows > 0, pixel.columns > 0 else {
            throw DICOMError.invalidAttribute(file: path, tag: .rows, value: "\(pixel.rows)x\(pixel.columns)",
                                              expected: "a non-empty image")
        }
        guard pixel.frames > 0 else {
            throw DICOMError.invalidAttribute(file: path, tag: .numberOfFrames, value: "\(pixel.frames)",
                                              expected: "at least one frame")
        }
        guard pixel.photometric == "MONOCHROME2" || pixel.photometric == "MONOCHROME1" else {
            throw DICOMError.unsupportedPhotometric(file: path, found: pixel.photometric.isEmpty ? "(none)" : pixel.photometric)
        }
        guard pixel.samplesPerPixel == 1 else {
            throw DICOMError.unsupportedPixelFormat(file: path, reason: "\(pixel.samplesPerPixel) samples per pixel, CT has 1")
        }
        guard [8, 16, 32].contains(pixel.bitsAllocated), pixel.bitsStored >= 1, pixel.bitsStored <= pixel.bitsAllocated,
              pixel.highBit < pixel.bitsAllocated
        else {
            throw DICOMError.unsupportedPixelFormat(
                file: path, reason: "BitsAllocated \(pixel.bitsAllocated), BitsStored \(pixel.bitsStored), HighBit \(pixel.highBit)")
        }
        guard ds.has(.pixelData) else { throw DICOMError.noPixelData(file: path) }
        if !pixel.encapsulated {
            let bytesPerSample = pixel.bitsAllocated / 8
            let needed = pixel.rows * pixel.columns * pixel.frames
            let found = ds.valueLength(.pixelData) / bytesPerSample
            if found < needed { throw DICOMError.shortPixelData(file: path, expected: needed, found: found) }
        }

        var malformed: [String] = []
        func uid(_ tag: Tag, _ keyword: String) -> String? {
            guard let value = ds.string(tag), !value.isEmpty else { return nil }
            if let problem = UIDCheck.problem(value) { malformed.append("\(keyword) \(problem)") }
            return value
        }
        var fromMeta = fromMeta
        var sopInstance = uid(.sopInstanceUID, "SOPInstanceUID") ?? ""
        if sopInstance.isEmpty, let meta = nonEmpty(file.metaHeader.string(.mediaStorageSOPInstanceUID)) {
            sopInstance = meta
            fromMeta.append("SOPInstanceUID")
        }
        if !fromMeta.isEmpty {
            malformed.append(fromMeta.joined(separator: " and ") + " empty in the data set, taken from the file meta (Media Storage)")
        }
        guard !sopInstance.isEmpty else {
            throw DICOMError.missingAttribute(file: path, tag: .sopInstanceUID, name: "SOP Instance UID")
        }
        let seriesUID = uid(.seriesInstanceUID, "SeriesInstanceUID") ?? ""
        let studyUID = uid(.studyInstanceUID, "StudyInstanceUID") ?? ""
        let header = SeriesHeader(
            seriesInstanceUID: seriesUID, studyInstanceUID: studyUID,
            frameOfReferenceUID: uid(.frameOfReferenceUID, "FrameOfReferenceUID"),
            patientID: ds.string(.patientID), patientName: ds.string(.patientName),
            modality: modality.isEmpty ? "CT" : modality, manufacturer: nonEmpty(ds.string(.manufacturer)),
            manufacturerModelName: nonEmpty(ds.string(.manufacturerModelName)),
            convolutionKernel: nonEmpty(ds.string(.convolutionKernel))
                ?? nonEmpty(functionalGroup(ds, .ctReconstructionSequence, frame: 0)?.string(.convolutionKernel)),
            seriesDescription: nonEmpty(ds.string(.seriesDescription)), seriesNumber: ds.int(.seriesNumber),
            malformed: malformed)

        let signed = pixel.isSigned
        func xs(_ tag: Tag) -> Int? {
            guard let v = ds.int(tag) else { return nil }
            return signed && v > 32767 ? v - 65536 : v
        }
        let multiFrame = pixel.frames > 1 || sopClass != UID.ctImageStorage
        var sourceReference: String?
        if let ref = ds.item(.sourceImageSequence), let uid = ref.string(.referencedSOPInstanceUID), !uid.isEmpty {
            sourceReference = ref.int(.referencedFrameNumber).map { "\(uid)#\($0)" } ?? uid
        }
        var slices: [SliceInfo] = []
        for f in 0..<pixel.frames {
            func group(_ macro: Tag) -> DICOMItem? { multiFrame ? functionalGroup(ds, macro, frame: f) : nil }
            let measures = group(.pixelMeasuresSequence)
            let transform = group(.pixelValueTransformationSequence)
            let exposure = group(.ctExposureSequence)
            let voi = group(.frameVOILUTSequence)
            let slope = transform?.double(.rescaleSlope) ?? ds.double(.rescaleSlope) ?? 1
            let intercept = transform?.double(.rescaleIntercept) ?? ds.double(.rescaleIntercept) ?? 0
            guard slope != 0, slope.isFinite, intercept.isFinite else {
                throw DICOMError.invalidAttribute(file: path, tag: .rescaleSlope, value: "\(slope)",
                                                  expected: "a finite, non-zero slope")
            }
            let dose = DoseInfo(
                kvp: group(.ctXRayDetailsSequence)?.double(.kvp) ?? ds.double(.kvp),
                tubeCurrentMA: exposure?.double(.xRayTubeCurrentInMA) ?? ds.double(.xRayTubeCurrent)
                    ?? ds.double(.xRayTubeCurrentInMA),
                exposureMAs: exposure?.double(.exposureInMAs) ?? ds.double(.exposure) ?? ds.double(.exposureInMAs),
                exposureTimeMS: exposure?.double(.exposureTimeInMs) ?? ds.double(.exposureTime),
                ctdiVolMGy: exposure?.double(.ctdiVol) ?? ds.double(.ctdiVol),
                dlpMGyCm: nil)  // DLP is not an image attribute; it lives in the dose report
            slices.append(SliceInfo(
                file: path, frame: multiFrame ? f + 1 : nil, sopClassUID: sopClass, sopInstanceUID: sopInstance,
                instanceNumber: ds.int(.instanceNumber),
                position: valid(group(.planePositionSequence)?.doubles(.imagePositionPatient)
                    ?? ds.doubles(.imagePositionPatient), count: 3),
                orientation: valid(group(.planeOrientationSequence)?.doubles(.imageOrientationPatient)
                    ?? ds.doubles(.imageOrientationPatient), count: 6),
                pixelSpacing: valid(measures?.doubles(.pixelSpacing) ?? ds.doubles(.pixelSpacing), count: 2),
                sliceThickness: measures?.double(.sliceThickness) ?? ds.double(.sliceThickness),
                rescaleSlope: slope, rescaleIntercept: intercept, pixel: pixel,
                paddingValue: xs(.pixelPaddingValue), paddingRangeLimit: xs(.pixelPaddingRangeLimit),
                windowCenter: voi?.double(.windowCenter) ?? ds.double(.windowCenter),
                windowWidth: voi?.double(.windowWidth) ?? ds.double(.windowWidth),
                dose: dose, transferSyntaxUID: file.transferSyntaxUID, sourceReference: sourceReference,
                frameOfReferenceUID: header.frameOfReferenceUID, studyInstanceUID: header.studyInstanceUID,
                restoration: RestorationComment.parse(ds.string(.imageComments))))
        }
        return .ct(slices: slices, header: header)
    }

    /// A functional-group macro for frame `frame` (0-based): per-frame first, then shared.
    static func functionalGroup(_ ds: DICOMItem, _ macro: Tag, frame: Int) -> DICOMItem? {
        if let perFrame = ds.item(.perFrameFunctionalGroupsSequence, frame), let m = perFrame.item(macro) { return m }
        if let shared = ds.item(.sharedFunctionalGroupsSequence), let m = shared.item(macro) { return m }
        return nil
    }

    static func hasDICMPreamble(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 132), data.count == 132 else { return false }
        return data[128] == 0x44 && data[129] == 0x49 && data[130] == 0x43 && data[131] == 0x4D
    }
}

private func nonEmpty(_ s: String?) -> String? {
    guard let s, !s.isEmpty else { return nil }
    return s
}

private func valid(_ values: [Double]?, count: Int) -> [Double]? {
    guard let values, values.count == count else { return nil }
    return values
}

/// Checks a UID against PS3.5 §9.1: digits and dots, ≤ 64 characters, no empty or zero-led components.
public enum UIDCheck {
    public static func problem(_ uid: String) -> String? {
        if uid.count > 64 { return "is longer than 64 characters" }
        if uid.contains(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) { return "contains invalid characters" }
        for component in uid.split(separator: ".", omittingEmptySubsequences: false) {
            if component.isEmpty { return "has an empty component" }
            if component.count > 1 && component.hasPrefix("0") { return "has a component with a leading zero" }
        }
        return nil
    }
}
