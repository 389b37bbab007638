/// How positions enter the model.
public enum PositionScheme: String, Sendable, Codable, Hashable {
    /// A learned table added to the token embeddings once (GPT-2 `wpe`).
    case learned
    /// Rotary embeddings applied to queries and keys inside every block.
    case rope
    /// Linear biases on the attention scores by key position (BLOOM, MPT).
    case alibi
    /// A learned bias on the attention scores by bucketed relative distance (T5).
    case relative
}

/// RoPE frequency scaling (`rope_scaling` / `rope_parameters`): `linear`, `dynamic`, `llama3`
/// or `yarn`, with the parameters each reads. Absent parameters are left out of the encoding, so
/// a linear scaling encodes as it always did.
public struct RopeScaling: Sendable, Codable, Hashable {
    /// The scaling type.
    public var type: String
    /// The scaling factor.
    public var factor: Double
    /// `llama3`: the low- and high-frequency factors.
    public var lowFreqFactor: Double?, highFreqFactor: Double?
    /// `llama3`, `yarn`: the context length the model was pretrained with.
    public var originalMaxPositions: Int?
    /// `yarn`: the cos/sin multiplier, if given, and the parameters that infer it otherwise.
    public var attentionFactor: Double?, mscale: Double?, mscaleAllDim: Double?
    /// `yarn`: the ramp bounds (defaults 32 and 1) and whether they are rounded (default true).
    public var betaFast: Double?, betaSlow: Double?, truncate: Bool?

    /// Creates a scaling description.
    public init(
        type: String, factor: Double, lowFreqFactor: Double? = nil, highFreqFactor: Double? = nil,
        originalMaxPositions: Int? = nil, attentionFactor: Double? = nil, mscale: Double? = nil,
        mscaleAllDim: Double? = nil, betaFast: Double? = nil, betaSlow: Double? = nil, truncate: Bool? = nil
    ) {
        self.type = type
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositions = originalMaxPositions
        self.attentionFactor = attentionFactor
        self.mscale = mscale
        self.mscaleAllDim = mscaleAllDim
        self.betaFast = betaFast
        self.betaSlow = betaSlow
        self.truncate = truncate
    }
}

/// The compute-relevant configuration of a base model.
///
/// These typed fields are what the engine reads and what a base's fingerprint covers; the
/// original `config.json` is kept verbatim beside them in the catalog.
///
/// ```swift
/// let config = ModelConfig.gpt2(layers: 12, width: 768, heads: 12)
/// try config.validate()
/// ```
public struct ModelConfig: Sendable, Codable, Hashable {
    /// The architecture family.
    public var family: ArchitectureFamily
    /// `L`, the number of Transformer blocks.
    public var numLayers: Int
    /// `d`, the model width.
    public var hiddenSize: Int
    /// `H`, the number of query heads.
    public var numHeads: Int
    /// `Hkv`, the number of key/value heads (`== numHeads` unless grouped-query attention).
    public var numKVHeads: Int
    /// `hd`, the per-head dimension (usually `d / H`).
    public var headDim: Int
    /// The MLP's inner width.
    public var intermediateSize: Int
    /// The normalisation kind.
    public var normKind: NormKind
    /// The normalisation epsilon.
    public var normEps: Double
    /// How positions enter the model.
    public var positionScheme: PositionScheme
    /// The largest number of positions the model supports.
    public var maxPositions: Int
    /// The vocabulary size.
    public var vocabSize: Int
    /// The MLP activation, in Hugging Face's spelling (`gelu_new`, `silu`).
    public var activation: String
    /// RoPE base frequency (RoPE models only).
    public var ropeTheta: Double?
    /// RoPE scaling, if any.
    public var ropeScaling: RopeScaling?
    /// Whether the LM head shares the token embedding matrix.
    public var tieWordEmbeddings: Bool
    /// Whether q/k/v projections carry biases (Qwen2; GPT-2's fused projection always has one).
    public var attentionBias: Bool
    /// The sliding attention window, if any (Mistral, StarCoder2, Qwen3, Gemma2).
    public var slidingWindow: Int?

    // Features of the newer families. Each is `nil` when the model does not use it, and `nil`
    // fields are left out of the canonical encoding: a configuration that uses none of them
    // encodes, and so fingerprints, exactly as it did before they existed.

    /// Which layers use ``slidingWindow`` (`nil`: every layer).
    public var slidingLayers: [Bool]?
    /// The fraction of each head's dimensions that rotate (Phi, GPT-NeoX `rotary_pct`).
    public var partialRotaryFactor: Double?
    /// Rotary pairs are interleaved `(2i, 2i+1)` (GPT-J) instead of rotate-half.
    public var rotaryInterleaved: Bool?
    /// Whether the MLP's maps carry biases where the family's default says they do not.
    public var mlpBias: Bool?
    /// Query/key norms after projection: `"head"` (over `hd`, per head: Qwen3) or `"all"` (over
    /// all heads: OLMo2).
    public var qkNorm: String?
    /// GPT-2's `scale_attn_by_inverse_layer_idx`: block `l`'s scores are further divided by `l + 1`.
    public var scaleAttentionByLayer: Bool?
    /// The score multiplier when it is not `1/sqrt(hd)` (Granite `attention_multiplier`, Gemma2
    /// `query_pre_attn_scalar^-0.5`).
    public var attentionScale: Double?
    /// Scores are soft-capped at this value (Gemma2 `attn_logit_softcapping`).
    public var attentionSoftcap: Double?
    /// Logits are soft-capped at this value (Gemma2 `final_logit_softcapping`).
    public var logitSoftcap: Double?
    /// q, k, v are clamped to `[-clip, clip]` (OLMo `clip_qkv`).
    public var clipQKV: Double?
    /// Multiplies the token embeddings (Granite `embedding_multiplier`).
    public var embeddingMultiplier: Double?
    /// Multiplies each sublayer's output before the residual add (Granite).
    public var residualMultiplier: Double?
    /// Divides the logits (Granite `logits_scaling`).
    public var logitsScaling: Double?
    /// MPT's `alibi_bias_max` (default 8).
    public var alibiBiasMax: Double?
    /// Falcon's q/k/v layout: `"grouped-2ln"`, `"grouped-1ln"` (new decoder architecture with two
    /// or one parallel norms), `"multi-query"` or `"per-head"`.
    public var falconLayout: String?
    /// Attention and MLP read the same block input (`"shared"`: one norm, GPT-J, Phi, Falcon;
    /// `"separate"`: two norms, GPT-NeoX).
    public var parallelResidual: String?
    /// The number of token types (BERT `type_vocab_size`), for encoders with a token-type table.
    public var typeVocabSize: Int?
    /// The padding id whose tokens skip positions (RoBERTa's `pad_token_id`).
    public var paddingID: Int?
    /// The width of the embedding tables when it differs from `hidden_size` (ELECTRA
    /// `embedding_size`).
    public var embeddingSize: Int?
    /// The encoder's number of blocks, for encoder-decoders (T5 `num_layers`, BART
    /// `encoder_layers`); ``numLayers`` counts the decoder's.
    public var encoderLayers: Int?
    /// T5's `relative_attention_num_buckets` and `relative_attention_max_distance`.
    public var relativeBuckets: Int?, relativeMaxDistance: Int?
    /// Whether the MLP is gated (T5 v1.1 `gated-gelu`).
    public var gatedMLP: Bool?
    /// Whether the decoder's final rows are multiplied by `d_model^-0.5` before the LM head (T5
    /// v1.0: transformers' `scale_decoder_outputs`).
    public var scaleDecoderOutputs: Bool?
    /// Whether token embeddings are multiplied by `sqrt(d)` (BART `scale_embedding`).
    public var scaleEmbedding: Bool?

    /// Creates a configuration from its fields.
    public init(
        family: ArchitectureFamily, numLayers: Int, hiddenSize: Int, numHeads: Int,
        numKVHeads: Int, headDim: Int, intermediateSize: Int, normKind: NormKind,
        normEps: Double, positionScheme: PositionScheme, maxPositions: Int, vocabSize: Int,
        activation: String, ropeTheta: Double? = nil, ropeScaling: RopeScaling? = nil,
        tieWordEmbeddings: Bool, attentionBias: Bool, slidingWindow: Int? = nil
    ) {
        self.family = family
        self.numLayers = numLayers
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim
        self.intermediateSize = intermediateSize
        self.normKind = normKind
        self.normEps = normEps
        self.positionScheme = positionScheme
        self.maxPositions = maxPositions
        self.vocabSize = vocabSize
        self.activation = activation
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.tieWordEmbeddings = tieWordEmbeddings
        self.attentionBias = attentionBias
        self.slidingWindow = slidingWindow
    }

    /// A GPT-2 configuration (`d_ff = 4d`, LayerNorm eps 1e-5, GELU tanh, tied head).
    public static func gpt2(
        layers: Int, width: Int, heads: Int, vocabSize: Int = 50257,
        maxPositions: Int = 1024
    ) -> ModelConfig {
        ModelConfig(
            family: .gpt2, numLayers: layers, hiddenSize: width, numHeads: heads,
            numKVHeads: heads, headDim: heads > 0 ? width / heads : 0,
            intermediateSize: 4 * width, normKind: .layerNorm, normEps: 1e-5,
            positionScheme: .learned, maxPositions: maxPositions, vocabSize: vocabSize,
            activation: "gelu_new", tieWordEmbeddings: true, attentionBias: true)
    }

    /// The width of one layer's prefix keys (or values) across heads: `Hkv * hd` (PEFT's
    /// `token_dim`).
    public var tokenDim: Int { prefixKVHeads * headDim }

    /// The number of key/value heads in one layer's key/value prefix: the family's cache shape
    /// (``ModelArchitecture/prefixKVHeads(_:)``), `Hkv` for a family this version does not know.
    public var prefixKVHeads: Int { (try? Architectures.named(family).prefixKVHeads(self)) ?? numKVHeads }

    /// The shape of each tensor of one layer's prefix of `prefixLength` rows: `[Pn, d]` in
    /// hidden form, `[Hkv, Pn, hd]` for each of the key and the value in key/value form (with
    /// the family's cache head count). The one place this rule is written; the store, the
    /// importer, the stack and the verifier ask here.
    public func prefixShape(_ form: PrefixForm, prefixLength: Int) -> [Int] {
        switch form {
        case .hidden: [prefixLength, hiddenSize]
        case .kv: [prefixKVHeads, prefixLength, headDim]
        }
    }

    /// Checks the fields for consistency.
    ///
    /// - Throws: ``CoreError`` `.invalidConfig` naming the first inconsistent field.
    public func validate() throws(CoreError) {
        func require(_ ok: Bool, _ field: String, _ why: String) throws(CoreError) {
            if !ok { throw CoreError(.invalidConfig, "config field '\(field)' \(why)") }
        }
        let limit = 1 << 24
        try require((1...limit).contains(numLayers), "num_layers", "must be in 1...\(limit), found \(numLayers)")
        try require((1...limit).contains(hiddenSize), "hidden_size", "must be in 1...\(limit), found \(hiddenSize)")
        try require((1...limit).contains(numHeads), "num_attention_heads", "must be in 1...\(limit), found \(numHeads)")
        try require(
            (1...numHeads).contains(numKVHeads) && numHeads % numKVHeads == 0, "num_key_value_heads",
            "must divide num_attention_heads (\(numHeads)), found \(numKVHeads)")
        try require((1...limit).contains(headDim), "head_dim", "must be in 1...\(limit), found \(headDim)")
        try require((1...limit).contains(intermediateSize), "intermediate_size", "must be in 1...\(limit), found \(intermediateSize)")
        try require((1...limit).contains(maxPositions), "max_position_embeddings", "must be in 1...\(limit), found \(maxPositions)")
        try require((1...(1 << 28)).contains(vocabSize), "vocab_size", "must be in 1...\(1 << 28), found \(vocabSize)")
        try require(normEps.isFinite && normEps >= 0, "norm eps", "must be a finite non-negative number")
        if let encoderLayers {
            try require((1...limit).contains(encoderLayers), "encoder_layers", "must be in 1...\(limit), found \(encoderLayers)")
        }
        if positionScheme == .relative {
            let buckets = relativeBuckets ?? 0
            try require((4...(1 << 16)).contains(buckets), "relative_attention_num_buckets", "must be in 4...65536, found \(buckets)")
            try require(
                (buckets / 2 + 1...limit).contains(relativeMaxDistance ?? 0), "relative_attention_max_distance",
                "must be in \(buckets / 2 + 1)...\(limit) (beyond the exact buckets), found \(relativeMaxDistance ?? 0)")
        }
        if positionScheme == .rope {
            try require(headDim % 2 == 0, "head_dim", "must be even for RoPE, found \(headDim)")
            try require((ropeTheta ?? 0) > 0, "rope_theta", "must be positive")
        }
    }
}
