public import PrefixCore

/// A known way of getting prefix-tuning wrong, which the verifier can name.
public enum BugClass: String, Sendable, Codable, CaseIterable {
    case keptPrefixPositions = "kept_prefix_positions"
    case keptFirstN = "kept_first_n"
    case prefixAppendedOrIgnored = "prefix_appended_or_ignored"
    /// Encoders: the prefix was ignored (appending it is the correct composition there).
    case prefixIgnored = "prefix_ignored"
    case reusedPreviousPrefix = "reused_previous_prefix"
    case prefixOutputsCarried = "prefix_outputs_carried"
    case layerOffByOne = "layer_off_by_one"
    case keyValueSwapped = "kv_swapped"
    case unrotatedKeys = "unrotated_keys"
    case inputsAtWrongPosition = "inputs_at_wrong_position"
    case wrongBase = "wrong_base"
    case wrongStep = "wrong_step"
    case encoderPrefixMissing = "encoder_prefix_missing"
    case crossPrefixDropped = "cross_prefix_dropped"
    case peftLayerMapping = "peft_layer_mapping"
    case directLayerMapping = "direct_layer_mapping"
    case causalMaskNotOffset = "causal_mask_not_offset"
    case unknown

    /// What the evidence means.
    public var explanation: String {
        switch self {
        case .keptPrefixPositions: "prefix positions were not discarded"
        case .keptFirstN: "the first N rows of the block output were kept instead of the last N"
        case .prefixAppendedOrIgnored: "the prefix was appended after the inputs or ignored (the two are the same in a causal model)"
        case .prefixIgnored: "the prefix was ignored: the block ran on the input rows alone"
        case .reusedPreviousPrefix: "the layer used the previous layer's prefix P^{l-1}"
        case .prefixOutputsCarried: "the prefix rows' outputs Y^{l-1}[0..<Pn] were fed on instead of P^l"
        case .layerOffByOne: "the layer used the next layer's prefix P^{l+1}"
        case .keyValueSwapped: "the prefix keys and values are swapped"
        case .unrotatedKeys: "the prefix keys were not rotated (RoPE at positions 0..<Pn)"
        case .inputsAtWrongPosition: "the inputs sit at positions 0..<N instead of the checkpoint's convention (Pn, Pn+1, ...)"
        case .wrongBase: "the reference was computed with other base weights"
        case .wrongStep: "the reference was computed with another step's prefix"
        case .encoderPrefixMissing: "the encoder ran without its prefix, as PEFT runs encoder-decoders"
        case .crossPrefixDropped:
            "the decoder's cross-attention ran without its prefix, as in PEFT, whose cross-attention pair transformers' cache drops"
        case .peftLayerMapping: "decoder block i took stored layer 2i mod L, PEFT's encoder-decoder layout, not its own layer i"
        case .directLayerMapping: "decoder block i took stored layer i, not stored layer 2i mod L as PEFT's encoder-decoder layout feeds it"
        case .causalMaskNotOffset:
            "the causal mask was not offset by the prefix: query i saw keys 0...i of the Pn + N (top-left aligned, as scaled_dot_product_attention(is_causal=True) aligns queries and keys of different lengths), not the whole prefix and inputs 0...i"
        case .unknown: "no known bug explains the difference"
        }
    }

    /// What to change.
    public var fix: String {
        switch self {
        case .keptPrefixPositions: "pass on only Y^l[Pn ..< Pn+N], the last N rows of each block's output"
        case .keptFirstN: "slice the last N rows, Y^l[Pn ..< Pn+N], not Y^l[0 ..< N]"
        case .prefixAppendedOrIgnored, .prefixIgnored: "prepend the prefix: H^l = [P^l ; Hbar^l]"
        case .reusedPreviousPrefix, .layerOffByOne: "index the prefix by the block's own layer: block l takes P^l"
        case .prefixOutputsCarried: "prepend the layer's own trainable P^l; the prefix rows' outputs are discarded"
        case .keyValueSwapped: "keep PEFT's order: index 2l is the key, 2l+1 the value"
        case .unrotatedKeys: "rotate converted prefix keys with RoPE at positions 0..<Pn"
        case .inputsAtWrongPosition: "place the inputs at Pn, Pn+1, ... (PEFT offsets position_ids by num_virtual_tokens)"
        case .wrongBase: "verify against the base the reference was computed with, or recompute the reference"
        case .wrongStep: "verify the step the reference was computed with, or recompute the reference from this step's adapter"
        case .encoderPrefixMissing, .crossPrefixDropped:
            "the reference follows PEFT's semantics, the checkpoint the paper's (encoder, decoder and cross-attention prefixes): compute the reference with every section, or verify a PEFT adapter against it"
        case .peftLayerMapping:
            "the reference ran the adapter as PEFT does: import it from its PEFT directory (num_transformer_submodules 2 records the layout), or recompute the reference with block i fed layer i"
        case .causalMaskNotOffset:
            "build the causal mask over Pn + N keys with the queries offset by Pn (every query sees the whole prefix), or pass an explicit mask; the tool that computed the reference has this bug"
        case .directLayerMapping:
            "PEFT feeds decoder block i stored layer 2i mod L: compute the reference with PEFT itself, or import the prefix as a direct-layout file if block i was meant to take layer i"
        case .unknown: "dump per-layer activations (exchange format) to find the first layer that differs"
        }
    }
}

/// A candidate explanation and how well it fits.
public struct CandidateFit: Sendable, Codable, Hashable {
    /// The bug.
    public var bug: BugClass
    /// How closely that bug's computation reproduces the reference (the metric of semantics).
    public var relativeError: Double
}

/// The known bug the evidence matches best, where it first appears.
public struct Diagnosis: Sendable, Codable, Hashable {
    /// The bug class.
    public var bug: BugClass
    /// The layer where it first appears (`nil`: end to end).
    public var layer: Int?
    /// The stack of that layer in an encoder-decoder (`encoder`, `decoder`).
    public var section: PrefixSection?
    /// What was found, in one sentence.
    public var summary: String
    /// How closely the bug reproduces the reference, if measured.
    public var relativeError: Double?
    /// How to fix it.
    public var fix: String
    /// Every explanation tried, best first.
    public var candidates: [CandidateFit]
}
