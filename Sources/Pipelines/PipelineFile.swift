import Foundation
import Yams

/// Why a pipeline file cannot run. Every case names the file and, where the YAML has one, the line.
public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case syntax(file: String, line: Int?, reason: String)
    case unknownStage(file: String, line: Int?, name: String, known: [String])
    case unknownKey(file: String, line: Int?, stage: String, key: String, known: [String])
    case missingKey(file: String, line: Int?, stage: String, key: String)
    case wrongType(file: String, line: Int?, stage: String, key: String, expected: String)
    case missingInput(file: String, line: Int?, stage: String, key: String, path: String)
    case undefinedVariable(file: String, line: Int?, name: String)

    public var description: String {
        func at(_ f: String, _ l: Int?) -> String { l.map { "\(f):\($0)" } ?? f }
        switch self {
        case .unreadable(let f, let r): return "\(f): cannot read: \(r)"
        case .syntax(let f, let l, let r): return "\(at(f, l)): \(r)"
        case .unknownStage(let f, let l, let n, let k): return "\(at(f, l)): unknown stage '\(n)' (stages: \(k.joined(separator: ", ")))"
        case .unknownKey(let f, let l, let s, let key, let k):
            let hint = PipelineError.closest(key, in: k).map { " — did you mean '\($0)'?" } ?? ""
            return "\(at(f, l)): stage '\(s)' has no option '\(key)'\(hint) (options: \(k.joined(separator: ", ")))"
        case .missingKey(let f, let l, let s, let key): return "\(at(f, l)): stage '\(s)' needs '\(key)'"
        case .wrongType(let f, let l, let s, let key, let e): return "\(at(f, l)): stage '\(s)': '\(key)' must be \(e)"
        case .missingInput(let f, let l, let s, let key, let p):
            return "\(at(f, l)): stage '\(s)': \(key) '\(p)' does not exist and no earlier stage makes it"
        case .undefinedVariable(let f, let l, let n): return "\(at(f, l)): variable '${\(n)}' is not defined (vars: or --set \(n)=…)"
        }
    }

    /// The known key nearest to a misspelt one (edit distance ≤ 2).
    static func closest(_ key: String, in known: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var prev = row[0]
                row[0] = i
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    let old = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                    prev = old
                }
            }
            return row[b.count]
        }
        let scored = known.map { ($0, distance(Array(key), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }
}

/// A declarative pipeline: stages run in order, each the same as the `ldct` subcommand of that
/// name with the same options. Validated completely before anything runs.
///
/// ```yaml
/// name: demo
/// vars: {out: ../out/demo}          # ${out} below; `ldct run FILE --set out=/elsewhere` overrides
/// stages:
///   - restore: {inputs: [../SampleDICOM/quarter-dose], output: "${out}/restored"}
///   - report: {low: [../SampleDICOM/quarter-dose], restored: ["${out}/restored"], output: "${out}/report"}
/// ```
/// Relative paths are relative to the pipeline file's folder.
public struct Pipeline: Sendable, Equatable {
    public struct Stage: Sendable, Equatable {
        public var name: String
        /// `ldct` arguments, subcommand first.
        public var arguments: [String]
        /// Folders or files this stage writes (for later stages' input checks and for the summary).
        public var outputs: [String]
        public var line: Int?
    }

    public var file: String
    public var name: String
    public var description: String?
    public var stages: [Stage]

    enum Kind: Sendable {
        case path, paths, string, int, double, doubles, bool
        var label: String {
            switch self {
            case .path: return "a path"
            case .paths: return "a path or a list of paths"
            case .string: return "a string"
            case .int: return "an integer"
            case .double: return "a number"
            case .doubles: return "a number or a list of numbers"
            case .bool: return "true or false"
            }
        }
    }

    enum Role: Sendable { case input, output, plain }

    struct Key: Sendable {
        var kind: Kind
        /// Command-line flag; nil = positional arguments.
        var flag: String?
        var required = false
        var role = Role.plain
    }

    /// Every stage and its keys (YAML keys use snake_case; they map to the subcommand's flags).
    static let stages: [String: [String: Key]] = [
        "phantom": [
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "slices": Key(kind: .int, flag: "--slices"), "seed": Key(kind: .int, flag: "--seed"),
            "size": Key(kind: .int, flag: "--size"), "transfer_syntax": Key(kind: .string, flag: "--transfer-syntax"),
        ],
        "simulate": [
            "inputs": Key(kind: .paths, flag: nil, required: true, role: .input),
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "dose": Key(kind: .double, flag: "--dose", required: true), "i0": Key(kind: .double, flag: "--i0"),
            "calibrate": Key(kind: .bool, flag: "--calibrate"), "seed": Key(kind: .int, flag: "--seed"),
            "filter": Key(kind: .string, flag: "--filter"), "texture": Key(kind: .string, flag: "--texture"),
            "check": Key(kind: .path, flag: "--check", role: .output), "uid_root": Key(kind: .string, flag: "--uid-root"),
            "transfer_syntax": Key(kind: .string, flag: "--transfer-syntax"),
        ],
        "restore": [
            "inputs": Key(kind: .paths, flag: nil, required: true, role: .input),
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "model": Key(kind: .path, flag: "--model", role: .input), "uid_root": Key(kind: .string, flag: "--uid-root"),
            "transfer_syntax": Key(kind: .string, flag: "--transfer-syntax"), "threads": Key(kind: .int, flag: "--threads"),
            "report": Key(kind: .bool, flag: "--report"), "reference": Key(kind: .paths, flag: "--reference", role: .input),
            "force": Key(kind: .bool, flag: "--force"), "strength": Key(kind: .string, flag: "--strength"),
            "pair_by": Key(kind: .string, flag: "--pair-by"), "conv": Key(kind: .string, flag: "--conv"),
            "ensemble": Key(kind: .int, flag: "--ensemble"),
        ],
        "tune": [
            "model": Key(kind: .path, flag: "--model", role: .input),
            "low": Key(kind: .paths, flag: "--low", required: true, role: .input),
            "normal": Key(kind: .paths, flag: "--normal", required: true, role: .input),
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "knots": Key(kind: .int, flag: "--knots"), "max_strength": Key(kind: .double, flag: "--max-strength"),
            "threads": Key(kind: .int, flag: "--threads"), "pair_by": Key(kind: .string, flag: "--pair-by"),
            "conv": Key(kind: .string, flag: "--conv"), "ssim_weight": Key(kind: .double, flag: "--ssim-weight"),
            "monotone": Key(kind: .bool, flag: "--monotone"), "correct_hu": Key(kind: .bool, flag: "--correct-hu"),
            "ensemble": Key(kind: .int, flag: "--ensemble"),
        ],
        "merge": [
            "base": Key(kind: .path, flag: "--base", role: .input),
            "tuned": Key(kind: .path, flag: "--tuned", required: true, role: .input),
            "weight": Key(kind: .double, flag: "--weight", required: true),
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
        ],
        "report": [
            "low": Key(kind: .paths, flag: "--low", required: true, role: .input),
            "restored": Key(kind: .paths, flag: "--restored", required: true, role: .input),
            "normal": Key(kind: .paths, flag: "--normal", role: .input),
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "pair_by": Key(kind: .string, flag: "--pair-by"),
        ],
        "train": [
            "output": Key(kind: .path, flag: "--output", required: true, role: .output),
            "normal": Key(kind: .paths, flag: "--normal", required: true, role: .input),
            "low": Key(kind: .paths, flag: "--low", role: .input), "simulate_dose": Key(kind: .doubles, flag: "--simulate-dose"),
            "i0": Key(kind: .double, flag: "--i0"), "steps": Key(kind: .int, flag: "--steps"), "seed": Key(kind: .int, flag: "--seed"),
            "width": Key(kind: .int, flag: "--width"), "patch": Key(kind: .int, flag: "--patch"), "batch": Key(kind: .int, flag: "--batch"),
            "lr": Key(kind: .double, flag: "--lr"), "lr_final": Key(kind: .double, flag: "--lr-final"),
            "decay_steps": Key(kind: .int, flag: "--decay-steps"), "decay_shape": Key(kind: .string, flag: "--decay-shape"),
            "loss": Key(kind: .string, flag: "--loss"), "strided": Key(kind: .bool, flag: "--strided"),
            "no_augment": Key(kind: .bool, flag: "--no-augment"), "identity_start": Key(kind: .bool, flag: "--identity-start"),
            "noise_weight": Key(kind: .double, flag: "--noise-weight"), "kernel_augment": Key(kind: .double, flag: "--kernel-augment"), "pair_by": Key(kind: .string, flag: "--pair-by"),
            "outside_weight": Key(kind: .double, flag: "--outside-weight"), "ssim_weight": Key(kind: .double, flag: "--ssim-weight"),
            "noise_channel": Key(kind: .bool, flag: "--noise-channel"),
            "init_weights": Key(kind: .path, flag: "--init-weights", role: .input),
            "validation_fraction": Key(kind: .double, flag: "--validation-fraction"),
            "validation_every": Key(kind: .int, flag: "--validation-every"), "checkpoint_every": Key(kind: .int, flag: "--checkpoint-every"),
            "conv": Key(kind: .string, flag: "--conv"),
            "validation_low": Key(kind: .paths, flag: "--validation-low", role: .input),
            "validation_slices": Key(kind: .int, flag: "--validation-slices"),
            "validation_normal": Key(kind: .paths, flag: "--validation-normal", role: .input),
        ],
    ]

    public static var stageNames: [String] { stages.keys.sorted() }

    /// Reads and validates a pipeline file. `variables` override the file's `vars:`.
    /// `checkInputs`: input paths must exist or be made by an earlier stage.
    public static func load(_ path: String, variables: [String: String] = [:], checkInputs: Bool = true) throws -> Pipeline {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError.unreadable(file: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw PipelineError.syntax(file: path, line: nil, reason: "empty file") }
            root = node
        } catch let e as PipelineError {
            throw e
        } catch let e as YamlError {
            throw PipelineError.syntax(file: path, line: PipelineError.line(of: e), reason: "not valid YAML: \(e)")
        } catch {
            throw PipelineError.syntax(file: path, line: nil, reason: "not valid YAML: \(error)")
        }
        guard let top = root.mapping else { throw PipelineError.syntax(file: path, line: root.mark?.line, reason: "the file must be a mapping with 'stages:'") }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var vars: [String: String] = [:]
        var name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var description: String?
        var stageNodes: [Node] = []
        var stagesLine: Int?
        for (k, v) in top {
            guard let key = k.string else { continue }
            switch key {
            case "name": name = v.string ?? name
            case "description": description = v.string
            case "vars":
                guard let m = v.mapping else { throw PipelineError.syntax(file: path, line: v.mark?.line, reason: "'vars' must be a mapping") }
                for (vk, vv) in m { if let a = vk.string, let b = vv.string { vars[a] = b } }
            case "stages":
                guard let s = v.sequence else { throw PipelineError.syntax(file: path, line: v.mark?.line, reason: "'stages' must be a list") }
                stageNodes = Array(s)
                stagesLine = v.mark?.line
            default:
                throw PipelineError.unknownKey(file: path, line: k.mark?.line, stage: "(top level)", key: key,
                                               known: ["name", "description", "vars", "stages"])
            }
        }
        guard !stageNodes.isEmpty else { throw PipelineError.syntax(file: path, line: stagesLine, reason: "no stages") }
        for (k, v) in variables { vars[k] = v }

        func substitute(_ s: String, line: Int?) throws -> String {
            var out = s
            var guardCount = 0
            while let r = out.range(of: "${"), let end = out[r.upperBound...].firstIndex(of: "}") {
                let key = String(out[r.upperBound..<end])
                guard let value = vars[key] else { throw PipelineError.undefinedVariable(file: path, line: line, name: key) }
                out.replaceSubrange(r.lowerBound...end, with: value)
                guardCount += 1
                if guardCount > 100 { break }
            }
            return out
        }
        func resolve(_ p: String) -> String {
            let expanded = (p as NSString).expandingTildeInPath
            if expanded.hasPrefix("/") { return URL(fileURLWithPath: expanded).standardizedFileURL.path }
            return URL(fileURLWithPath: (base as NSString).appendingPathComponent(expanded)).standardizedFileURL.path
        }

        var result: [Stage] = []
        var produced: [String] = []
        for node in stageNodes {
            guard let m = node.mapping, m.count == 1, let (sk, sv) = m.first, let stageName = sk.string else {
                throw PipelineError.syntax(file: path, line: node.mark?.line, reason: "each stage is a mapping of one stage name to its options, e.g. '- restore: {…}'")
            }
            guard let spec = stages[stageName] else {
                throw PipelineError.unknownStage(file: path, line: sk.mark?.line, name: stageName, known: stageNames)
            }
            let line = sk.mark?.line
            let options = sv.mapping
            if options == nil && sv.null == nil {
                throw PipelineError.syntax(file: path, line: sv.mark?.line, reason: "the options of '\(stageName)' must be a mapping")
            }
            var arguments = [stageName]
            var positional: [String] = []
            var outputs: [String] = []
            var seen = Set<String>()
            var inputsToCheck: [(key: String, path: String, line: Int?)] = []
            for (ok, ov) in options ?? Node.Mapping([]) {
                guard let key = ok.string else { continue }
                let kline = ok.mark?.line
                guard let keySpec = spec[key] else {
                    throw PipelineError.unknownKey(file: path, line: kline, stage: stageName, key: key, known: spec.keys.sorted())
                }
                seen.insert(key)
                func wrong() -> PipelineError { .wrongType(file: path, line: kline, stage: stageName, key: key, expected: keySpec.kind.label) }
                func scalars() throws -> [String] {
                    if let seq = ov.sequence {
                        return try seq.map { n in
                            guard let s = n.scalar?.string else { throw wrong() }
                            return try substitute(s, line: kline)
                        }
                    }
                    guard let s = ov.scalar?.string else { throw wrong() }
                    return [try substitute(s, line: kline)]
                }
                var values: [String]
                switch keySpec.kind {
                case .path, .string, .int, .double, .bool:
                    guard ov.scalar != nil else { throw wrong() }
                    values = try scalars()
                case .paths, .doubles:
                    values = try scalars()
                    guard !values.isEmpty else { throw wrong() }
                }
                switch keySpec.kind {
                case .int: guard Int(values[0]) != nil else { throw wrong() }
                case .double: guard Double(values[0]) != nil else { throw wrong() }
                case .doubles: guard values.allSatisfy({ Double($0) != nil }) else { throw wrong() }
                case .bool: guard ["true", "false", "yes", "no"].contains(values[0].lowercased()) else { throw wrong() }
                default: break
                }
                if keySpec.kind == .path || keySpec.kind == .paths {
                    if key == "model" && values == ["default"] { continue }
                    values = values.map(resolve)
                }
                switch keySpec.role {
                case .input: inputsToCheck += values.map { (key, $0, kline) }
                case .output: outputs += values
                case .plain: break
                }
                guard let flag = keySpec.flag else {
                    positional += values
                    continue
                }
                switch keySpec.kind {
                case .bool: if ["true", "yes"].contains(values[0].lowercased()) { arguments.append(flag) }
                case .doubles: arguments += [flag, values.joined(separator: ",")]
                case .paths: arguments.append(flag); arguments += values
                default: arguments += [flag, values[0]]
                }
            }
            for (key, keySpec) in spec.sorted(by: { $0.key < $1.key }) where keySpec.required && !seen.contains(key) {
                throw PipelineError.missingKey(file: path, line: line, stage: stageName, key: key)
            }
            if checkInputs {
                for input in inputsToCheck where !FileManager.default.fileExists(atPath: input.path) {
                    let made = produced.contains { input.path == $0 || input.path.hasPrefix($0 + "/") || $0.hasPrefix(input.path + "/") }
                    if !made { throw PipelineError.missingInput(file: path, line: input.line, stage: stageName, key: input.key, path: input.path) }
                }
            }
            // Positional arguments right after the subcommand: a list option (--reference a b) would swallow them at the end.
            arguments.insert(contentsOf: positional, at: 1)
            produced += outputs
            result.append(Stage(name: stageName, arguments: arguments, outputs: outputs, line: line))
        }
        return Pipeline(file: path, name: name, description: description, stages: result)
    }
}

extension PipelineError {
    static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): return mark.line
        default: return nil
        }
    }
}
