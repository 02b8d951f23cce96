import Foundation
import Testing

/// End-to-end: the built `ldct` binary, its output, files and exit codes.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
let fixtures = packageRoot + "/Tests/Fixtures/dicom"

/// The `ldct` next to the test bundle (same build configuration).
func ldctBinary() throws -> String {
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["LDCT_BINARY"] { candidates.append(env) }
    let bundleDir = Bundle.main.bundleURL.deletingLastPathComponent().path
    candidates += [Bundle.main.bundleURL.path + "/ldct", bundleDir + "/ldct",
                   (CommandLine.arguments[0] as NSString).deletingLastPathComponent + "/ldct",
                   packageRoot + "/.build/debug/ldct"]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw CLIError.notBuilt(candidates)
    }
    return found
}

enum CLIError: Error { case notBuilt([String]) }

@discardableResult
func ldct(_ arguments: String...) throws -> (code: Int32, out: String, err: String) { try ldct(arguments) }

/// Runs `ldct`; `environment` adds to (and overrides) this process's environment.
func ldct(_ arguments: [String], environment: [String: String] = [:]) throws -> (code: Int32, out: String, err: String) {
    try tool(try ldctBinary(), arguments, environment: environment)
}

/// Runs a program (a path, or a name looked up in PATH) and returns its exit status and output.
func tool(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (code: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [program] + arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("ldct inspect (end to end)")
struct InspectCLITests {
    @Test("table for a valid series, exit 0, no patient data")
    func table() throws {
        let r = try ldct("inspect", fixtures + "/valid/tilt")
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("gantry tilt 15 deg"))
        #expect(r.out.contains("4 × 64×64"))
        #expect(r.out.contains("kVp 120, mA 200"))
        #expect(!r.out.contains("LOWDOSECT^PHANTOM") && !r.out.contains("LDCT-0001"))
        let withPatient = try ldct("inspect", "--show-patient", fixtures + "/valid/tilt")
        #expect(withPatient.out.contains("LOWDOSECT^PHANTOM"))
    }

    @Test("JSON document has the documented shape")
    func json() throws {
        let r = try ldct("inspect", "--json", fixtures + "/valid/enhanced", fixtures + "/valid/u12", fixtures + "/nonct")
        #expect(r.code == 0, "\(r.err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let series = try #require(doc["series"] as? [[String: Any]])
        #expect(series.count == 2)
        for key in ["seriesInstanceUID", "studyInstanceUID", "modality", "manufacturer", "seriesDescription", "rows",
                    "columns", "pixelSpacing", "sliceThickness", "dose", "slices"] {
            #expect(series[0].keys.contains(key), "missing \(key)")
        }
        #expect(series[0]["patientName"] == nil)
        let dose = try #require(series[0]["dose"] as? [String: Any])
        for key in ["kvp", "tubeCurrentMA", "exposureMAs", "ctdiVolMGy"] { #expect(dose.keys.contains(key)) }
        let bySeries = Dictionary(uniqueKeysWithValues: series.map { ($0["seriesDescription"] as? String ?? "", $0) })
        let enhancedSlices = try #require(bySeries["enhanced multi-frame"]?["slices"] as? [[String: Any]])
        #expect(enhancedSlices.map { $0["frame"] as? Int } == [1, 2, 3, 4])
        let classic = try #require(bySeries["unsigned 12-bit"]?["slices"] as? [[String: Any]])
        #expect(classic.count == 4)
        #expect(classic[0]["frame"] is NSNull)
        for key in ["file", "sopInstanceUID", "instanceNumber", "position", "huMin", "huMax", "huMean", "huStd"] {
            #expect(classic[0].keys.contains(key), "slice lacks \(key)")
        }
        let mean = try #require(classic[0]["huMean"] as? Double)
        #expect(mean > -900 && mean < -400)
        let rejected = try #require(doc["rejected"] as? [[String: Any]])
        #expect(rejected.contains { ($0["reason"] as? String) == "modality MR, not CT" })
        #expect(rejected.allSatisfy { $0["file"] is String })
    }

    @Test("files left out of a series are named with the reason, in the table and the JSON")
    func leftOut() throws {
        let table = try ldct("inspect", fixtures + "/flawed")
        #expect(table.code == 0, "\(table.err)")
        #expect(table.out.contains("left out") && table.out.contains("small.dcm: image size 32x32"), "\(table.out)")
        #expect(table.out.contains("duplicate instance: same SOPInstanceUID as"))
        let r = try ldct("inspect", "--json", fixtures + "/flawed")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let series = try #require((doc["series"] as? [[String: Any]])?.first)
        let left = try #require(series["leftOut"] as? [[String: String]])
        #expect(left.count == 2 && left.allSatisfy { $0["file"] != nil && $0["reason"] != nil })
        #expect(left.contains { ($0["file"] ?? "").hasSuffix("small.dcm") })
    }

    @Test("broken files: listed, the rest read, exit 1 with a summary")
    func brokenExitCode() throws {
        let r = try ldct("inspect", fixtures + "/mixed-study")
        #expect(r.code == 1)
        #expect(r.out.contains("unsigned 12-bit"))
        #expect(r.err.contains("IM9999") && r.err.contains("truncated"))
        #expect(r.err.contains("1 series, 4 slice(s)"))
    }

    @Test("no CT at all: exit 2")
    func nothingFound() throws {
        let r = try ldct("inspect", fixtures + "/nonct")
        #expect(r.code == 2)
        #expect(r.err.contains("no CT slice found"))
        let missing = try ldct("inspect", "/nonexistent/study")
        #expect(missing.code == 2)
    }

    @Test("bad command line: exit 64")
    func usage() throws {
        #expect(try ldct("inspect").code == 64)
        #expect(try ldct("inspect", "--no-such-flag", fixtures).code == 64)
    }
}
