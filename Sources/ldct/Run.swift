import ArgumentParser
import Foundation
import Pipelines

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a declarative pipeline (YAML): stages such as phantom, simulate, restore, train, report.",
        discussion: """
            Each stage is the ldct subcommand of the same name with the same options (YAML keys in \
            snake_case). The whole file is checked before anything runs: unknown stages or keys, \
            wrong types, missing required options, inputs that neither exist nor are made by an \
            earlier stage. Relative paths are relative to the pipeline file. See docs/pipelines.md.
            """)

    @Argument(help: "Pipeline file (.yaml).") var file: String
    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override a variable: --set NAME=VALUE (repeatable).")
    var assignments: [String] = []
    @Flag(help: "Check the file and print the commands, run nothing.") var dryRun = false

    func run() throws {
        var vars: [String: String] = [:]
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else {
                printError("ldct run: --set needs NAME=VALUE, got '\(a)'")
                throw ExitCode.validationFailure
            }
            vars[String(a[..<eq])] = String(a[a.index(after: eq)...])
        }
        let pipeline: Pipeline
        do {
            pipeline = try Pipeline.load(file, variables: vars, checkInputs: !dryRun)
        } catch {
            printError("ldct run: \(error)")
            throw ExitCode.validationFailure
        }
        printError("ldct run: \(pipeline.name): \(pipeline.stages.count) stage(s)")
        for (i, stage) in pipeline.stages.enumerated() {
            let shown = "ldct " + stage.arguments.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
            printError("[\(i + 1)/\(pipeline.stages.count)] \(shown)")
            if dryRun { continue }
            do {
                var command = try LDCT.parseAsRoot(stage.arguments)
                try command.run()
            } catch let exit as ExitCode where exit == .success {
                continue
            } catch {
                let code = (error as? ExitCode)?.rawValue ?? 1
                printError("ldct run: stage \(i + 1) (\(stage.name)) failed (exit \(code)); stopping")
                throw error is ExitCode ? error : ExitCodes.partialFailure
            }
        }
        if !dryRun {
            let last = pipeline.stages.last?.outputs.first ?? ""
            printError("ldct run: \(pipeline.name) done" + (last.isEmpty ? "" : "; last output: \(last)"))
        }
    }
}
