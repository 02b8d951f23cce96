import ConvNet
import Foundation

/// RED-CNN weights as safetensors with PyTorch state_dict names. Width and kernel come from the
/// tensor shapes; normalisation, final ReLU and provenance from the header's `__metadata__`
/// (defaults for plain PyTorch exports: (HU + 1024)/4096, final ReLU on).
public enum ModelFile {
    public static let formatTag = "lowdosect-redcnn-v1"

    /// Loads a model. Accepts a `module.` prefix (DataParallel exports); refuses missing,
    /// unexpected or wrongly shaped tensors with the name and both shapes.
    public static func load(_ path: String, workspace: Workspace = Workspace()) throws -> (model: REDCNN, metadata: [String: String]) {
        let file = try SafeTensors.read(path)
        var tensors: [String: Tensor] = [:]
        for (name, t) in file.tensors {
            tensors[name.hasPrefix("module.") ? String(name.dropFirst(7)) : name] = t
        }
        guard let first = tensors["conv1.weight"] else { throw ConvNetError.missingTensor(file: path, name: "conv1.weight") }
        guard first.shape.count == 4, (1...2).contains(first.shape[1]), first.shape[2] == first.shape[3], first.shape[0] > 0 else {
            throw ConvNetError.shapeMismatch(file: path, name: "conv1.weight", expected: [-1, 1, 5, 5], found: first.shape)
        }
        let meta = file.metadata
        // Two input channels: the slice and its noise level, measured by the estimator the metadata
        // names (a plain PyTorch export without metadata is taken to use ours, as docs/model-format.md says).
        if let named = meta[NoiseLevel.metadataKey], named != NoiseLevel.estimator {
            throw ConvNetError.malformed(file: path, reason: "its noise-level channel was made by an estimator this version does not have (\(named))")
        }
        if first.shape[1] == 1, meta[NoiseLevel.metadataKey] != nil {
            throw ConvNetError.malformed(file: path, reason: "metadata names a noise-level channel, but conv1.weight has one input channel")
        }
        var config = REDCNNConfig(width: first.shape[0], kernel: first.shape[2], noiseLevelChannel: first.shape[1] == 2)
        if let v = meta["final_relu"] { config.finalReLU = v != "false" && v != "0" }
        if let v = meta["hu_offset"].flatMap(Float.init) { config.huOffset = v }
        if let v = meta["hu_scale"].flatMap(Float.init) {
            guard v != 0 else { throw ConvNetError.malformed(file: path, reason: "hu_scale is 0") }
            config.huScale = v
        }
        let model = REDCNN(config: config, initialization: .gaussian(sigma: 0), workspace: workspace)
        for view in model.layout.views {
            guard let t = tensors[view.name] else { throw ConvNetError.missingTensor(file: path, name: view.name) }
            guard t.shape == view.shape else {
                throw ConvNetError.shapeMismatch(file: path, name: view.name, expected: view.shape, found: t.shape)
            }
            model.parameters.replaceSubrange(view.offset..<view.offset + view.count, with: t.data)
        }
        if let extra = tensors.keys.sorted().first(where: { model.layout.view($0) == nil }) {
            throw ConvNetError.unexpectedTensor(file: path, name: extra)
        }
        return (model, meta)
    }

    /// Saves a model (atomically) with its configuration and any provenance in the metadata.
    public static func save(_ model: REDCNN, to path: String, metadata: [String: String] = [:]) throws {
        var file = SafeTensors()
        for view in model.layout.views {
            file.tensors[view.name] = Tensor(shape: view.shape, data: Array(model.parameters[view.offset..<view.offset + view.count]))
        }
        file.metadata = metadata
        file.metadata["format"] = formatTag
        file.metadata["architecture"] = "RED-CNN (Chen et al. 2017)"
        file.metadata["width"] = String(model.config.width)
        file.metadata["kernel"] = String(model.config.kernel)
        file.metadata["final_relu"] = model.config.finalReLU ? "true" : "false"
        file.metadata["hu_offset"] = String(model.config.huOffset)
        file.metadata["hu_scale"] = String(model.config.huScale)
        file.metadata[NoiseLevel.metadataKey] = model.config.noiseLevelChannel ? NoiseLevel.estimator : nil
        try file.write(to: path)
    }

    /// A short fingerprint of the weights (FNV-1a over the parameter bits), for derived UIDs and logs.
    public static func fingerprint(_ model: REDCNN) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in model.parameters {
            var bits = v.bitPattern
            for _ in 0..<4 {
                hash ^= UInt64(bits & 0xFF)
                hash = hash &* 0x100_0000_01b3
                bits >>= 8
            }
        }
        hash ^= model.config.finalReLU ? 1 : 0
        if model.config.noiseLevelChannel { hash ^= 2 }
        return String(hash, radix: 16)
    }
}
