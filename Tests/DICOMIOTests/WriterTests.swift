import DICOMIO
import Foundation
import Testing

@Suite("Writer: derived series")
struct WriterTests {
    static let fixed = SeriesWriterOptions(seriesDescription: "{source} [test]", creationDate: Date(timeIntervalSince1970: 1_800_000_000))

    /// Writes a series and reads it back.
    func roundTrip(_ source: CTSeries, options: SeriesWriterOptions = fixed) throws -> (WriteResult, CTSeries, String) {
        let out = temporaryFolder()
        let result = try SeriesWriter(options: options).write(source, to: out)
        return (result, try loadOnly(out), out)
    }

    @Test("read → write → read keeps HU and padding exactly", arguments: ["s12-padding", "u12", "s14", "u16-slope", "s16-fov", "tilt", "enhanced"])
    func roundTripIsExact(_ name: String) throws {
        let source = try loadOnly(fixture("valid/\(name)"))
        let (result, back, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(result.files.count == source.sliceCount)
        #expect(result.clampedPixels == 0)
        #expect(maxDifference(back.hu, source.hu) == 0)
        #expect(back.paddingMask == source.paddingMask, "padding masks differ")
        #expect(back.info.slices.map(\.position) == source.info.slices.map(\.position))
        #expect(back.info.seriesInstanceUID == result.seriesInstanceUID)
        #expect(back.info.seriesInstanceUID != source.info.seriesInstanceUID)
        #expect(back.info.studyInstanceUID == source.info.studyInstanceUID)
        #expect(back.info.frameOfReferenceUID == source.info.frameOfReferenceUID)
        #expect(back.info.seriesNumber == (source.info.seriesNumber ?? 0) + 1000)
        #expect(back.info.seriesDescription == (source.info.seriesDescription ?? "") + " [test]")
        #expect(back.info.dose == source.info.dose)
        #expect(!back.isMultiFrameOutput)
    }

    @Test("LowDoseCT's restoration comment is read back per slice (strength, removed noise); any other comment reads as none")
    func restorationComment() throws {
        #expect(RestorationComment.plainText == "Denoised by LowDoseCT RED-CNN; not the original acquisition")
        #expect(RestorationComment.parse(RestorationComment.plainText) == RestorationComment(strength: 1))
        #expect(RestorationComment(strength: 1).text == "Denoised by LowDoseCT RED-CNN at strength 1.00; not the original acquisition")
        #expect(RestorationComment(strength: 0.625, removedNoise: 11.94).text
                == "Denoised by LowDoseCT RED-CNN at strength 0.62 (removed noise 11.9 HU); not the original acquisition")
        #expect(RestorationComment.parse(RestorationComment(strength: 0.5).text) == RestorationComment(strength: 0.5))
        #expect(RestorationComment.parse("Denoised by LowDoseCT RED-CNN at strength 1.00 (removed noise 96.8 HU); not the original acquisition")
                == RestorationComment(strength: 1, removedNoise: 96.8))
        for foreign in ["Patient moved", "Denoised by LowDoseCT RED-CNN at strength high", "", "denoised by lowdosect red-cnn"] {
            #expect(RestorationComment.parse(foreign) == nil, "\(foreign)")
        }
        // Through a written file and the header reader.
        let source = try loadOnly(fixture("valid/u12"))
        for (comment, expected) in [(RestorationComment(strength: 0.82, removedNoise: 31.4).text, RestorationComment(strength: 0.82, removedNoise: 31.4)),
                                    ("Reviewed by Dr X", nil)] {
            var options = Self.fixed
            options.imageComments = comment
            let (_, back, out) = try roundTrip(source, options: options)
            defer { try? FileManager.default.removeItem(atPath: out) }
            #expect(!back.info.slices.isEmpty && back.info.slices.allSatisfy { $0.restoration == expected })
        }
    }

    @Test("every output file references its source instance (and frame) and is marked derived")
    func derivation() throws {
        let source = try loadOnly(fixture("valid/enhanced"))
        let (result, _, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        for (i, path) in result.files.enumerated() {
            let ds = try DICOMFile(path: path).dataset
            #expect(ds.string(.sopClassUID) == UID.ctImageStorage)
            #expect(ds.strings(.imageType) == ["DERIVED", "SECONDARY", "AXIAL"])
            let ref = try #require(ds.item(.sourceImageSequence))
            #expect(ref.string(.referencedSOPInstanceUID) == source.info.slices[i].sopInstanceUID)
            #expect(ref.string(.referencedSOPClassUID) == UID.enhancedCTImageStorage)
            #expect(ref.int(.referencedFrameNumber) == i + 1)
            #expect(ref.item(.purposeOfReferenceCodeSequence)?.string(.codeValue) == "121322")
            #expect(ds.item(.derivationCodeSequence)?.string(.codeValue) == "110001")
            #expect(ds.string(.derivationDescription)?.isEmpty == false)
            #expect(ds.int(.numberOfFrames) == nil)
            #expect(ds.string(.patientName) == "LOWDOSECT^PHANTOM")
        }
        let uids = Set(result.files.map { try? DICOMFile(path: $0).dataset.string(.sopInstanceUID) })
        #expect(uids.count == result.files.count)
    }

    @Test("output of clean sources passes dciodvfy with no errors",
          arguments: ["s12-padding", "u16-slope", "tilt", "enhanced", "laterality-empty", "enhanced-laterality"])
    func dciodvfyClean(_ name: String) throws {
        let source = try loadOnly(fixture("valid/\(name)"))
        let (result, _, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        for file in result.files {
            let errors = try dciodvfyErrors(file)
            #expect(errors.isEmpty, "\(name): \(errors)")
        }
    }

    @Test("laterality travels: an empty Laterality stays, a frame's FrameLaterality becomes Image Laterality")
    func laterality() throws {
        for (name, check) in [("laterality-empty", { (ds: DICOMItem) in ds.has(.laterality) && ds.string(.laterality) == "" }),
                              ("enhanced-laterality", { (ds: DICOMItem) in ds.string(.imageLaterality) == "U" })] {
            let source = try loadOnly(fixture("valid/\(name)"))
            let (result, _, out) = try roundTrip(source)
            defer { try? FileManager.default.removeItem(atPath: out) }
            for file in result.files { #expect(check(try DICOMFile(path: file).dataset), "\(name): \(file)") }
        }
    }

    @Test("no laterality anywhere and a body part that does not rule it out (PARTIALBODY): Laterality added empty, dciodvfy clean")
    func lateralityUnknown() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = NewSeriesSpec(studyInstanceUID: "2.25.43.1", seriesInstanceUID: "2.25.43.2", rows: 16, columns: 16)
        spec.frameOfReferenceUID = "2.25.43.3"
        spec.bodyPartExamined = "PARTIALBODY"
        let images = (0..<2).map { _ in SliceImage(rows: 16, columns: 16, hu: [Float](repeating: 40, count: 256)) }
        try NewSeriesWriter.writeClassic(spec, images: images, directory: dir + "/in")
        let source = try loadOnly(dir + "/in")
        let result = try SeriesWriter(options: WriterTests.fixed).write(source, to: dir + "/out")
        #expect(result.repairs.contains { $0.contains("Laterality") })
        for file in result.files {
            let ds = try DICOMFile(path: file).dataset
            #expect(ds.has(.laterality) && ds.string(.laterality) == "")
            #expect(try dciodvfyErrors(file).isEmpty)
        }
        // An unpaired body part needs none, and gets none.
        let abdomen = try loadOnly(fixture("valid/u12"))
        let (plain, _, out) = try roundTrip(abdomen)
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try !DICOMFile(path: plain.files[0]).dataset.has(.laterality))
    }

    @Test("a source whose UIDs de-identification emptied: the output names its source by the file meta's instance UID and gets a study UID")
    func emptiedUIDs() throws {
        let source = try loadOnly(fixture("deidentified/emptied-uids"))
        let (result, _, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(result.repairs.contains { $0.contains("StudyInstanceUID was empty") })
        for (i, file) in result.files.enumerated() {
            let ds = try DICOMFile(path: file).dataset
            #expect(ds.item(.sourceImageSequence)?.string(.referencedSOPInstanceUID) == source.info.slices[i].sopInstanceUID)
            #expect(!(ds.string(.studyInstanceUID) ?? "").isEmpty && !(ds.string(.seriesInstanceUID) ?? "").isEmpty)
            let before = Set(try dciodvfyErrors(source.info.slices[i].file))
            let after = Set(try dciodvfyErrors(file))
            #expect(after.isSubset(of: before), "new errors: \(after.subtracting(before))")
        }
    }

    @Test("a flawed source: the output adds no dciodvfy error the source lacks")
    func flawedSource() throws {
        let source = try loadOnly(fixture("flawed"))
        let (result, _, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        for (i, file) in result.files.enumerated() {
            let before = Set(try dciodvfyErrors(source.info.slices[i].file))
            let after = Set(try dciodvfyErrors(file))
            #expect(after.isSubset(of: before), "new errors: \(after.subtracting(before))")
        }
    }

    @Test("missing Type 2 attributes are added and a missing frame of reference is made once per series")
    func repairs() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = NewSeriesSpec(studyInstanceUID: "2.25.42.1", seriesInstanceUID: "2.25.42.2", rows: 16, columns: 16)
        spec.frameOfReferenceUID = nil
        let images = (0..<3).map { _ in SliceImage(rows: 16, columns: 16, hu: [Float](repeating: 40, count: 256)) }
        let paths = try NewSeriesWriter.writeClassic(spec, images: images, directory: dir + "/in")
        for p in paths {  // strip Type 2 attributes, as some exporters do
            let f = try DICOMFile(path: p)
            for tag in [Tag.patientName, .referringPhysicianName, .accessionNumber, .studyID] { f.dataset.remove(tag) }
            try f.save(to: p, transferSyntax: .explicitLittle)
        }
        let source = try loadOnly(dir + "/in")
        let result = try SeriesWriter(options: WriterTests.fixed).write(source, to: dir + "/out")
        #expect(result.repairs.contains { $0.contains("FrameOfReferenceUID") })
        #expect(result.repairs.contains { $0.contains("PatientName") })
        let frames = Set(try result.files.map { try DICOMFile(path: $0).dataset.string(.frameOfReferenceUID) })
        #expect(frames.count == 1 && frames.first! != nil)
        for f in result.files {
            let ds = try DICOMFile(path: f).dataset
            #expect(ds.has(.patientName) && ds.has(.accessionNumber))
            #expect(try dciodvfyErrors(f).isEmpty)
        }
    }

    @Test("JPEG-LS, RLE and JPEG lossless output decode to the same HU", arguments: [OutputTransferSyntax.jpegLSLossless, .rle, .jpegLossless])
    func compressedOutput(_ syntax: OutputTransferSyntax) throws {
        let source = try loadOnly(fixture("valid/s12-padding"))
        var options = WriterTests.fixed
        options.transferSyntax = syntax
        let (_, back, out) = try roundTrip(source, options: options)
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(maxDifference(back.hu, source.hu) == 0)
        #expect(back.info.slices[0].transferSyntaxUID != "1.2.840.10008.1.2.1")
    }

    @Test("values beyond 16 bits are clamped and counted")
    func clamping() throws {
        var source = try loadOnly(fixture("valid/s14"))
        source.hu[0] = 40_000
        source.hu[1] = -40_000
        let out = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try SeriesWriter(options: WriterTests.fixed).write(source, to: out)
        #expect(result.clampedPixels == 2)
        let back = try loadOnly(out)
        #expect(back.hu[0] == 32767 && back.hu[1] == -32768)
    }

    @Test("deterministic UIDs repeat for the same key and differ for another")
    func deterministicUIDs() throws {
        let source = try loadOnly(fixture("valid/u12"))
        func uids(_ key: String) throws -> [String] {
            var options = WriterTests.fixed
            options.deterministicKey = key
            let out = temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: out) }
            let r = try SeriesWriter(options: options).write(source, to: out)
            return try [r.seriesInstanceUID] + r.files.map { try DICOMFile(path: $0).dataset.string(.sopInstanceUID) ?? "" }
        }
        let a = try uids("model-a"), b = try uids("model-a"), c = try uids("model-b")
        #expect(a == b)
        #expect(Set(a).isDisjoint(with: Set(c)))
        #expect(a.allSatisfy { UIDCheck.problem($0) == nil })
        let rooted = try UIDFactory(root: "1.2.826.0.1.3680043.10.999").random()
        #expect(rooted.hasPrefix("1.2.826.0.1.3680043.10.999.") && rooted.count <= 64 && UIDCheck.problem(rooted) == nil)
        #expect(throws: DICOMError.self) { try UIDFactory(root: "1.2.x") }
    }

    @Test("output names cannot escape the folder; writes are atomic")
    func namesAndAtomicity() throws {
        #expect(FileNames.sanitize("../../etc/passwd") == "etc_passwd")
        #expect(FileNames.sanitize("..") == "unnamed")
        #expect(!FileNames.sanitize("a/b\\c:d").contains("/"))
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try AtomicFile.write(to: dir + "/x.dcm") { tmp in
                try Data("half".utf8).write(to: URL(fileURLWithPath: tmp))
                throw Boom()
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no half file, no temporary left")
        let source = try loadOnly(fixture("valid/u12"))
        _ = try SeriesWriter(options: WriterTests.fixed).write(source, to: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { $0.hasSuffix(".dcm") && !$0.hasPrefix(".") })
    }

    @Test("a series writer removes the temporary files a killed writer left in its folder, not a live one's")
    func staleTemporaries() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A process that has ended: its PID is free (reused PIDs are not this short-lived child's).
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = ".IM0001.dcm.\(child.processIdentifier).12345.tmp", live = ".IM0002.dcm.\(getpid()).678.tmp"
        for name in [dead, live, "notes.tmp"] { try Data("half".utf8).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        let source = try loadOnly(fixture("valid/u12"))
        _ = try SeriesWriter(options: WriterTests.fixed).write(source, to: dir)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!left.contains(dead), "the dead writer's half file is gone")
        #expect(left.contains(live) && left.contains("notes.tmp"), "a live writer's file and files of other names stay: \(left)")
    }

    @Test("inputs are never modified")
    func inputsUntouched() throws {
        let folder = fixture("valid/s12-padding")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        let source = try loadOnly(folder)
        let (_, _, out) = try roundTrip(source)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let after = try files.map { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)) }
        #expect(before == after)
    }
}

extension CTSeries {
    var isMultiFrameOutput: Bool { info.isMultiFrame }
}

@Suite("Writer: de-identified sources")
struct DeidentificationTests {
    @Test("de-identification attributes are carried over unchanged, and no private attribute is copied")
    func deidentified() throws {
        let dir = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = NewSeriesSpec(studyInstanceUID: "2.25.51.1", seriesInstanceUID: "2.25.51.2", rows: 16, columns: 16)
        spec.frameOfReferenceUID = "2.25.51.3"
        spec.patientName = "ANON^0001"
        let paths = try NewSeriesWriter.writeClassic(spec, images: [SliceImage(rows: 16, columns: 16, hu: [Float](repeating: 0, count: 256))],
                                                     directory: dir + "/in")
        let f = try DICOMFile(path: paths[0])
        try f.dataset.set(.patientIdentityRemoved, "YES")
        try f.dataset.set(.deidentificationMethod, "Basic Application Confidentiality Profile")
        try f.save(to: paths[0], transferSyntax: .explicitLittle)
        // A vendor's private block, as scanners write them.
        let (code, _, err) = try run("/usr/bin/dcmodify", ["-nb", "-i", "(0009,0010)=ACME", paths[0]])
        #expect(code == 0, "\(err)")
        #expect(try DICOMFile(path: paths[0]).dataset.tags.contains { $0.group == 0x0009 })
        let result = try SeriesWriter(options: WriterTests.fixed).write(try loadOnly(dir + "/in"), to: dir + "/out")
        let ds = try DICOMFile(path: result.files[0]).dataset
        #expect(ds.string(.patientIdentityRemoved) == "YES")
        #expect(ds.string(.deidentificationMethod) == "Basic Application Confidentiality Profile")
        #expect(ds.string(.patientName) == "ANON^0001")
        #expect(!ds.tags.contains { $0.group % 2 == 1 }, "private attributes must not be copied")
        #expect(try dciodvfyErrors(result.files[0]).isEmpty)
    }
}
