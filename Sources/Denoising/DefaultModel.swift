import Foundation

/// The bundled default RED-CNN (Models/redcnn-default.safetensors, docs/model-card.md): where
/// `ldct restore` finds it when no `--model` is given.
public enum DefaultModel {
    public static let relativePath = "Models/redcnn-default.safetensors"

    /// Candidates, in order: $LDCT_DEFAULT_MODEL; next to the executable's package checkout
    /// (`.build/<config>/ldct` → `../../Models/…`, also through the triple-named build folder);
    /// the current folder; /usr/local/share/lowdosect and /usr/share/lowdosect.
    public static func candidates(executable: String = CommandLine.arguments.first ?? "") -> [String] {
        var list: [String] = []
        if let env = ProcessInfo.processInfo.environment["LDCT_DEFAULT_MODEL"], !env.isEmpty { list.append(env) }
        let exe = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        var dir = exe
        for _ in 0..<4 {
            list.append(dir.appendingPathComponent(relativePath).path)
            dir = dir.deletingLastPathComponent()
        }
        list.append(FileManager.default.currentDirectoryPath + "/" + relativePath)
        list += ["/usr/local/share/lowdosect/redcnn-default.safetensors", "/usr/share/lowdosect/redcnn-default.safetensors"]
        return list
    }

    /// The first candidate that exists, or nil.
    public static func locate(executable: String = CommandLine.arguments.first ?? "") -> String? {
        candidates(executable: executable).first { FileManager.default.fileExists(atPath: $0) }
    }
}
