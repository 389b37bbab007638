import Foundation
public import PrefixCore

/// The activation exchange format: what `prefixkit forward` writes, `verify --reference`
/// reads, a probe stores, and a few lines of PyTorch can produce. An `.npz` with:
///
/// | key | shape | meaning |
/// | --- | --- | --- |
/// | `input_ids` or `inputs_embeds` | `[B, N]` int / `[B, N, d]` | inputs (embeddings without positional terms) |
/// | `attention_mask` (optional) | `[B, N]` | 1 real, 0 padding (left padding) |
/// | `layer_00.input` ... | `[B, Pn+N, d]` hidden form, `[B, N, d]` KV form | `H^l` |
/// | `layer_00.output` ... | `[B, N, d]` | `Hbar^{l+1}`, before any final norm |
/// | `final` | `[B, N, d]` | after the final norm |
/// | `logits` (optional) | `[B, N, vocab]` | LM head output |
/// | `meta` (optional) | 0-d string | JSON: form, Pn, input_start, compute dtype, layers, tool |
///
/// An encoder-decoder's exchange adds `decoder_input_ids` `[B, T]`, names each stack's blocks
/// `encoder.layer_00.input` ... and `decoder.layer_00.input` ... (the decoder's rows are its
/// `T` tokens), and holds the encoder's final rows as `encoder.final` `[B, N, d]`; `final` and
/// `logits` are the decoder's.
///
/// Layer indices have at least two digits (three when L > 100).
public struct ActivationExchange: Sendable, Equatable {
    /// Token ids `[B, N]`.
    public var inputIDs: Tensor?
    /// Token embeddings `[B, N, d]`.
    public var inputsEmbeds: Tensor?
    /// `[B, N]`, 1 real, 0 padding.
    public var attentionMask: Tensor?
    /// `[B, N]` token types (BERT's segment ids), if given.
    public var tokenTypeIDs: Tensor?
    /// `H^l` by layer.
    public var layerInputs: [Int: Tensor] = [:]
    /// `Hbar^{l+1}` by layer.
    public var layerOutputs: [Int: Tensor] = [:]
    /// After the final norm.
    public var final: Tensor?
    /// LM head output, or a task head's (classification `[B, labels]`, per token `[B, N, labels]`).
    public var logits: Tensor?
    /// An encoder's pooler output `[B, d]`.
    public var poolerOutput: Tensor?
    /// An encoder-decoder's decoder ids `[B, T]`; the decoder's blocks are ``layerInputs`` and
    /// ``layerOutputs``.
    public var decoderInputIDs: Tensor?
    /// An encoder-decoder's encoder blocks: `H^l` by layer.
    public var encoderLayerInputs: [Int: Tensor] = [:]
    /// An encoder-decoder's encoder blocks: `Hbar^{l+1}` by layer.
    public var encoderLayerOutputs: [Int: Tensor] = [:]
    /// The encoder's final rows (after its final norm), which cross-attention reads.
    public var encoderFinal: Tensor?
    /// The `meta` JSON text.
    public var meta: String?
    /// Keys this format does not define, kept as they are.
    public var other: [String: Tensor] = [:]

    /// An empty exchange.
    public init() {}

    /// The highest layer index present plus one (the decoder's, for an encoder-decoder).
    public var layerCount: Int { (Array(layerInputs.keys) + Array(layerOutputs.keys)).max().map { $0 + 1 } ?? 0 }

    /// The highest encoder layer index present plus one.
    public var encoderLayerCount: Int {
        (Array(encoderLayerInputs.keys) + Array(encoderLayerOutputs.keys)).max().map { $0 + 1 } ?? 0
    }

    /// Whether this is an encoder-decoder's exchange (decoder ids, encoder layers or output).
    public var isEncoderDecoder: Bool {
        decoderInputIDs != nil || encoderFinal != nil || !encoderLayerInputs.isEmpty || !encoderLayerOutputs.isEmpty
    }

    /// Builds an exchange from `.npz` entries.
    ///
    /// - Throws: ``FormatError`` `.inconsistent` for a string where a tensor belongs (or the
    ///   reverse), both `input_ids` and `inputs_embeds`, or tensors of the wrong rank.
    public init(entries: [(name: String, value: NPYValue)], path: String? = nil) throws(FormatError) {
        var plainLayers: String?, decoderLayers: String?
        for (name, value) in entries {
            if name == "meta" {
                guard let text = value.string else {
                    throw FormatError(.inconsistent, "'meta' must be a 0-d string", path: path, member: name)
                }
                meta = text
                continue
            }
            guard let tensor = value.tensor else { throw FormatError(.inconsistent, "expected a numeric array", path: path, member: name) }
            func rank(_ r: Int) throws(FormatError) {
                guard tensor.shape.rank == r else {
                    throw FormatError(.inconsistent, "expected rank \(r), found shape \(tensor.shape)", path: path, member: name)
                }
            }
            switch name {
            case "input_ids": try rank(2); inputIDs = tensor
            case "inputs_embeds": try rank(3); inputsEmbeds = tensor
            case "attention_mask": try rank(2); attentionMask = tensor
            case "token_type_ids": try rank(2); tokenTypeIDs = tensor
            case "final": try rank(3); final = tensor
            case "logits":
                guard (2...3).contains(tensor.shape.rank) else {
                    throw FormatError(.inconsistent, "expected rank 2 or 3, found shape \(tensor.shape)", path: path, member: name)
                }
                logits = tensor
            case "pooler_output": try rank(2); poolerOutput = tensor
            case "decoder_input_ids": try rank(2); decoderInputIDs = tensor
            case "encoder.final": try rank(3); encoderFinal = tensor
            default:
                if let (section, layer, part) = ActivationExchange.parseSectionedLayerKey(name) {
                    try rank(3)
                    switch (section, part) {
                    case ("encoder", "input"): encoderLayerInputs[layer] = tensor
                    case ("encoder", _): encoderLayerOutputs[layer] = tensor
                    case (_, "input"): layerInputs[layer] = tensor
                    default: layerOutputs[layer] = tensor
                    }
                    if section == "decoder" { decoderLayers = name } else if section == nil { plainLayers = name }
                } else {
                    other[name] = tensor
                }
            }
        }
        if inputIDs != nil && inputsEmbeds != nil {
            throw FormatError(.inconsistent, "holds both input_ids and inputs_embeds", path: path)
        }
        if let plainLayers, let decoderLayers {
            throw FormatError(
                .inconsistent,
                "mixes one-stack layer keys (\(plainLayers)) with an encoder-decoder's (\(decoderLayers)): name every decoder block decoder.layer_NN",
                path: path, member: plainLayers)
        }
        if let plainLayers, isEncoderDecoder {
            throw FormatError(
                .inconsistent,
                "is an encoder-decoder's exchange (it has decoder_input_ids or encoder.* keys) but names a block \(plainLayers): name decoder blocks decoder.layer_NN",
                path: path, member: plainLayers)
        }
    }

    /// Reads an exchange `.npz`.
    ///
    /// - Throws: the errors of ``NPZ/read(path:limits:)`` and ``init(entries:path:)``.
    public static func read(path: String) throws(FormatError) -> ActivationExchange {
        try ActivationExchange(entries: try NPZ.read(path: path), path: path)
    }

    /// The entries in the format's key order.
    public func entries(layerCount: Int? = nil) -> [(name: String, value: NPYValue)] {
        let count = layerCount ?? self.layerCount
        var out: [(name: String, value: NPYValue)] = []
        if let inputIDs { out.append(("input_ids", .tensor(inputIDs))) }
        if let inputsEmbeds { out.append(("inputs_embeds", .tensor(inputsEmbeds))) }
        if let attentionMask { out.append(("attention_mask", .tensor(attentionMask))) }
        if let tokenTypeIDs { out.append(("token_type_ids", .tensor(tokenTypeIDs))) }
        if let decoderInputIDs { out.append(("decoder_input_ids", .tensor(decoderInputIDs))) }
        let encoderCount = encoderLayerCount
        for l in 0..<encoderCount {
            let label = "encoder." + layerLabel(l, layerCount: encoderCount)
            if let t = encoderLayerInputs[l] { out.append(("\(label).input", .tensor(t))) }
            if let t = encoderLayerOutputs[l] { out.append(("\(label).output", .tensor(t))) }
        }
        if let encoderFinal { out.append(("encoder.final", .tensor(encoderFinal))) }
        let stack = isEncoderDecoder ? "decoder." : ""
        for l in 0..<count {
            let label = stack + layerLabel(l, layerCount: count)
            if let t = layerInputs[l] { out.append(("\(label).input", .tensor(t))) }
            if let t = layerOutputs[l] { out.append(("\(label).output", .tensor(t))) }
        }
        if let final { out.append(("final", .tensor(final))) }
        if let poolerOutput { out.append(("pooler_output", .tensor(poolerOutput))) }
        if let logits { out.append(("logits", .tensor(logits))) }
        for key in other.keys.sorted() { if let t = other[key] { out.append((key, .tensor(t))) } }
        if let meta { out.append(("meta", .strings([meta], shape: []))) }
        return out
    }

    /// Writes the exchange as an `.npz`.
    ///
    /// - Throws: the errors of ``NPZ/write(_:to:)``.
    public func write(to path: String) throws(FormatError) {
        try NPZ.write(entries(), to: path)
    }

    /// A string field of `meta` (`tool`, `form`, `compute_dtype`), if `meta` is a JSON object
    /// that has it.
    public func metaString(_ field: String) -> String? {
        guard let meta, let data = meta.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object[field] as? String
    }

    /// The key of layer `l`'s input (`layer_07.input`; `encoder.layer_07.input` in `section`) in
    /// an exchange of `layerCount` layers.
    public static func inputKey(_ l: Int, layerCount: Int, section: String? = nil) -> String {
        (section.map { $0 + "." } ?? "") + layerLabel(l, layerCount: layerCount) + ".input"
    }

    /// The key of layer `l`'s output (`layer_07.output`; `decoder.layer_07.output` in `section`)
    /// in an exchange of `layerCount` layers.
    public static func outputKey(_ l: Int, layerCount: Int, section: String? = nil) -> String {
        (section.map { $0 + "." } ?? "") + layerLabel(l, layerCount: layerCount) + ".output"
    }

    /// `encoder.layer_07.input` -> ("encoder", 7, "input"); `layer_07.output` -> (nil, 7, "output").
    static func parseSectionedLayerKey(_ name: String) -> (String?, Int, String)? {
        for section in ["encoder", "decoder"] where name.hasPrefix(section + ".layer_") {
            return parseLayerKey(String(name.dropFirst(section.count + 1))).map { (section, $0.0, $0.1) }
        }
        return parseLayerKey(name).map { (nil, $0.0, $0.1) }
    }

    /// `layer_07.input` -> (7, "input").
    static func parseLayerKey(_ name: String) -> (Int, String)? {
        guard name.hasPrefix("layer_") else { return nil }
        let rest = name.dropFirst(6)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        let digits = rest[..<dot], part = String(rest[rest.index(after: dot)...])
        guard digits.count >= 2, digits.count <= 4, digits.allSatisfy(\.isNumber), let layer = Int(digits),
            part == "input" || part == "output"
        else { return nil }
        return (layer, part)
    }
}
