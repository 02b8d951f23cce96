/// A DICOM attribute tag (group, element).
public struct Tag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    /// `(0028,0010)`, the form DICOM tools print.
    public var description: String {
        "(" + hex4(group) + "," + hex4(element) + ")"
    }

    public static func < (a: Tag, b: Tag) -> Bool {
        (a.group, a.element) < (b.group, b.element)
    }
}

private func hex4(_ v: UInt16) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 4 - s.count) + s
}

/// The attributes LowDoseCT reads or writes, by their DICOM keyword.
public extension Tag {
    // File meta information
    static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    // SOP common, general study/series, patient
    static let specificCharacterSet = Tag(0x0008, 0x0005)
    static let imageType = Tag(0x0008, 0x0008)
    static let instanceCreationDate = Tag(0x0008, 0x0012)
    static let instanceCreationTime = Tag(0x0008, 0x0013)
    static let sopClassUID = Tag(0x0008, 0x0016)
    static let sopInstanceUID = Tag(0x0008, 0x0018)
    static let studyDate = Tag(0x0008, 0x0020)
    static let seriesDate = Tag(0x0008, 0x0021)
    static let acquisitionDate = Tag(0x0008, 0x0022)
    static let contentDate = Tag(0x0008, 0x0023)
    static let studyTime = Tag(0x0008, 0x0030)
    static let seriesTime = Tag(0x0008, 0x0031)
    static let acquisitionTime = Tag(0x0008, 0x0032)
    static let contentTime = Tag(0x0008, 0x0033)
    static let accessionNumber = Tag(0x0008, 0x0050)
    static let modality = Tag(0x0008, 0x0060)
    static let manufacturer = Tag(0x0008, 0x0070)
    static let institutionName = Tag(0x0008, 0x0080)
    static let institutionAddress = Tag(0x0008, 0x0081)
    static let referringPhysicianName = Tag(0x0008, 0x0090)
    static let codeValue = Tag(0x0008, 0x0100)
    static let codingSchemeDesignator = Tag(0x0008, 0x0102)
    static let codeMeaning = Tag(0x0008, 0x0104)
    static let timezoneOffsetFromUTC = Tag(0x0008, 0x0201)
    static let stationName = Tag(0x0008, 0x1010)
    static let studyDescription = Tag(0x0008, 0x1030)
    static let seriesDescription = Tag(0x0008, 0x103E)
    static let institutionalDepartmentName = Tag(0x0008, 0x1040)
    static let manufacturerModelName = Tag(0x0008, 0x1090)
    static let referencedSOPClassUID = Tag(0x0008, 0x1150)
    static let referencedSOPInstanceUID = Tag(0x0008, 0x1155)
    static let referencedFrameNumber = Tag(0x0008, 0x1160)
    static let derivationDescription = Tag(0x0008, 0x2111)
    static let sourceImageSequence = Tag(0x0008, 0x2112)
    static let derivationCodeSequence = Tag(0x0008, 0x9215)

    static let patientName = Tag(0x0010, 0x0010)
    static let patientID = Tag(0x0010, 0x0020)
    static let issuerOfPatientID = Tag(0x0010, 0x0021)
    static let patientBirthDate = Tag(0x0010, 0x0030)
    static let patientSex = Tag(0x0010, 0x0040)
    static let patientAge = Tag(0x0010, 0x1010)
    static let patientSize = Tag(0x0010, 0x1020)
    static let patientWeight = Tag(0x0010, 0x1030)
    static let patientIdentityRemoved = Tag(0x0012, 0x0062)
    static let deidentificationMethod = Tag(0x0012, 0x0063)
    static let deidentificationMethodCodeSequence = Tag(0x0012, 0x0064)

    // acquisition and dose
    static let bodyPartExamined = Tag(0x0018, 0x0015)
    static let scanOptions = Tag(0x0018, 0x0022)
    static let sliceThickness = Tag(0x0018, 0x0050)
    static let kvp = Tag(0x0018, 0x0060)
    static let spacingBetweenSlices = Tag(0x0018, 0x0088)
    static let dataCollectionDiameter = Tag(0x0018, 0x0090)
    static let deviceSerialNumber = Tag(0x0018, 0x1000)
    static let softwareVersions = Tag(0x0018, 0x1020)
    static let protocolName = Tag(0x0018, 0x1030)
    static let reconstructionDiameter = Tag(0x0018, 0x1100)
    static let distanceSourceToDetector = Tag(0x0018, 0x1110)
    static let distanceSourceToPatient = Tag(0x0018, 0x1111)
    static let gantryDetectorTilt = Tag(0x0018, 0x1120)
    static let tableHeight = Tag(0x0018, 0x1130)
    static let rotationDirection = Tag(0x0018, 0x1140)
    static let exposureTime = Tag(0x0018, 0x1150)
    static let xRayTubeCurrent = Tag(0x0018, 0x1151)
    static let exposure = Tag(0x0018, 0x1152)
    static let filterType = Tag(0x0018, 0x1160)
    static let generatorPower = Tag(0x0018, 0x1170)
    static let focalSpots = Tag(0x0018, 0x1190)
    static let convolutionKernel = Tag(0x0018, 0x1210)
    static let patientPosition = Tag(0x0018, 0x5100)
    static let revolutionTime = Tag(0x0018, 0x9305)
    static let singleCollimationWidth = Tag(0x0018, 0x9306)
    static let totalCollimationWidth = Tag(0x0018, 0x9307)
    static let tableSpeed = Tag(0x0018, 0x9309)
    static let tableFeedPerRotation = Tag(0x0018, 0x9310)
    static let spiralPitchFactor = Tag(0x0018, 0x9311)
    static let ctReconstructionSequence = Tag(0x0018, 0x9314)
    static let ctExposureSequence = Tag(0x0018, 0x9321)
    static let ctXRayDetailsSequence = Tag(0x0018, 0x9325)
    static let exposureTimeInMs = Tag(0x0018, 0x9328)
    static let xRayTubeCurrentInMA = Tag(0x0018, 0x9330)
    static let exposureInMAs = Tag(0x0018, 0x9332)
    static let ctdiVol = Tag(0x0018, 0x9345)
    static let ctdiPhantomTypeCodeSequence = Tag(0x0018, 0x9346)

    // relationship, image plane
    static let studyInstanceUID = Tag(0x0020, 0x000D)
    static let seriesInstanceUID = Tag(0x0020, 0x000E)
    static let studyID = Tag(0x0020, 0x0010)
    static let seriesNumber = Tag(0x0020, 0x0011)
    static let acquisitionNumber = Tag(0x0020, 0x0012)
    static let instanceNumber = Tag(0x0020, 0x0013)
    static let patientOrientation = Tag(0x0020, 0x0020)
    static let imagePositionPatient = Tag(0x0020, 0x0032)
    static let imageOrientationPatient = Tag(0x0020, 0x0037)
    static let frameOfReferenceUID = Tag(0x0020, 0x0052)
    static let positionReferenceIndicator = Tag(0x0020, 0x1040)
    static let sliceLocation = Tag(0x0020, 0x1041)
    static let imageComments = Tag(0x0020, 0x4000)
    static let laterality = Tag(0x0020, 0x0060)
    static let imageLaterality = Tag(0x0020, 0x0062)
    static let frameAnatomySequence = Tag(0x0020, 0x9071)
    static let frameLaterality = Tag(0x0020, 0x9072)
    static let frameContentSequence = Tag(0x0020, 0x9111)
    static let planePositionSequence = Tag(0x0020, 0x9113)
    static let planeOrientationSequence = Tag(0x0020, 0x9116)
    static let inStackPositionNumber = Tag(0x0020, 0x9057)
    static let dimensionIndexValues = Tag(0x0020, 0x9157)

    // image pixel
    static let samplesPerPixel = Tag(0x0028, 0x0002)
    static let photometricInterpretation = Tag(0x0028, 0x0004)
    static let numberOfFrames = Tag(0x0028, 0x0008)
    static let rows = Tag(0x0028, 0x0010)
    static let columns = Tag(0x0028, 0x0011)
    static let pixelSpacing = Tag(0x0028, 0x0030)
    static let bitsAllocated = Tag(0x0028, 0x0100)
    static let bitsStored = Tag(0x0028, 0x0101)
    static let highBit = Tag(0x0028, 0x0102)
    static let pixelRepresentation = Tag(0x0028, 0x0103)
    static let pixelPaddingValue = Tag(0x0028, 0x0120)
    static let pixelPaddingRangeLimit = Tag(0x0028, 0x0121)
    static let burnedInAnnotation = Tag(0x0028, 0x0301)
    static let windowCenter = Tag(0x0028, 0x1050)
    static let windowWidth = Tag(0x0028, 0x1051)
    static let rescaleIntercept = Tag(0x0028, 0x1052)
    static let rescaleSlope = Tag(0x0028, 0x1053)
    static let rescaleType = Tag(0x0028, 0x1054)
    static let windowCenterWidthExplanation = Tag(0x0028, 0x1055)
    static let lossyImageCompression = Tag(0x0028, 0x2110)
    static let lossyImageCompressionRatio = Tag(0x0028, 0x2112)
    static let lossyImageCompressionMethod = Tag(0x0028, 0x2114)
    static let pixelMeasuresSequence = Tag(0x0028, 0x9110)
    static let frameVOILUTSequence = Tag(0x0028, 0x9132)
    static let pixelValueTransformationSequence = Tag(0x0028, 0x9145)

    static let purposeOfReferenceCodeSequence = Tag(0x0040, 0xA170)
    static let sharedFunctionalGroupsSequence = Tag(0x5200, 0x9229)
    static let perFrameFunctionalGroupsSequence = Tag(0x5200, 0x9230)
    static let pixelData = Tag(0x7FE0, 0x0010)
}

/// SOP classes and transfer syntaxes by UID.
public enum UID {
    public static let ctImageStorage = "1.2.840.10008.5.1.4.1.1.2"
    public static let enhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1"
    public static let legacyConvertedEnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.2"
    public static let secondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7"

    /// Transfer syntaxes whose compression loses information (JPEG lossy, JPEG-LS near-lossless).
    public static let lossyTransferSyntaxes: Set<String> = [
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
    ]

    /// Readable names of the transfer syntaxes ingest decodes.
    public static let transferSyntaxNames: [String: String] = [
        "1.2.840.10008.1.2": "Implicit VR Little Endian",
        "1.2.840.10008.1.2.1": "Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.99": "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.2": "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50": "JPEG Baseline",
        "1.2.840.10008.1.2.4.51": "JPEG Extended (12-bit)",
        "1.2.840.10008.1.2.4.57": "JPEG Lossless",
        "1.2.840.10008.1.2.4.70": "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81": "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91": "JPEG 2000",
        "1.2.840.10008.1.2.5": "RLE Lossless",
    ]
}
