import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore

/// A `.npy` holding PEFT's flat prompt tensor `[Pn, L*2*Hkv*hd]` (what
/// `get_prompt_embedding_to_save` returns, saved with `numpy.save`): read as `--layout flat-kv`
/// reads that tensor from a `.npz` or `.safetensors`, on the one stored (or given) base it fits.
struct NPYFlatPrefixFormat: CheckpointFormat {
    let listing = FormatListing("npy", "NumPy .npy of PEFT's flat prompt tensor", .file)

    func detect(_ path: String) -> Bool { path.hasSuffix(".npy") }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let path = source.path
        var options = source.options
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        guard size <= PrefixFile.maxBytes else {
            throw FormatError(.sizeMismatch, "\(size) bytes: larger than any prefix PrefixKit reads (\(PrefixFile.maxBytes))", path: path)
        }
        guard let tensor = try NPY.read(path: path).tensor, tensor.shape.rank == 2 else {
            throw FormatError(.inconsistent, "expected one numeric array [Pn, L*2*token_dim], PEFT's flat prompt tensor", path: path)
        }
        let contents = PrefixFile.Contents(tensors: [NamedTensor("prompt_embeddings", tensor)], metadata: [:])
        func content(_ config: ModelConfig) throws(FormatError) -> CheckpointContent {
            try PrefixFile.content(
                contents, path: path, flat: true, tensor: nil, layers: config.numLayers, kvHeads: config.prefixKVHeads,
                headDim: config.headDim, encoderLayers: config.encoderLayers)
        }
        // A base this flat width fits (its refusal is the answer "no", not an error to report).
        func fits(_ config: ModelConfig) -> Bool {
            do { _ = try content(config) } catch { return false }
            return true
        }
        let target = try Importer.resolveBase(store, options.base) { fits($0) }
        let prefix = try Importer.fitting(options.base) { try content(target.config) }
        options.binding = options.base != nil ? .explicit : .shape
        return try Importer.finish(
            store, target: target, content: prefix, source: path, format: name,
            detected: "\(description), Pn = \(prefix.prefixLength), \(prefix.layers.count) layers", options: options,
            progress: progress)
    }
}
