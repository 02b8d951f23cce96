import DICOMIO
import Foundation
import Testing

@Suite("Ingest: transfer syntaxes decode to the same HU")
struct TransferSyntaxTests {
    static let lossless = ["implicit-little", "explicit-big", "deflated", "jpeg-lossless-sv1", "jpeg-lossless",
                           "jpeg-ls", "rle", "j2k-lossless"]

    @Test("lossless encodings of the signed 12-bit series are bit-exact", arguments: lossless)
    func losslessIsExact(_ encoding: String) throws {
        let original = try loadOnly(fixture("valid/s12-padding"))
        let encoded = try loadOnly(fixture("encodings/\(encoding)"))
        #expect(encoded.info.slices.map(\.position) == original.info.slices.map(\.position))
        #expect(encoded.info.slices[0].transferSyntaxUID != original.info.slices[0].transferSyntaxUID)
        #expect(maxDifference(encoded.hu, original.hu) == 0, "HU differ after \(encoding)")
        #expect(encoded.paddingMask == original.paddingMask, "padding masks differ")
    }

    @Test("attributes stored with VR UN (explicit VR) read as their dictionary VRs")
    func unknownVR() throws {
        // encodings/explicit-un: every string attribute (Modality, UIDs, spacing, rescale, …)
        // carried as UN, as a system that did not know them passes them on.
        let original = try loadOnly(fixture("valid/s12-padding"))
        let encoded = try loadOnly(fixture("encodings/explicit-un"))
        #expect(encoded.info.modality == "CT")
        #expect(encoded.info.seriesInstanceUID == original.info.seriesInstanceUID)
        #expect(encoded.info.seriesDescription == original.info.seriesDescription)
        #expect(encoded.info.pixelSpacing == original.info.pixelSpacing)
        #expect(encoded.info.convolutionKernel == original.info.convolutionKernel)
        #expect(encoded.info.slices.map(\.position) == original.info.slices.map(\.position))
        #expect(encoded.info.slices.map(\.rescaleIntercept) == original.info.slices.map(\.rescaleIntercept))
        #expect(encoded.info.dose == original.info.dose)
        #expect(maxDifference(encoded.hu, original.hu) == 0)
        #expect(encoded.paddingMask == original.paddingMask)
    }

    @Test("multi-frame Enhanced CT decodes the same compressed", arguments: ["enhanced-jpeg-ls", "enhanced-j2k", "enhanced-rle"])
    func enhancedEncodings(_ encoding: String) throws {
        let original = try loadOnly(fixture("valid/enhanced"))
        let encoded = try loadOnly(fixture("encodings/\(encoding)"))
        #expect(encoded.sliceCount == 4)
        #expect(maxDifference(encoded.hu, original.hu) == 0)
    }

    @Test("lossy JPEG extended (12-bit) and JPEG 2000 (.91) decode close to the original",
          arguments: [("jpeg-extended", "u12", "1.2.840.10008.1.2.4.51"), ("j2k", "s12-padding", "1.2.840.10008.1.2.4.91")])
    func lossy(_ encoding: String, _ source: String, _ syntax: String) throws {
        let original = try loadOnly(fixture("valid/\(source)"))
        let encoded = try loadOnly(fixture("encodings/\(encoding)"))
        #expect(encoded.info.slices[0].transferSyntaxUID == syntax)
        let meanAbs = zip(original.hu, encoded.hu).map { Double(abs($0 - $1)) }.reduce(0, +) / Double(original.hu.count)
        #expect(meanAbs < 10, "mean absolute error \(meanAbs) HU")
        #expect(meanAbs < 10 && maxDifference(encoded.hu, original.hu) < 200)
    }
}

@Suite("Ingest: HU conversion, padding, geometry, dose")
struct ConversionTests {
    @Test("signed 12-bit data is sign-extended and padding is masked")
    func signExtension() throws {
        let s = try loadOnly(fixture("valid/s12-padding"))
        // The file stores two's complement in 12 bits with the upper 4 bits clear: without
        // sign extension air (−1000 HU) would read as +3096.
        let corner = s.hu[0]
        #expect(corner == -2000, "outside field of view is the padding value")
        let airInside = s.hu[32 * 64 + 1]  // row 32, column 1: air beside the body, inside the FOV
        #expect(airInside > -1100 && airInside < -900, "air reads \(airInside)")
        #expect(s.hu.max()! < 2048)
        let padded = s.paddingMask.reduce(0) { $0 + Int($1) }
        #expect(padded > 0 && padded == s.hu.filter { $0 == -2000 }.count)
        #expect(s.info.slices[0].paddingValue == -2000)
    }

    @Test("unsigned 12-bit with intercept −1024, signed 14-bit and slope 0.5 give HU")
    func rescale() throws {
        for name in ["u12", "s14", "u16-slope"] {
            let s = try loadOnly(fixture("valid/\(name)"))
            let air = s.hu[32 * 64 + 1]
            #expect(air > -1100 && air < -900, "\(name): air reads \(air)")
            let spine = s.hu[(32 + 14) * 64 + 32]
            #expect(spine > 150, "\(name): spine reads \(spine)")
        }
        let half = try loadOnly(fixture("valid/u16-slope"))
        #expect(half.info.slices[0].rescaleSlope == 0.5)
        #expect(half.hu.contains { $0 != $0.rounded() }, "slope 0.5 must give half-HU values (floating-point rescale)")
    }

    @Test("−3024 HU outside the field of view is masked without a padding value")
    func outsideFieldOfView() throws {
        let s = try loadOnly(fixture("valid/s16-fov"))
        #expect(s.info.slices[0].paddingValue == nil)
        let masked = s.paddingMask.reduce(0) { $0 + Int($1) }
        #expect(masked == s.hu.filter { $0 == -3024 }.count && masked > 0)
        let u12 = try loadOnly(fixture("valid/u12"))
        #expect(u12.paddingMask.isEmpty, "air at −1024 is not outside the field of view")
    }

    @Test("slices are ordered along the normal, not by name or InstanceNumber (gantry tilt)")
    func tiltOrdering() throws {
        let scan = StudyScanner.scan([fixture("valid/tilt")])
        let s = try #require(scan.series.first)
        #expect(s.slices.map(\.instanceNumber) == [4, 3, 2, 1])
        let d = s.slices.compactMap(\.normalPosition)
        #expect(d.count == 4 && zip(d.dropFirst(), d).allSatisfy { $0 > $1 })
        #expect(abs(d[1] - d[0] - 2) < 1e-6, "spacing along the tilted normal")
        #expect(s.warnings.isEmpty, "\(s.warnings)")
    }

    @Test("without positions, InstanceNumber orders the slices")
    func instanceNumberFallback() throws {
        let s = try #require(StudyScanner.scan([fixture("valid/no-position")]).series.first)
        #expect(s.slices.map(\.instanceNumber) == [1, 2, 3, 4])
        #expect(s.slices.allSatisfy { $0.position == nil })
        #expect(s.warnings.contains { $0.contains("ordered by InstanceNumber") })
    }

    @Test("Enhanced CT: one slice per frame, geometry and rescale from functional groups")
    func enhanced() throws {
        let s = try loadOnly(fixture("valid/enhanced"))
        #expect(s.sliceCount == 4)
        #expect(s.info.slices.map(\.frame) == [1, 2, 3, 4])
        #expect(s.info.slices.allSatisfy { $0.rescaleIntercept == -1024 })
        #expect(Set(s.info.slices.compactMap { $0.position?[2] }).count == 4)
        #expect(s.info.pixelSpacing == [0.9, 0.9])
        #expect(s.info.dose.kvp == 120 && s.info.dose.tubeCurrentMA == 200 && s.info.dose.ctdiVolMGy == 8)
        #expect(s.info.convolutionKernel == "STANDARD")
        #expect(s.hu.min()! >= -1024)
    }

    @Test("series metadata and dose tags are collected; unknown ones are nil")
    func metadata() throws {
        let s = try #require(StudyScanner.scan([fixture("valid/u12")]).series.first)
        #expect(s.manufacturer == "LowDoseCT" && s.manufacturerModelName == "Synthetic")
        #expect(s.seriesDescription == "unsigned 12-bit" && s.seriesNumber == 2)
        #expect(s.sliceThickness == 2 && s.pixelSpacing == [0.9, 0.9])
        #expect(s.dose == DoseInfo(kvp: 120, tubeCurrentMA: 200, exposureMAs: 100, exposureTimeMS: 500,
                                   ctdiVolMGy: 8, dlpMGyCm: nil))
        #expect(s.patientID == "LDCT-0001")
    }

    @Test("duplicates, gaps, mixed sizes and malformed UIDs are flagged, the series still read")
    func flawed() throws {
        let scan = StudyScanner.scan([fixture("flawed")])
        #expect(scan.errors.isEmpty)
        let s = try #require(scan.series.first)
        #expect(s.slices.count == 5)
        #expect(s.warnings.contains { $0.contains("duplicate") && ($0.contains("left out: copy-of-slice-2.dcm") || $0.contains("left out: slice-2.dcm")) })
        // The files left out are named with the reason (inspect's table and JSON show them).
        let leftOut = Dictionary(uniqueKeysWithValues: s.leftOut.map { (($0.file as NSString).lastPathComponent, $0.reason) })
        #expect(leftOut.keys.contains("small.dcm") && leftOut["small.dcm"]?.contains("image size 32x32") == true)
        #expect(leftOut.keys.contains { $0 == "copy-of-slice-2.dcm" || $0 == "slice-2.dcm" })
        #expect(s.leftOut.count == 2)
        #expect(s.warnings.contains { $0.contains("gap of 4.00 mm") })
        #expect(s.warnings.contains { $0.contains("mixed image sizes") && $0.contains("small.dcm") })
        #expect(s.warnings.contains { $0.contains("StudyInstanceUID contains invalid characters") })
        #expect(s.studyInstanceUID == "2.25.1234.5a6", "malformed values are kept, not rewritten")
    }
}

@Suite("Ingest: refusals and broken files")
struct RefusalTests {
    /// Every invalid fixture and the error it must raise.
    static let cases: [(String, @Sendable (DICOMError) -> Bool)] = [
        ("truncated-header.dcm", { if case .truncated = $0 { true } else { false } }),
        ("truncated-pixels.dcm", { if case .truncated = $0 { true } else { false } }),
        ("no-pixel-data.dcm", { if case .noPixelData = $0 { true } else { false } }),
        ("short-pixel-data.dcm", { if case .shortPixelData(_, 4096, 2048) = $0 { true } else { false } }),
        ("rgb.dcm", { if case .unsupportedPhotometric(_, "RGB") = $0 { true } else { false } }),
        ("palette.dcm", { if case .unsupportedPhotometric(_, "PALETTE COLOR") = $0 { true } else { false } }),
        ("no-rows.dcm", { if case .missingAttribute(_, .rows, _) = $0 { true } else { false } }),
        ("slope-zero.dcm", { if case .invalidAttribute(_, .rescaleSlope, _, _) = $0 { true } else { false } }),
        ("bits-8-in-16.dcm", { if case .unsupportedPixelFormat = $0 { true } else { false } }),
        ("j2k-corrupt.dcm", { if case .undecodable = $0 { true } else { false } }),
    ]

    @Test("each broken file gets its typed error naming the file", arguments: cases.indices)
    func brokenFile(_ index: Int) throws {
        let (name, matches) = RefusalTests.cases[index]
        let path = fixture("invalid/\(name)")
        var error: DICOMError?
        switch HeaderReader.read(path: path) {
        case .broken(let e): error = e
        case .ct(let slices, _):
            do { _ = try PixelDecoder.decode(file: path, slices: slices) } catch let e as DICOMError { error = e }
        default: break
        }
        let e = try #require(error, "\(name): nothing was thrown")
        #expect(matches(e), "\(name): unexpected \(e)")
        #expect(e.file == path)
        #expect(!e.reason.isEmpty)
    }

    @Test("every file of the invalid set is covered by a test case")
    func invalidSetCovered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: fixture("invalid")).filter { $0.hasSuffix(".dcm") }
        #expect(Set(files) == Set(RefusalTests.cases.map(\.0)))
    }

    @Test("non-CT objects and non-DICOM files are rejected with a reason, not errors")
    func nonCT() {
        let scan = StudyScanner.scan([fixture("nonct")])
        #expect(scan.series.isEmpty && scan.errors.isEmpty)
        let reasons = Dictionary(uniqueKeysWithValues: scan.rejected.map { (($0.file as NSString).lastPathComponent, $0.reason) })
        #expect(reasons["mr.dcm"] == "modality MR, not CT")
        #expect(reasons["secondary-capture.dcm"] == "secondary capture image, not a CT image")
        #expect(reasons["localizer.dcm"] == "localizer (scout) image, not an axial slice")
        #expect(reasons["readme.txt"] == "not a DICOM file")
        #expect(reasons["random.bin"] == "not a DICOM file")
        // SOP Class emptied in the data set and the file meta naming MR: neither says CT.
        #expect(reasons["emptied-uids-mr.dcm"] == "modality MR, not CT")
    }

    @Test("de-identification emptied the data set's UIDs: read as CT by the file meta, with a warning naming the files")
    func emptiedUIDs() throws {
        let scan = StudyScanner.scan([fixture("deidentified/emptied-uids")])
        #expect(scan.rejected.isEmpty && scan.errors.isEmpty, "\(scan.rejected) \(scan.errors)")
        let s = try #require(scan.series.first)
        #expect(s.slices.count == 4)
        let reference = try #require(StudyScanner.scan([fixture("valid/u12")]).series.first)
        // Identified by the Media Storage SOP Instance UID, which equals the original's instance UID.
        #expect(Set(s.slices.map(\.sopInstanceUID)) == Set(reference.slices.map(\.sopInstanceUID)))
        #expect(s.slices.allSatisfy { $0.sopClassUID == UID.ctImageStorage })
        let warning = try #require(s.warnings.first { $0.contains("taken from the file meta") })
        #expect(warning.contains("SOPClassUID and SOPInstanceUID") && warning.contains("4 file(s)"))
        #expect(warning.contains((reference.slices[0].file as NSString).lastPathComponent)
            || reference.slices.contains { warning.contains(($0.file as NSString).lastPathComponent) })
    }

    @Test("a mixed study folder: the CT series is read, the rest reported")
    func mixedStudy() throws {
        let scan = StudyScanner.scan([fixture("mixed-study")])
        #expect(scan.series.count == 1)
        #expect(scan.series.first?.slices.count == 4)
        #expect(scan.rejected.count == 2)
        #expect(scan.errors.count == 1)
        #expect(scan.errors.first?.file.hasSuffix("IM9999") == true)
        #expect(scan.filesExamined == 7)
    }

    @Test("a missing path is an error, the other paths are still read")
    func missingPath() {
        let scan = StudyScanner.scan(["/nonexistent/ldct", fixture("valid/u12")])
        #expect(scan.errors == [.notFound(path: "/nonexistent/ldct")])
        #expect(scan.series.count == 1)
    }

    @Test("UID checks follow PS3.5")
    func uidCheck() {
        #expect(UIDCheck.problem("1.2.840.10008.5.1.4.1.1.2") == nil)
        #expect(UIDCheck.problem("1.2.3a") != nil)
        #expect(UIDCheck.problem("1.02.3") != nil)
        #expect(UIDCheck.problem("1..3") != nil)
        #expect(UIDCheck.problem(String(repeating: "1", count: 65)) != nil)
    }
}
