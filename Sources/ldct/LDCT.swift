import ArgumentParser
import ConvNet
import DICOMIO
import Denoising
import Foundation

/// `ldct` — LowDoseCT's command line. Parsing, progress and exit codes only; the work is in the
/// stage modules.
@main
struct LDCT: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ldct",
        abstract: "Restore low-dose CT studies with RED-CNN.",
        discussion: """
            Exit codes: 0 success; 1 finished, but some files or series failed (see the summary); \
            2 nothing usable found (no CT slice); 64 bad command line; 70 internal error.
            """,
        version: version,
        subcommands: [Inspect.self, Restore.self, Plan.self, Status.self, Report.self, Simulate.self, Phantom.self, Train.self, Tune.self, Merge.self, Run.self, NodeCommand.self, Bench.self]
    )
}

/// Exit codes shared by every subcommand (documented in docs/cli.md).
enum ExitCodes {
    static let partialFailure = ExitCode(1)
    static let nothingFound = ExitCode(2)
    static let internalError = ExitCode(70)
}

/// Lines to stderr, for progress and summaries that must not mix with JSON on stdout.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `--ensemble N` of restore, tune and node: the views, or a usage error naming the allowed counts.
func ensembleOption(_ count: Int) throws -> ViewEnsemble {
    guard let views = ViewEnsemble(count: count) else { throw ValidationError("--ensemble: \(EnsembleError(text: String(count)))") }
    return views
}

extension PairingMode: ExpressibleByArgument {}
extension ConvolutionAlgorithm: ExpressibleByArgument {
    static let help = "Convolution path: auto (Winograd where it is faster, the default), im2col (the reference) or winograd."
}
