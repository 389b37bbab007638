import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import PrefixStore

extension Importer {
    /// A `torch.save` checkpoint of Li & Liang's `PrefixTuning` module: its MLP materialised into
    /// the sections it has, on the one stored (or given) base it fits.
    static func importLiLiang(_ store: Store, path: String, options: ImportOptions, progress: ProgressHandler?) throws -> ImportReport {
        let checkpoint = try TorchCheckpoint(path: path)
        var tensors: [String: Tensor] = [:]
        for entry in checkpoint.entries { tensors[entry.name] = try checkpoint.tensor(entry) }
        guard let liLiang = try LiLiangCheckpoint.recognise(tensors, path: path) else {
            throw FormatError(
                .inconsistent,
                "a PyTorch checkpoint whose tensors match no prefix layout PrefixKit reads (Li & Liang's wte / control_trans); found: \(checkpoint.entries.map(\.name).prefix(8).joined(separator: ", "))",
                path: path)
        }
        let width = liLiang.sections[.decoder]?.first { $0.name == "transform.2.bias" }?.tensor.shape.dimensions.first
        let target = try resolveBase(store, options.base) { config in
            width == config.numLayers * 2 * config.tokenDim && (liLiang.sections.count == 1 || config.encoderLayers != nil)
        }
        let content = try LegacyPrefix.content(liLiang, config: target.config, path: path)
        let sections = liLiang.sections.keys.map(\.rawValue).sorted().joined(separator: ", ")
        return try finish(
            store, target: target, content: content, source: path, format: "li-liang",
            detected: "Li & Liang PrefixTuning checkpoint (\(sections): MLP materialised to keys/values, kept for resuming)",
            options: options, progress: progress)
    }
}
