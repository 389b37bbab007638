import Foundation
import PrefixCompute
public import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore

/// Exporting a checkpoint as a PEFT adapter.
extension Exporter {
    /// A checkpoint as PEFT holds it.
    struct PEFTExport {
        /// The stored layers, in PEFT's order for the base.
        var layers: [LayerPrefix]
        /// `adapter_config.json`.
        var configJSON: String
        /// The task head saved beside the prefix.
        var head: [NamedTensor]
        /// How the prefix was converted on the way, if it was.
        var conversion: String?
    }

    /// The adapter that computes checkpoint `info`: a hidden-form prefix converted to keys and
    /// values exactly, a direct-layout encoder-decoder prefix permuted into PEFT's layout (or
    /// refused); the config the adapter was imported with, verbatim, when it still describes
    /// the layers and names a base, else the one PEFT 0.21 writes.
    static func peftAdapter(_ store: Store, _ info: CheckpointInfo, verify: Bool) throws -> PEFTExport {
        var content = try store.load(info, verify: verify)
        let head = content.head
        var conversion: String?
        if info.form == .hidden {
            content = try store.stack(for: info, verify: verify).keyValuePrefix()
            conversion = "hidden -> key/value (exact: norm, key/value projections, RoPE at 0..<Pn; computed in f64)"
        }
        let base = try store.base("base:" + info.baseFingerprint)
        let recipe = try Architectures.recipe(for: base.config)
        if content.layout != .peftSeq2Seq, recipe.isEncoderDecoder {
            let (stored, note) = try peftLayers(fromDirect: content, reference: info.reference)
            content.layers = stored
            content.layout = .peftSeq2Seq
            conversion = [conversion, note].compactMap { $0 }.joined(separator: "; ")
        }
        content.head = head
        guard let config = try peftConfig(info, content, base) else {
            throw StorageError(.invalidArgument, "PEFT cannot hold this checkpoint's prefix as it is", reference: info.reference)
        }
        return PEFTExport(layers: content.layers, configJSON: config, head: head, conversion: conversion)
    }

    /// The `adapter_config.json` of checkpoint `info` holding `content`, or nil when PEFT cannot
    /// hold the content as it is (hidden form, a layout PEFT does not use for the base, encoder
    /// or cross sections).
    static func peftConfig(_ info: CheckpointInfo, _ content: CheckpointContent, _ base: BaseInfo) throws -> String? {
        let recipe = try Architectures.recipe(for: base.config)
        let encoderDecoder = recipe.isEncoderDecoder
        guard content.form == .kv, content.encoderLayers.isEmpty, content.crossLayers.isEmpty,
            encoderDecoder == (content.layout == .peftSeq2Seq)
        else { return nil }
        if let text = info.provenance.adapterConfig,
            let config = try? PEFTAdapter.parseConfig(Array(text.utf8), path: "adapter_config.json"),
            config.disagreement(with: content.layers, layout: content.layout) == nil, config.baseModelNameOrPath != nil
        {
            // Verbatim, unless it names no base: then the base this store knows is filled in.
            return text
        }
        // The task PEFT loads the adapter for: the stored one, else the family's plain use.
        let bidirectional = recipe.isBidirectional
        let task = info.task ?? (encoderDecoder ? .seq2seqLM : bidirectional ? .featureExtraction : .causalLM)
        return PEFTAdapter.configJSON(
            layers: content.layers, hiddenSize: base.config.hiddenSize, baseModel: peftBaseModel(info, base), task: task,
            saved: !content.head.isEmpty, layout: content.layout)
    }

    /// What an exported adapter names as its base (`base_model_name_or_path`): the adapter's own
    /// value where it had one, else the Hub repository the base came from, else the base's
    /// absolute path (so that PEFT finds it offline), else its alias.
    static func peftBaseModel(_ info: CheckpointInfo, _ base: BaseInfo) -> String? {
        info.provenance.baseModelNameOrPath ?? base.provenance.repository
            ?? base.provenance.sourcePath.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? base.alias
    }

    /// The layers of PEFT's encoder-decoder layout that compute what a direct-layout checkpoint
    /// does: decoder block i's prefix at stored layer 2i mod L, exact or refused.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` saying why no PEFT adapter
    ///   computes the checkpoint: an encoder or cross-attention section (PEFT has neither), or two
    ///   blocks that PEFT's layout feeds from one stored layer holding different prefixes.
    public static func peftLayers(fromDirect content: CheckpointContent, reference: String) throws -> (layers: [LayerPrefix], note: String)
    {
        func refuse(_ why: String) -> StorageError {
            StorageError(.invalidArgument, "no PEFT adapter computes this checkpoint: \(why)", reference: reference)
        }
        if !content.encoderLayers.isEmpty {
            throw refuse("it has an encoder prefix (\(content.encoderLayers.count) layers), and PEFT runs the encoder unprefixed")
        }
        if !content.crossLayers.isEmpty {
            throw refuse(
                "it has a cross-attention prefix (\(content.crossLayers.count) layers), and PEFT's cross-attention pair is dropped by transformers' cache"
            )
        }
        let count = content.layers.count
        let (stored, conflict) = PrefixLayout.peftStored(forBlocks: content.layers)
        if let (a, b) = conflict {
            throw refuse(
                "PEFT's encoder-decoder layout feeds decoder blocks \(a) and \(b) from one stored layer (2i mod \(count) = \(2 * a % count)), but their prefixes differ"
            )
        }
        let unread = stored.indices.filter { stored[$0] == nil }
        guard let first = content.layers.first else { throw refuse("it has no layers") }
        // Layers no block reads (even L): zeros of the same shape, as no computation sees them.
        let zeros = LayerPrefix.kv(
            key: try Tensor(zeros: first.parts[0].tensor.dtype, shape: first.parts[0].tensor.shape),
            value: try Tensor(zeros: first.parts[1].tensor.dtype, shape: first.parts[1].tensor.shape))
        var note = "direct -> PEFT's seq2seq layout (exact: decoder block i's prefix written at stored layer 2i mod \(count))"
        if !unread.isEmpty {
            note += "; stored layers \(unread.map(String.init).joined(separator: ", ")) are read by no block: written as zeros"
        }
        return (stored.map { $0 ?? zeros }, note)
    }
}
