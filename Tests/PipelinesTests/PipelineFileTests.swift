import Foundation
import Pipelines
import Testing

@Suite("pipeline files")
struct PipelineFileTests {
    func write(_ text: String) throws -> String {
        let dir = NSTemporaryDirectory() + "ldct-pipeline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try text.write(toFile: dir + "/p.yaml", atomically: true, encoding: .utf8)
        return dir + "/p.yaml"
    }

    @Test("stages become ldct arguments; paths resolve against the file; outputs feed later inputs")
    func arguments() throws {
        let file = try write("""
            vars: {o: out}
            stages:
              - restore: {inputs: [in], output: '${o}/r', model: default, transfer_syntax: jpeg-ls, report: true, reference: [in]}
              - report: {low: [in], restored: ['${o}/r'], output: '${o}/rep'}
              - train: {normal: [in], simulate_dose: [0.25, 0.1], output: '${o}/run', steps: 3, identity_start: false}
            """)
        let dir = (file as NSString).deletingLastPathComponent
        let p = try Pipeline.load(file)
        #expect(p.name == "p" && p.stages.map(\.name) == ["restore", "report", "train"])
        let restore = p.stages[0].arguments
        #expect(restore.first == "restore" && restore[1] == dir + "/in", "positional inputs right after the subcommand")
        #expect(!restore.contains("--model"), "model: default means the bundled model")
        #expect(restore.contains("--report") && restore.contains("jpeg-ls"))
        #expect(p.stages[1].arguments.contains(dir + "/out/r"))
        let train = p.stages[2].arguments
        #expect(train.contains("0.25,0.1") && !train.contains("--identity-start"))
    }

    @Test("train → merge → tune: the fine-tuned weights feed the merge, the merge feeds the tune; flags as the subcommands spell them")
    func mergeAndTune() throws {
        let file = try write("""
            vars: {o: out}
            stages:
              - train: {normal: [in], low: [in], output: '${o}/run', steps: 3, init_weights: in/v1.safetensors}
              - merge: {base: in/v1.safetensors, tuned: '${o}/run/model.safetensors', weight: 0.5, output: '${o}/merged.safetensors'}
              - tune: {model: '${o}/merged.safetensors', low: [in], normal: [in], output: '${o}/tuned.safetensors', correct_hu: true, ssim_weight: 50, monotone: false}
            """)
        try Data().write(to: URL(fileURLWithPath: (file as NSString).deletingLastPathComponent + "/in/v1.safetensors"))
        let dir = (file as NSString).deletingLastPathComponent
        let p = try Pipeline.load(file)
        let merge = p.stages[1].arguments
        #expect(merge == ["merge", "--base", dir + "/in/v1.safetensors", "--tuned", dir + "/out/run/model.safetensors",
                          "--weight", "0.5", "--output", dir + "/out/merged.safetensors"], "\(merge)")
        let tune = p.stages[2].arguments
        #expect(tune.contains("--correct-hu") && !tune.contains("--monotone"))
        if let i = tune.firstIndex(of: "--ssim-weight") { #expect(tune[i + 1] == "50") } else { Issue.record("no --ssim-weight: \(tune)") }
        if let i = tune.firstIndex(of: "--model") { #expect(tune[i + 1] == dir + "/out/merged.safetensors") } else { Issue.record("no --model: \(tune)") }
        // The merge cannot run without the fine-tuned model.
        let broken = try write("stages:\n  - merge: {tuned: nowhere.safetensors, weight: 0.5, output: m.safetensors}\n")
        #expect(throws: PipelineError.self) { try Pipeline.load(broken) }
        let noWeight = try write("stages:\n  - merge: {tuned: in, output: m.safetensors}\n")
        do { _ = try Pipeline.load(noWeight); Issue.record("merge without weight accepted") } catch let e as PipelineError {
            #expect(e.description.contains("needs 'weight'"), "\(e)")
        }
    }

    @Test("Pipelines/train-real.yaml (default model v3's recipe) is valid: fine-tune from v1, merge with v1 at 0.8, tune with the HU correction and α ≤ 1 on the validation pairs")
    func trainRealRecipe() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let p = try Pipeline.load(root + "/Pipelines/train-real.yaml", checkInputs: false)
        let names = p.stages.map(\.name)
        #expect(names.suffix(3) == ["train", "merge", "tune"], "\(names)")
        #expect(names.filter { $0 == "simulate" }.count == 38, "30 training + 8 validation simulations")
        guard names.count >= 3 else { return }
        let train = p.stages[names.count - 3].arguments, merge = p.stages[names.count - 2].arguments, tune = p.stages[names.count - 1].arguments
        func value(_ args: [String], _ flag: String) -> String? { args.firstIndex(of: flag).map { args[$0 + 1] } }
        #expect(value(train, "--init-weights") == value(merge, "--base"), "the merge's base is the model training started from")
        #expect(value(train, "--init-weights")?.hasSuffix("redcnn-default.safetensors") == false, "v2 starts from v1, not from whatever Models/ holds")
        #expect(value(merge, "--weight") == "0.8")
        #expect(value(merge, "--tuned")?.hasSuffix("run-v2/model.safetensors") == true)
        #expect(value(tune, "--model") == value(merge, "--output"))
        #expect(tune.contains("--correct-hu"))
        #expect(value(tune, "--max-strength") == "1", "the shipped curve never amplifies the network's correction")
        #expect(tune.filter { $0.contains("/val-low/") }.count == 8, "tuned on the eight validation series, not on training pairs")
    }

    @Test("train's loss and input options reach the command line: outside_weight, ssim_weight, noise_channel")
    func trainOptions() throws {
        let file = try write("stages:\n  - train: {normal: [n], low: [l], output: run, loss: psnr-ssim, outside_weight: 0.2, ssim_weight: 15, noise_channel: true}\n")
        let args = try Pipeline.load(file, checkInputs: false).stages[0].arguments
        func value(_ flag: String) -> String? { args.firstIndex(of: flag).map { args[$0 + 1] } }
        #expect(value("--outside-weight") == "0.2" && value("--ssim-weight") == "15", "\(args)")
        #expect(args.contains("--noise-channel"), "\(args)")
        let off = try write("stages:\n  - train: {normal: [n], low: [l], output: run, noise_channel: false}\n")
        #expect(!(try Pipeline.load(off, checkInputs: false).stages[0].arguments.contains("--noise-channel")))
    }

    @Test("every error names the file and line", arguments: [
        ("stages:\n  - restore: {inputs: [in], output: o, modle: x}\n", "did you mean 'model'", 2),
        ("stages:\n  - restor: {inputs: [in], output: o}\n", "unknown stage 'restor'", 2),
        ("stages:\n  - restore: {inputs: [in]}\n", "needs 'output'", 2),
        ("stages:\n  - simulate: {inputs: [in], output: o, dose: lots}\n", "'dose' must be a number", 2),
        ("stages:\n  - restore: {inputs: [nowhere], output: o}\n", "nowhere' does not exist", 2),
        ("stages:\n  - restore: {inputs: ['${x}'], output: o}\n", "'${x}' is not defined", 2),
        ("stages: [\n", "not valid YAML", nil),
        ("name: x\n", "no stages", nil),
        ("stages:\n  - restore: {inputs: [in], output: o}\nextra: 1\n", "has no option 'extra'", 3),
    ] as [(String, String, Int?)])
    func errors(_ text: String, _ message: String, _ line: Int?) throws {
        let file = try write(text)
        do {
            _ = try Pipeline.load(file)
            Issue.record("no error for: \(text)")
        } catch let e as PipelineError {
            #expect(e.description.contains(message), "\(e)")
            if let line { #expect(e.description.hasPrefix("\(file):\(line):"), "\(e)") }
        }
    }

    @Test("a missing input made by an earlier stage is fine")
    func producedInputs() throws {
        let file = try write("stages:\n  - phantom: {output: gen}\n  - restore: {inputs: [gen/p1], output: o}\n")
        #expect(try Pipeline.load(file).stages.count == 2)
        #expect(throws: PipelineError.self) { try Pipeline.load(file + ".missing") }
    }
}
