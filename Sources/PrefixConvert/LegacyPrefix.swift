import Foundation
import PrefixCompute
public import PrefixCore
public import PrefixFormats

/// Checkpoint content from the prefix layouts of older tools, each materialised exactly as that
/// tool computes its keys and values, with the parameters kept so that training can resume.
public enum LegacyPrefix {
    /// Li & Liang's `PrefixTuning`: each section's MLP run in f64 and rounded to the MLP's dtype,
    /// split by PEFT's layout; the decoder's MLP kept as the checkpoint's (`embedding.weight`,
    /// `transform.*`), the encoder's and cross-attention's under `encoder.` and `cross.`.
    ///
    /// - Throws: ``PrefixStore/StorageError``-free: ``PrefixCompute/ComputeError`` naming an MLP
    ///   tensor of the wrong shape for the base, and ``PrefixFormats/FormatError`` for encoder or
    ///   cross sections on a one-stack base.
    public static func content(_ checkpoint: LiLiangCheckpoint, config: ModelConfig, path: String) throws -> CheckpointContent {
        guard let decoder = checkpoint.sections[.decoder] else {
            throw FormatError(.missingKey, "a Li & Liang prefix without its decoder MLP (wte, control_trans)", path: path)
        }
        let hasSections = checkpoint.sections.keys.contains { $0 != .decoder }
        if hasSections, config.encoderLayers == nil {
            throw FormatError(
                .inconsistent,
                "a Li & Liang seq2seq prefix (wte_enc / wte2: encoder and cross-attention MLPs) needs an encoder-decoder base, but the \(config.family) base has one stack",
                path: path)
        }
        func dtype(_ mlp: [NamedTensor]) -> DType {
            let t = mlp.first?.tensor.dtype ?? .f32
            return [.f64, .f32, .f16, .bf16].contains(t) ? t : .f32
        }
        // Errors name the file's own tensors (`wte.weight`), not PrefixKit's.
        func materialise(_ mlp: [NamedTensor], _ config: ModelConfig, _ section: PrefixSection) throws -> CheckpointContent {
            do { return try PrefixMLP.keyValues(mlp, config: config, dtype: dtype(mlp)) } catch {
                var error = error
                error.tensor = error.tensor.map { checkpoint.originalName($0, section: section) }
                error.message += " for the \(config.family) base (L=\(config.numLayers), token_dim \(config.tokenDim))"
                throw error
            }
        }
        var content = try materialise(decoder, config, .decoder)
        for section in [PrefixSection.encoder, .cross] {
            guard let mlp = checkpoint.sections[section] else { continue }
            var sectionConfig = config
            if section == .encoder { sectionConfig.numLayers = config.encoderLayers ?? config.numLayers }
            let part = try materialise(mlp, sectionConfig, section)
            guard part.prefixLength == content.prefixLength else {
                throw FormatError(
                    .inconsistent,
                    "the \(section.rawValue) prefix has \(part.prefixLength) rows, the decoder's \(content.prefixLength)", path: path)
            }
            if section == .encoder { content.encoderLayers = part.layers } else { content.crossLayers = part.layers }
            content.mlp += mlp.map { NamedTensor("\(section.rawValue).\($0.name)", $0.tensor) }
        }
        return content
    }
}
