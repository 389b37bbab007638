import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore

/// A PEFT prefix-tuning adapter directory (`adapter_config.json`, `adapter_model.safetensors`).
struct PEFTAdapterFormat: CheckpointFormat {
    let listing = FormatListing("peft", "PEFT prefix-tuning adapter", .directory, readsStandalone: true)

    func detect(_ path: String) -> Bool { PEFTAdapter.detect(path) }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let path = source.path
        var options = source.options
        let adapter = try PEFTAdapter(path: path, linkRoot: source.linkRoot)
        let target = try Importer.adapterBase(store, adapter.config, options: &options) { config in
            config.numLayers == adapter.config.numLayers && config.prefixKVHeads == adapter.config.numAttentionHeads
                && config.tokenDim == adapter.config.tokenDim
        }
        try Importer.fitting(options.base) { try Importer.check(adapter.config, against: target.config, adapterPath: path) }
        (options.adapterBaseModel, options.adapterConfig) = (adapter.config.baseModelNameOrPath, adapter.configText)
        let detected =
            "PEFT prefix-tuning adapter (\(adapter.config.prefixProjection ? "projected: the stored keys/values are the MLP's output, the MLP is not in the file" : "keys/values"))"
        return try Importer.finish(
            store, target: target, content: try Self.content(adapter), source: path, format: name, detected: detected, options: options,
            progress: progress)
    }

    func standalone(_ path: String) throws -> StandalonePrefix? {
        let adapter = try PEFTAdapter(path: path)
        return StandalonePrefix(
            content: try Self.content(adapter), encoderDecoder: adapter.config.numTransformerSubmodules == 2, baseFingerprint: nil,
            peftConfig: adapter.configText)
    }

    /// The adapter's prefix: keys and values, with PEFT's encoder-decoder layout (the `L` stored
    /// layers as saved, and the mapping) when it has one.
    static func content(_ adapter: PEFTAdapter) throws -> CheckpointContent {
        var content = CheckpointContent(
            form: .kv, prefixLength: adapter.config.numVirtualTokens, layers: try adapter.layers(),
            task: adapter.config.taskType.map(TaskType.init(rawValue:)), head: adapter.head)
        content.layout = adapter.config.layout
        return content
    }

    let fuzzEntries = [
        FuzzEntry("peftconfig") { bytes, scratch in
            let directory = scratch + "/adapter"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = FuzzEntry.file(bytes, scratch, "adapter/adapter_config.json")
            _ = try PEFTAdapter(path: directory)
        }
    ]
}
