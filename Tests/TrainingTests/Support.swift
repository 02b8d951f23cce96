import Foundation

/// A fresh temporary folder, removed by the caller's `defer`.
func tempDir() -> String {
    let p = NSTemporaryDirectory() + "ldct-train-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}
