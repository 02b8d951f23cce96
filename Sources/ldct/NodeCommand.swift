import ArgumentParser
import ConvNet
import DICOMIO
import DICOMNode
import Denoising
import Foundation

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "DICOM node: receive CT series (C-STORE), restore them, send the restored series on.",
        discussion: """
            Received instances are written to the spool (fsynced) before success is answered; a series \
            counts as complete --series-timeout seconds after its last instance; it is then restored \
            and C-STOREd to every --forward destination, with retries (backoff) that survive restarts. \
            Output UIDs derive from the source and the model, so a resend replaces, never doubles. \
            `ldct node --status --spool DIR` prints the queue. docs/node.md explains deployment.
            """)

    @Option(help: "YAML file with the settings below (snake_case keys; command-line options override).") var config: String?
    @Option(help: "AE title of the node.") var ae: String?
    @Option(help: "TCP port to listen on.") var port: UInt16?
    @Option(parsing: .singleValue, help: "Destination AE@HOST:PORT (repeatable).") var forward: [String] = []
    @Option(help: "RED-CNN weights (default: the bundled model).") var model: String?
    @Option(help: "Restore strength: auto, or 0 (input) … 1 (network output) … 2 (default: the model's, as ldct restore).") var strength: String?
    @Option(help: ArgumentHelp(ConvolutionAlgorithm.help)) var conv: ConvolutionAlgorithm?
    @Option(help: "Average the network over N mirrored/rotated views of each slice: 1, 2, 4 or 8 (N× the time; as ldct restore).") var ensemble: Int?
    @Option(help: "Spool folder (the node's durable state).") var spool: String?
    @Option(help: "Calling AE titles allowed to send, comma-separated (default: any).") var allow: String?
    @Option(help: "Seconds after the last instance before a series counts as complete.") var seriesTimeout: Double?
    @Option(help: "Non-CT instances: refuse (status 0122) or ignore (accept, log, drop).") var nonCt: String?
    @Option(help: "Refuse new instances (status A700) above this spool size in MiB.") var spoolLimitMib: Int?
    @Option(help: "First retry delay after a failed send, seconds (doubles up to --retry-max).") var retryBase: Double?
    @Option(help: "Longest retry delay, seconds.") var retryMax: Double?
    @Flag(help: "Keep received and restored files after every destination has them.") var keepSent = false
    @Flag(help: "Send the restored instances of a series even when some of its files could not be restored.") var sendPartial = false
    @Flag(help: "Name the patient in the log lines (off: series UIDs and descriptions only).") var showPatient = false
    @Flag(help: "Print the spool's queue and exit.") var status = false

    func run() throws {
        if status {
            guard let spool else { throw ValidationError("--status needs --spool DIR") }
            do { print(try Node.status(spool: spool)) } catch {
                printError("ldct node: \(error)")
                throw ExitCodes.nothingFound
            }
            return
        }
        var cfg = NodeConfig()
        do {
            if let config { cfg = try NodeConfig.load(yaml: config) }
            if let ae { cfg.ae = ae }
            if let port { cfg.port = port }
            if !forward.isEmpty { cfg.forward = try forward.map(Destination.init(parsing:)) }
            if let model { cfg.model = model }
            if let strength { cfg.strength = strength }
            if let conv { cfg.conv = conv }
            if let ensemble {
                _ = try ensembleOption(ensemble)
                cfg.ensemble = ensemble
            }
            if let spool { cfg.spool = spool }
            if let allow { cfg.allow = allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let seriesTimeout { cfg.seriesTimeout = seriesTimeout }
            if let nonCt { cfg.nonCT = nonCt }
            if let spoolLimitMib { cfg.spoolLimitMiB = spoolLimitMib }
            if let retryBase { cfg.retryBase = retryBase }
            if let retryMax { cfg.retryMax = retryMax }
            if keepSent { cfg.keepSent = true }
            if sendPartial { cfg.sendPartial = true }
            if showPatient { cfg.showPatient = true }
            DICOMFile.tuneAllocator()
            let node = try Node(config: cfg)
            try node.startListening()
            NodeLog.line("node \(cfg.ae) on port \(cfg.port), spool \(cfg.spool), forwarding to "
                + cfg.forward.map(\.description).joined(separator: ", "))
            for note in node.notes { NodeLog.line("note: \(note)") }
            node.runWorker()
        } catch {
            printError("ldct node: \(error)")
            throw ExitCode.validationFailure
        }
    }
}
