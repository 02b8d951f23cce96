import DICOMIO
import Foundation
import Testing

/// Tests/Fixtures/dicom (made by scripts/make-fixtures; see its README.md).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/dicom").path

func fixture(_ relative: String) -> String { fixtures + "/" + relative }

/// A fresh temporary folder, removed by the caller's `defer`.
func temporaryFolder(_ label: String = "ldct") -> String {
    let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Scans a folder that must hold exactly one CT series and loads it.
func loadOnly(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> CTSeries {
    let scan = StudyScanner.scan([path])
    #expect(scan.errors.isEmpty, "\(scan.errors)", sourceLocation: sourceLocation)
    try #require(scan.series.count == 1, "expected one series in \(path), found \(scan.series.count)",
                 sourceLocation: sourceLocation)
    let (series, errors) = SeriesLoader.load(scan.series[0])
    #expect(errors.isEmpty, "\(errors)", sourceLocation: sourceLocation)
    return try #require(series, sourceLocation: sourceLocation)
}

/// Runs a program and returns (exit code, stdout, stderr).
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String, String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The "Error" lines dciodvfy prints for a file (warnings are not errors).
func dciodvfyErrors(_ file: String) throws -> [String] {
    let (_, out, err) = try run("/usr/bin/dciodvfy", [file])
    return (out + err).split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error") }
}

/// Largest absolute difference between two HU buffers (infinity when the sizes differ), so a
/// failing comparison prints one number instead of two arrays.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}
