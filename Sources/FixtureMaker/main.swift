// FixtureMaker — writes the synthetic DICOM series the tests start from (Tests/Fixtures/dicom) and the ingest benchmark series.
// Run through scripts/make-fixtures, which then derives every transfer syntax with DCMTK/GDCM tools.
//
//   FixtureMaker fixtures OUTDIR     base series, Enhanced CT, invalid and non-CT sources
//   FixtureMaker bench OUTDIR N      an N-slice 512² series for the ingest benchmark
import DICOMIO
import Foundation

/// SplitMix64: small, seedable, the same on every platform.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func gaussian() -> Double {
        let u = max(uniform(), 1e-12), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}

/// A body-like slice: air, an elliptic body with a fat rim, soft tissue, lungs, a spine, noise.
/// `fovHU` marks the corners outside a circular field of view (nil: none).
func syntheticSlice(size: Int, slice: Int, rng: inout SeededRandom, noise: Double, step: Double = 1,
                    fovHU: Float? = nil) -> SliceImage {
    var hu = [Float](repeating: -1000, count: size * size)
    var mask = [UInt8](repeating: 0, count: size * size)
    let c = Double(size) / 2
    let shift = Double(slice) * 0.01
    for y in 0..<size {
        for x in 0..<size {
            let dx = (Double(x) - c) / c, dy = (Double(y) - c) / c
            var v: Double = -1000
            let body = (dx / 0.85) * (dx / 0.85) + (dy / 0.65) * (dy / 0.65)
            if body < 1 {
                v = body > 0.8 ? -100 : 40
                let lung1 = pow((dx + 0.4) / 0.25, 2) + pow((dy + 0.1 - shift) / 0.35, 2)
                let lung2 = pow((dx - 0.4) / 0.25, 2) + pow((dy + 0.1 - shift) / 0.35, 2)
                if lung1 < 1 || lung2 < 1 { v = -850 }
                let spine = pow(dx / 0.12, 2) + pow((dy - 0.45) / 0.12, 2)
                if spine < 1 { v = spine > 0.6 ? 900 : 250 }
                let lesion = pow((dx - 0.15) / 0.06, 2) + pow((dy - 0.1) / 0.06, 2)
                if lesion < 1 { v = 60 }
                v += noise * rng.gaussian()
            } else {
                v += noise * 0.5 * rng.gaussian()
            }
            v = (v / step).rounded() * step
            let i = y * size + x
            hu[i] = Float(v)
            if let fovHU, dx * dx + dy * dy > 0.98 {
                hu[i] = fovHU
                mask[i] = 1
            }
        }
    }
    return SliceImage(rows: size, columns: size, hu: hu, paddingMask: fovHU == nil ? [] : mask)
}

func images(_ count: Int, size: Int, seed: UInt64, noise: Double = 20, step: Double = 1, fovHU: Float? = nil) -> [SliceImage] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { syntheticSlice(size: size, slice: $0, rng: &rng, noise: noise, step: step, fovHU: fovHU) }
}

/// UIDs under the 2.25 arc, fixed per fixture so regenerating gives the same files.
func uid(_ n: Int, _ m: Int = 0) -> String { "2.25.1234567890123456789\(n).\(m)" }

func spec(_ id: Int, size: Int, description: String) -> NewSeriesSpec {
    var s = NewSeriesSpec(studyInstanceUID: uid(1, 1), seriesInstanceUID: uid(2, id), rows: size, columns: size)
    s.frameOfReferenceUID = uid(3, 1)
    s.seriesNumber = id
    s.seriesDescription = description
    s.pixelSpacing = [0.9, 0.9]
    s.origin = [-28.8, -28.8, -100]
    return s
}

/// Shuffled, meaningless file names so nothing can order slices by name.
func shuffledNames(_ count: Int, seed: UInt64) -> [String] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in String(rng.next() % 0xFFFF_FFFF, radix: 16) }
}

func write(_ s: NewSeriesSpec, _ imgs: [SliceImage], _ dir: String, seed: UInt64) throws {
    let names = shuffledNames(imgs.count, seed: seed)
    try NewSeriesWriter.writeClassic(s, images: imgs, directory: dir, fileName: { names[$0] })
}

func makeFixtures(_ out: String) throws {
    let valid = out + "/valid"
    let size = 64, n = 4
    // 1. signed, 12 bits stored (two's complement in 12 bits, upper bits clear), intercept 0, padding.
    var s = spec(1, size: size, description: "signed 12-bit, padding")
    s.bitsStored = 12; s.signed = true; s.paddingValue = -2000
    try write(s, images(n, size: size, seed: 1, fovHU: -2000), valid + "/s12-padding", seed: 11)
    // 2. unsigned 12 bits, intercept −1024 (the most common CT encoding).
    s = spec(2, size: size, description: "unsigned 12-bit")
    s.bitsStored = 12; s.signed = false; s.rescaleIntercept = -1024
    try write(s, images(n, size: size, seed: 2), valid + "/u12", seed: 12)
    // 3. signed 14 bits.
    s = spec(3, size: size, description: "signed 14-bit")
    s.bitsStored = 14; s.signed = true
    try write(s, images(n, size: size, seed: 3), valid + "/s14", seed: 13)
    // 4. unsigned 16 bits, slope 0.5, intercept −1024 (HU on a half-unit grid).
    s = spec(4, size: size, description: "unsigned 16-bit, slope 0.5")
    s.bitsStored = 16; s.signed = false; s.rescaleSlope = 0.5; s.rescaleIntercept = -1024
    try write(s, images(n, size: size, seed: 4, step: 0.5), valid + "/u16-slope", seed: 14)
    // 5. signed 16 bits, air outside the field of view at −3024 HU without a padding value.
    s = spec(5, size: size, description: "signed 16-bit, outside FOV -3024")
    s.bitsStored = 16; s.signed = true
    try write(s, images(n, size: size, seed: 5, fovHU: -3024), valid + "/s16-fov", seed: 15)
    // 6. gantry tilt 15°: the column direction tilts; positions advance along z.
    s = spec(6, size: size, description: "gantry tilt 15 deg")
    let t = 15.0 * Double.pi / 180
    s.orientation = [1, 0, 0, 0, cos(t), -sin(t)]
    s.gantryTilt = 15
    s.bitsStored = 16; s.signed = true
    s.instanceNumbers = [4, 3, 2, 1]  // reversed: order must come from positions
    try write(s, images(n, size: size, seed: 6), valid + "/tilt", seed: 16)
    // 7. no positions: ordered by InstanceNumber (written without position/orientation by the script).
    s = spec(7, size: size, description: "instance numbers only")
    s.bitsStored = 16; s.signed = true
    try write(s, images(n, size: size, seed: 7), valid + "/no-position", seed: 17)
    // 8. Enhanced CT, one multi-frame file.
    s = spec(8, size: size, description: "enhanced multi-frame")
    s.bitsStored = 12; s.signed = false; s.rescaleIntercept = -1024
    s.instanceUIDs = [uid(4, 8)]
    try FileManager.default.createDirectory(atPath: valid + "/enhanced", withIntermediateDirectories: true)
    try NewSeriesWriter.writeEnhanced(s, images: images(n, size: size, seed: 8), path: valid + "/enhanced/enhanced.dcm")

    // 9. A flawed series: malformed StudyInstanceUID, a gap (slice 4 missing), a duplicate file,
    //    and one slice of another size under the same SeriesInstanceUID.
    let flawed = out + "/flawed"
    s = spec(10, size: size, description: "flawed series")
    s.studyInstanceUID = "2.25.1234.5a6"
    s.bitsStored = 16; s.signed = true
    let flawedPaths = try NewSeriesWriter.writeClassic(s, images: images(6, size: size, seed: 10), directory: flawed,
                                                       fileName: { "slice-\($0 + 1).dcm" })
    try FileManager.default.removeItem(atPath: flawedPaths[3])
    try FileManager.default.copyItem(atPath: flawedPaths[1], toPath: flawed + "/copy-of-slice-2.dcm")
    var small = s
    small.rows = 32; small.columns = 32
    small.instanceUIDs = [uid(10, 99)]
    small.origin = [-28.8, -28.8, 100]
    let smallImage = SliceImage(rows: 32, columns: 32, hu: [Float](repeating: 0, count: 32 * 32))
    try NewSeriesWriter.writeClassic(small, images: [smallImage], directory: flawed, fileName: { _ in "small.dcm" })

    // Sources for the invalid and non-CT sets (modified by the script with dcmodify).
    let sources = out + "/sources"
    s = spec(9, size: size, description: "source for invalid files")
    s.bitsStored = 16; s.signed = true
    try NewSeriesWriter.writeClassic(s, images: images(1, size: size, seed: 9), directory: sources,
                                     fileName: { _ in "base.dcm" })
    // Pixel data shorter than Rows × Columns: write a 64×64 header with 32×64 pixels.
    let short = try DICOMFile(path: sources + "/base.dcm")
    try short.dataset.setPixels([UInt16](repeating: 100, count: size * size / 2))
    try short.dataset.set(.sopInstanceUID, uid(9, 99))
    try FileManager.default.createDirectory(atPath: out + "/invalid", withIntermediateDirectories: true)
    try short.save(to: out + "/invalid/short-pixel-data.dcm", transferSyntax: .explicitLittle)
}

/// Low/normal-dose pairs laid out like the public Mayo / TCIA low-dose set: the two doses are
/// separate studies (different Study, Series and Frame of Reference UIDs, PatientID "Anonymous"),
/// identical geometry, the quarter-dose header a copy of the full-dose one (identical per-slice
/// tube current and CTDIvol under modulation), no Source Image Sequence. Plus one normal-dose
/// series per refusal: a second reconstruction with the same kernel (ambiguous), another pixel
/// spacing, another kernel. (scripts/make-fixtures then removes SeriesDescription and sets the
/// Mayo ImageType and ExposureModulationType with dcmodify.)
func makePairingFixtures(_ out: String) throws {
    let size = 64, n = 5
    let mA: [Double] = [180, 240, 310, 260, 200]
    func mayo(_ id: Int, kernel: String, spacing: Double = 0.7) -> NewSeriesSpec {
        var s = NewSeriesSpec(studyInstanceUID: uid(20, id), seriesInstanceUID: uid(21, id), rows: size, columns: size)
        s.frameOfReferenceUID = uid(22, id)
        s.patientName = "Anonymous"
        s.patientID = "Anonymous"
        s.seriesNumber = 2
        s.convolutionKernel = kernel
        s.pixelSpacing = [spacing, spacing]
        s.origin = [-22.4, -22.4, -120]
        s.sliceThickness = 3
        s.sliceSpacing = 3
        s.bitsStored = 16
        s.signed = true
        s.sliceDoses = mA.map { DoseInfo(kvp: 120, tubeCurrentMA: $0, exposureMAs: $0 * 0.5, exposureTimeMS: 500, ctdiVolMGy: $0 * 0.05) }
        return s
    }
    let dir = out + "/pairing"
    // Same anatomy (the synthetic slice is deterministic but for its noise); quarter dose = twice the σ.
    try write(mayo(1, kernel: "B30f"), images(n, size: size, seed: 31, noise: 10), dir + "/mayo-full", seed: 41)
    try write(mayo(2, kernel: "B30f"), images(n, size: size, seed: 32, noise: 20), dir + "/mayo-quarter", seed: 42)
    try write(mayo(3, kernel: "B30f"), images(n, size: size, seed: 33, noise: 10), dir + "/refuse/full-again", seed: 43)
    try write(mayo(4, kernel: "B30f", spacing: 0.75), images(n, size: size, seed: 34, noise: 10), dir + "/refuse/full-other-spacing", seed: 44)
    try write(mayo(5, kernel: "D45f"), images(n, size: size, seed: 35, noise: 10), dir + "/refuse/full-other-kernel", seed: 45)
}

func makeBench(_ out: String, count: Int) throws {
    var s = spec(200, size: 512, description: "ingest benchmark")
    s.seriesInstanceUID = uid(6, 200)
    let one = images(1, size: 512, seed: 200)[0]
    try NewSeriesWriter.writeClassic(s, images: Array(repeating: one, count: count), directory: out)
}

let args = CommandLine.arguments
do {
    guard args.count >= 3 else {
        FileHandle.standardError.write("usage: FixtureMaker fixtures|bench OUTDIR [N]\n".data(using: .utf8)!)
        exit(64)
    }
    switch args[1] {
    case "fixtures":
        try makeFixtures(args[2])
        try makePairingFixtures(args[2])
    case "bench": try makeBench(args[2], count: args.count > 3 ? Int(args[3]) ?? 200 : 200)
    default:
        FileHandle.standardError.write("unknown mode \(args[1])\n".data(using: .utf8)!)
        exit(64)
    }
} catch {
    FileHandle.standardError.write("FixtureMaker: \(error)\n".data(using: .utf8)!)
    exit(1)
}
