import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import PrefixStore

extension Importer {
    /// A P-tuning v2 model saved whole: its base part imported as a base (nothing written when
    /// the store holds those weights already), its prefix encoder as a key/value checkpoint (the
    /// MLP materialised and kept, with `prefix_projection`), its classifier as the task head.
    static func importPTuningV2(
        _ store: Store, _ directory: HFModelDirectory, _ ptuning: PTuningV2Checkpoint, source: String, options: ImportOptions,
        progress: ProgressHandler?
    ) throws -> ImportReport {
        let config = directory.config
        let base = directory.keeping { item in ptuning.base.contains { $0.name == item.name } }
        var content: CheckpointContent
        if let mlp = try ptuning.mlp() {
            content = try PrefixMLP.keyValues(mlp, config: config, dtype: .f32)
        } else {
            guard let embedding = ptuning.prefixEncoder["prefix_encoder.embedding.weight"] else {
                throw FormatError(.missingKey, "no prefix_encoder.embedding.weight", path: directory.path)
            }
            let flat = try embedding.load()
            guard flat.shape.rank == 2, flat.shape[1] == config.numLayers * 2 * config.tokenDim else {
                throw FormatError(
                    .inconsistent,
                    "prefix_encoder.embedding.weight is \(flat.shape), but the base's \(config.numLayers) layers need [Pn, \(config.numLayers * 2 * config.tokenDim)] (or prefix_encoder.trans for prefix_projection)",
                    path: directory.path, member: "prefix_encoder.embedding.weight")
            }
            let layers: [LayerPrefix]
            do {
                layers = try FlatKVLayout.split(flat, layers: config.numLayers, kvHeads: config.prefixKVHeads, headDim: config.headDim)
            } catch {
                throw FormatError(.inconsistent, "\(error)", path: directory.path, member: "prefix_encoder.embedding.weight")
            }
            content = CheckpointContent(form: .kv, prefixLength: flat.shape[0], layers: layers)
        }
        content.task = ptuning.task
        content.head = try ptuning.head.map { NamedTensor($0.name, try $0.load()) }
        var stepOptions = options
        if stepOptions.name == nil { stepOptions.name = options.alias ?? defaultName(source) }
        stepOptions.alias = nil
        let target = Target(base: nil, config: config, pending: base, hub: options.hub)
        var report = try finish(
            store, target: target, content: content, source: source, format: "p-tuning-v2",
            detected:
                "P-tuning v2 model (\(ptuning.base.count) base tensors, prefix encoder\(content.mlp.isEmpty ? "" : " with its MLP"), \(ptuning.task.rawValue) head)",
            options: stepOptions, progress: progress)
        report.notes.append("split into the base \(report.base.shortReference), the checkpoint and its \(ptuning.task.rawValue) head")
        return report
    }
}
