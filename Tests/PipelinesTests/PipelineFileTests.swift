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
