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

extension RopeScaling {
    /// The scaling as `config.json`'s `rope_scaling` object spells it.
    public var configJSON: ConfigJSON.Value {
        let entries: [String: ConfigJSON.Value?] = [
            "rope_type": .string(type), "factor": .double(factor), "low_freq_factor": lowFreqFactor.map { .double($0) },
            "high_freq_factor": highFreqFactor.map { .double($0) },
            "original_max_position_embeddings": originalMaxPositions.map { .int($0) },
            "attention_factor": attentionFactor.map { .double($0) }, "mscale": mscale.map { .double($0) },
            "mscale_all_dim": mscaleAllDim.map { .double($0) }, "beta_fast": betaFast.map { .double($0) },
            "beta_slow": betaSlow.map { .double($0) }, "truncate": truncate.map { .bool($0) },
        ]
        return .object(entries.compactMapValues { $0 })
    }
}

/// The compute-relevant configuration of a base model.
///
/// The fields every family has, and the family's own ``options``: what the engine reads and what
/// a base's fingerprint covers; the original `config.json` is kept verbatim beside them in the
/// catalog.
///
/// ```swift
/// let config = ModelConfig.gpt2(layers: 12, width: 768, heads: 12)
/// try config.validate()
/// ```
public struct ModelConfig: Sendable {
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
    /// The encoder's number of blocks, for encoder-decoders (T5 `num_layers`, BART
    /// `encoder_layers`); ``numLayers`` counts the decoder's. `nil` for one stack.
    public var encoderLayers: Int?
    /// What the family's configuration holds beyond these fields (its own Codable value, see
    /// ``FamilyOptions``): encoded flat beside them, each option under its own key, and left out
    /// when unset, so a configuration encodes exactly as it did when the options were fields here.
    public var options: any FamilyOptions

    /// Creates a configuration from its fields; `options` default to the family's with none set.
    public init(
        family: ArchitectureFamily, numLayers: Int, hiddenSize: Int, numHeads: Int,
        numKVHeads: Int, headDim: Int, intermediateSize: Int, normKind: NormKind,
        normEps: Double, positionScheme: PositionScheme, maxPositions: Int, vocabSize: Int,
        activation: String, ropeTheta: Double? = nil, ropeScaling: RopeScaling? = nil,
        tieWordEmbeddings: Bool, attentionBias: Bool, options: (any FamilyOptions)? = nil
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
        self.options = options ?? Architectures.defaultOptions(for: family)
    }

    /// The family's options as `O`, `nil` when they are another family's.
    public func options<O: FamilyOptions>(as _: O.Type) -> O? { options as? O }

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
    /// (``ModelArchitecture/prefixKVHeads(_:)``). Every configuration read from a file or a
    /// catalog names a family this version knows (``Architectures/parse(_:)`` and decoding refuse
    /// the others); one built in code for an unknown family has `Hkv`.
    public var prefixKVHeads: Int { Architectures.known(family)?.prefixKVHeads(self) ?? numKVHeads }

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
        if positionScheme == .rope {
            try require(headDim % 2 == 0, "head_dim", "must be even for RoPE, found \(headDim)")
            try require((ropeTheta ?? 0) > 0, "rope_theta", "must be positive")
        }
    }
}

extension ModelConfig: Codable, Hashable {
    private enum CodingKeys: String, CodingKey {
        case family, numLayers, hiddenSize, numHeads, numKVHeads, headDim, intermediateSize, normKind, normEps, positionScheme
        case maxPositions, vocabSize, activation, ropeTheta, ropeScaling, tieWordEmbeddings, attentionBias, encoderLayers
    }

    /// Decodes the common fields, then the options as the family's description reads them.
    ///
    /// - Throws: `DecodingError` for a missing or mistyped field, or a family this version does
    ///   not know (its options cannot be read).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        family = try c.decode(ArchitectureFamily.self, forKey: .family)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decode(Int.self, forKey: .numKVHeads)
        headDim = try c.decode(Int.self, forKey: .headDim)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        normKind = try c.decode(NormKind.self, forKey: .normKind)
        normEps = try c.decode(Double.self, forKey: .normEps)
        positionScheme = try c.decode(PositionScheme.self, forKey: .positionScheme)
        maxPositions = try c.decode(Int.self, forKey: .maxPositions)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        activation = try c.decode(String.self, forKey: .activation)
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        ropeScaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        tieWordEmbeddings = try c.decode(Bool.self, forKey: .tieWordEmbeddings)
        attentionBias = try c.decode(Bool.self, forKey: .attentionBias)
        encoderLayers = try c.decodeIfPresent(Int.self, forKey: .encoderLayers)
        let architecture: any ModelArchitecture
        do { architecture = try Architectures.named(family) } catch {
            throw DecodingError.dataCorruptedError(forKey: .family, in: c, debugDescription: error.message)
        }
        options = try architecture.optionsType.init(from: decoder)
    }

    /// Encodes the common fields and the options side by side, unset ones left out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(family, forKey: .family)
        try c.encode(numLayers, forKey: .numLayers)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHeads, forKey: .numHeads)
        try c.encode(numKVHeads, forKey: .numKVHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(normKind, forKey: .normKind)
        try c.encode(normEps, forKey: .normEps)
        try c.encode(positionScheme, forKey: .positionScheme)
        try c.encode(maxPositions, forKey: .maxPositions)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(activation, forKey: .activation)
        try c.encodeIfPresent(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encodeIfPresent(encoderLayers, forKey: .encoderLayers)
        try options.encode(to: encoder)
    }

    /// The options as a hashable value (options of different types differ).
    private var hashableOptions: AnyHashable {
        let value: any FamilyOptions = options
        return erasedOptions(value)
    }

    /// Equal common fields and equal options of the same type.
    public static func == (a: ModelConfig, b: ModelConfig) -> Bool {
        a.family == b.family && a.numLayers == b.numLayers && a.hiddenSize == b.hiddenSize && a.numHeads == b.numHeads
            && a.numKVHeads == b.numKVHeads && a.headDim == b.headDim && a.intermediateSize == b.intermediateSize
            && a.normKind == b.normKind && a.normEps == b.normEps && a.positionScheme == b.positionScheme
            && a.maxPositions == b.maxPositions && a.vocabSize == b.vocabSize && a.activation == b.activation
            && a.ropeTheta == b.ropeTheta && a.ropeScaling == b.ropeScaling && a.tieWordEmbeddings == b.tieWordEmbeddings
            && a.attentionBias == b.attentionBias && a.encoderLayers == b.encoderLayers && a.hashableOptions == b.hashableOptions
    }

    /// Hashes the common fields that identify a model's shape, and the options.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(family)
        hasher.combine(numLayers)
        hasher.combine(hiddenSize)
        hasher.combine(numHeads)
        hasher.combine(numKVHeads)
        hasher.combine(headDim)
        hasher.combine(intermediateSize)
        hasher.combine(vocabSize)
        hasher.combine(activation)
        hasher.combine(encoderLayers)
        hasher.combine(hashableOptions)
    }
}

/// `options` as a hashable value.
private func erasedOptions(_ options: some FamilyOptions) -> AnyHashable { AnyHashable(options) }
