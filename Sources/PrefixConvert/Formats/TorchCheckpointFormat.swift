import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import PrefixStore

/// A `torch.save` checkpoint of Li & Liang's `PrefixTuning` module, read without executing it:
/// its MLP materialised into the sections it has, on the one stored (or given) base it fits.
struct TorchCheckpointFormat: CheckpointFormat {
    let listing = FormatListing("li-liang", "PyTorch checkpoint", .file)

    func detect(_ path: String) -> Bool { TorchCheckpoint.kind(of: path) != .other }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let path = source.path
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
        let target = try Importer.resolveBase(store, source.options.base) { config in
            width == config.numLayers * 2 * config.tokenDim && (liLiang.sections.count == 1 || config.encoderLayers != nil)
        }
        let content = try LegacyPrefix.content(liLiang, config: target.config, path: path)
        let sections = liLiang.sections.keys.map(\.rawValue).sorted().joined(separator: ", ")
        return try Importer.finish(
            store, target: target, content: content, source: path, format: name,
            detected: "Li & Liang PrefixTuning checkpoint (\(sections): MLP materialised to keys/values, kept for resuming)",
            options: source.options, progress: progress)
    }

    let fuzzEntries = [
        FuzzEntry("torch") { bytes, scratch in
            // The archive, the pickle and every tensor's bytes.
            let checkpoint = try TorchCheckpoint(path: FuzzEntry.file(bytes, scratch, "input.pt"))
            for entry in checkpoint.entries { _ = try checkpoint.tensor(entry).byteCount }
        },
        FuzzEntry("pickle") { bytes, _ in _ = try RestrictedUnpickler.load(Array(bytes), name: "input") },
    ]
}
