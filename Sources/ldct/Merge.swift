import ArgumentParser
import ConvNet
import Denoising
import Foundation

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Interpolate a fine-tuned model with the model it was fine-tuned from, weight by weight.",
        discussion: """
            Writes (1 − W) × BASE + W × TUNED for every parameter (W = --weight; weight-space \
            ensembling, WiSE-FT). Both must be RED-CNNs of the same width, kernel and normalisation, \
            and the result is only a good network when TUNED was fine-tuned from BASE. The tuned \
            model's metadata carries over except its strength curve and CT-number corrections (they \
            belonged to its weights): tune the merged model again (`ldct tune --correct-hu`). \
            Neither input is written.
            """)

    @Option(help: "The model fine-tuning started from (default: the bundled model).")
    var base: String?

    @Option(help: "The fine-tuned model.")
    var tuned: String

    @Option(help: "Share of the fine-tuned model, 0…1 (0: the base, 1: the fine-tuned model).")
    var weight: Double

    @Option(name: .shortAndLong, help: "The merged model to write (.safetensors).")
    var output: String

    func validate() throws {
        guard weight.isFinite, weight >= 0, weight <= 1 else { throw ValidationError("--weight must be within 0…1") }
    }

    func run() throws {
        guard let basePath = base ?? DefaultModel.locate() else {
            printError("ldct merge: no --base given and the default model was not found")
            throw ExitCodes.nothingFound
        }
        let outPath = URL(fileURLWithPath: output).standardizedFileURL.path
        for input in [basePath, tuned] where URL(fileURLWithPath: input).standardizedFileURL.path == outPath {
            printError("ldct merge: --output must not be one of the models merged (inputs are never written)")
            throw ExitCode.validationFailure
        }
        let a: (model: REDCNN, metadata: [String: String]), b: (model: REDCNN, metadata: [String: String])
        do {
            a = try ModelFile.load(basePath)
            b = try ModelFile.load(tuned)
        } catch {
            printError("ldct merge: \(error)")
            throw ExitCodes.nothingFound
        }
        let merged: REDCNN
        do {
            merged = try ModelMerge.interpolate(base: a.model, tuned: b.model, weight: weight, names: (basePath, tuned))
        } catch {
            printError("ldct merge: \(error)")
            throw ExitCode.validationFailure
        }
        let metadata = ModelMerge.metadata(base: (basePath, a.model, a.metadata), tuned: (tuned, b.model, b.metadata), weight: weight)
        do {
            let folder = (output as NSString).deletingLastPathComponent
            if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            try ModelFile.save(merged, to: output, metadata: metadata)
        } catch {
            printError("ldct merge: \(error)")
            throw ExitCodes.internalError
        }
        if a.metadata[StrengthCurve.metadataKey] != nil || b.metadata[StrengthCurve.metadataKey] != nil {
            printError("ldct merge: strength curves are not carried over; run `ldct tune` on the merged model")
        }
        print("written: \(output) (fingerprint \(ModelFile.fingerprint(merged))): \(metadata["merged_from"] ?? "")")
    }
}
