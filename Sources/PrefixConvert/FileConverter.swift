import Foundation
public import PrefixCore
import PrefixFormats
import PrefixStore

/// Converts a prefix between files with no store and no base model: `.npz`, `.safetensors` and
/// PEFT adapters, in key/value form (and hidden form between `.npz` and `.safetensors`).
///
/// Everything such a conversion needs is in the source: a PEFT adapter's config gives layers,
/// heads and `token_dim`, a prefix file's names and shapes give the rest. A prefix file this
/// writes from an adapter carries the adapter's `adapter_config.json` in its metadata
/// (``PrefixFormats/PrefixFile/peftConfigKey``), so PEFT -> npz -> PEFT gives the adapter back
/// byte for byte. Only what computes through the model needs its base: hidden -> key/value.
public enum FileConverter {
    /// Whether `source` to `format` is a conversion between prefix files, which needs no base.
    public static func handles(source: String, format: ExportFormat, flatKV: Bool = false) -> Bool {
        guard format != .hf, !flatKV, let kind = try? CheckpointFormats.detect(Store.normalizePath(source)) else { return false }
        return kind.readsStandalone
    }

    /// Converts `source` to `format` at `out`, which must not exist unless `force`.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` for a conversion that needs the
    ///   base (hidden -> PEFT) or one PEFT cannot hold (an encoder or cross section),
    ///   `.alreadyExists`; ``PrefixFormats/FormatError`` for an unreadable source or a
    ///   `peft_config` that does not describe the prefix.
    public static func run(source: String, format: ExportFormat, out: String, dtype: DType? = nil, force: Bool = false) throws
        -> ExportReport
    {
        let path = Store.normalizePath(source)
        let loaded = try load(path)
        let reference = (path as NSString).lastPathComponent
        return try Exporter.place(out, force: force, outside: nil) { destination, temporary in
            var content = loaded.content
            content.layers = content.layers.map { Exporter.convert($0, dtype) }
            content.encoderLayers = content.encoderLayers.map { Exporter.convert($0, dtype) }
            content.crossLayers = content.crossLayers.map { Exporter.convert($0, dtype) }
            content.mlp = content.mlp.map { NamedTensor($0.name, Exporter.convert($0.tensor, dtype)) }
            content.head = content.head.map { NamedTensor($0.name, Exporter.convert($0.tensor, dtype)) }
            switch format {
            case .peft:
                let (config, conversion) = try peftConfig(loaded, content: &content, reference: reference)
                try PEFTAdapter.write(layers: content.layers, configJSON: config, head: content.head, to: temporary)
                return ExportReport(
                    format: .peft, reference: reference, path: destination,
                    files: ["adapter_config.json", "adapter_model.safetensors"], bytesWritten: try Exporter.size(of: temporary),
                    conversion: conversion)
            case .npz, .safetensors:
                var (tensors, metadata) = PrefixFile.entries(
                    content, baseFingerprint: loaded.baseFingerprint, sectioned: loaded.encoderDecoder)
                if let config = loaded.peftConfig { metadata.append((PrefixFile.peftConfigKey, config)) }
                try PrefixFile.write(tensors, metadata: metadata, to: temporary, format: format == .npz ? .npz : .safetensors)
                return ExportReport(
                    format: format, reference: reference, path: destination, files: [(destination as NSString).lastPathComponent],
                    bytesWritten: try Exporter.size(of: temporary), conversion: nil)
            case .hf:
                throw StorageError(.invalidArgument, "an HF model directory holds a base model, not a prefix: pass --base DIR")
            }
        }
    }

    /// Reads a prefix that converts without a base (a PEFT adapter or a prefix file).
    static func load(_ path: String) throws -> StandalonePrefix {
        guard let loaded = try CheckpointFormats.detect(path).standalone(path) else {
            throw StorageError(.invalidArgument, "only PEFT adapters and prefix files convert without a base: pass --base DIR", path: path)
        }
        return loaded
    }

    /// The `adapter_config.json` for `content` (laid out in PEFT's order on the way): the one the
    /// source carried when it still describes the prefix, else the one PEFT writes for it.
    static func peftConfig(_ loaded: StandalonePrefix, content: inout CheckpointContent, reference: String) throws -> (String, String?) {
        guard content.form == .kv else {
            throw StorageError(
                .invalidArgument,
                "the prefix is in hidden form: converting it to PEFT's keys and values runs the base model's layers, so pass --base DIR (the HF model directory it applies to)",
                path: reference)
        }
        var conversion: String?
        if loaded.encoderDecoder, content.layout != .peftSeq2Seq {
            let (stored, note) = try Exporter.peftLayers(fromDirect: content, reference: reference)
            (content.layers, content.layout, content.encoderLayers, content.crossLayers) = (stored, .peftSeq2Seq, [], [])
            conversion = note
        }
        if let text = loaded.peftConfig, conversion == nil {
            let config = try PEFTAdapter.parseConfig(Array(text.utf8), path: reference + " (\(PrefixFile.peftConfigKey))")
            if let disagreement = config.disagreement(with: content.layers, layout: content.layout) {
                throw FormatError(
                    .inconsistent, "the \(PrefixFile.peftConfigKey) in its metadata no longer describes the prefix: \(disagreement)",
                    path: reference, member: PrefixFile.peftConfigKey)
            }
            return (text, nil)
        }
        // No adapter config to go by: PEFT's defaults, and what the file records.
        let tokenDim = content.layers.first.map { $0.parts[0].tensor.shape[0] * $0.parts[0].tensor.shape[2] } ?? 0
        let task = content.task ?? (loaded.encoderDecoder ? .seq2seqLM : .causalLM)
        let config = PEFTAdapter.configJSON(
            layers: content.layers, hiddenSize: tokenDim, baseModel: nil, task: task, saved: !content.head.isEmpty,
            layout: content.layout)
        let note =
            "adapter_config.json written without a base: base_model_name_or_path null, encoder_hidden_size = token_dim \(tokenDim), task_type \(task.rawValue)"
        return (config, [conversion, note].compactMap { $0 }.joined(separator: "; "))
    }
}
