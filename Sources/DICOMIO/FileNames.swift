import Foundation

/// Safe file and folder names from values that come from DICOM tags or users.
public enum FileNames {
    /// Keeps letters, digits, `-`, `_` and `.`; everything else becomes `_`. Never `.`/`..`,
    /// never empty, at most `maxLength` characters. No path separators can survive.
    public static func sanitize(_ value: String, maxLength: Int = 64, fallback: String = "unnamed") -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            let c = Character(scalar)
            if scalar.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_" || c == ".") {
                out.append(c)
            } else {
                out.append("_")
            }
        }
        while out.contains("__") { out = out.replacingOccurrences(of: "__", with: "_") }
        out = out.trimmingCharacters(in: CharacterSet(charactersIn: "._"))
        if out.count > maxLength { out = String(out.prefix(maxLength)) }
        if out.isEmpty || out == "." || out == ".." { return fallback }
        return out
    }
}

/// Writes a file under a temporary name in the same folder, then renames it into place, so an
/// interrupted run leaves either the old file, the new one, or a `*.tmp` that the next series
/// writer in that folder removes (`removeStale`).
public enum AtomicFile {
    public static func temporaryPath(for path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        return (dir as NSString).appendingPathComponent(".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
    }

    /// Removes the temporary files a killed writer left in `directory` (`.NAME.PID.RAND.tmp`
    /// whose PID is no live process on this host). A series folder is written by one process at
    /// a time (the plan gives each series to one shard), so a dead writer's files are garbage;
    /// a live process's are kept. Returns how many were removed.
    @discardableResult
    public static func removeStale(in directory: String) -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return 0 }
        var removed = 0
        for name in names where name.hasPrefix(".") && name.hasSuffix(".tmp") {
            let parts = name.split(separator: ".")
            guard parts.count >= 4, let pid = Int32(parts[parts.count - 3]), pid > 0 else { continue }
            if pid == getpid() || kill(pid, 0) == 0 || errno == EPERM { continue }
            if unlink((directory as NSString).appendingPathComponent(name)) == 0 { removed += 1 }
        }
        return removed
    }

    /// Calls `write` with a temporary path and renames the result to `path`.
    public static func write(to path: String, _ write: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try write(tmp)
            try commit(tmp, to: path)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// Writes bytes atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { tmp in
            do { try data.write(to: URL(fileURLWithPath: tmp)) } catch {
                throw DICOMError.writeFailed(file: path, reason: "\(error.localizedDescription)")
            }
        }
    }

    static func commit(_ tmp: String, to path: String) throws {
        // Flush the data before the rename so a crash cannot leave a renamed but empty file.
        let fd = open(tmp, O_RDONLY)
        if fd >= 0 { fsync(fd); close(fd) }
        guard rename(tmp, path) == 0 else {
            throw DICOMError.writeFailed(file: path, reason: String(cString: strerror(errno)))
        }
    }
}
