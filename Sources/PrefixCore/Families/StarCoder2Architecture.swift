extension ArchitectureFamily {
    /// StarCoder2.
    public static let starcoder2: ArchitectureFamily = "starcoder2"
}

/// StarCoder2: LayerNorms with biases, q/k/v/o and MLP maps with biases (`use_bias`), full
/// RoPE, grouped-query attention, a plain GELU-tanh MLP (`c_fc`, `c_proj`), a sliding window on
/// every layer, a tied head by default.
public struct StarCoder2Architecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .starcoder2,
        summary: "StarCoder2: LayerNorm, biased maps, RoPE, GQA, sliding window",
        blocks: "LayerNorm, biased maps, RoPE, GQA, plain GELU-tanh MLP, sliding window",
        refusedByName: "`partial_rotary_factor`",
        options: StarCoder2Options.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads", divisible: false)
        let rotary = try RotaryConfig(fields)
        if rotary.partialRotaryFactor != nil { throw ConfigError.notImplemented("partial_rotary_factor", family: family) }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads, headDim: d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: .layerNorm,
            normEps: try fields.optionalDouble("norm_epsilon") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "gelu_pytorch_tanh", ropeTheta: rotary.theta,
            ropeScaling: rotary.scaling, tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true,
            attentionBias: try fields.optionalBool("use_bias") ?? true)
        var options = StarCoder2Options()
        options.slidingWindow = try fields.optionalInt("sliding_window")
        options.mlpBias = config.attentionBias ? nil : false
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        try RotaryConfig.check(config)
        let window = config.options(as: StarCoder2Options.self)?.slidingWindow
        try SlidingLayers.check(window: window, layers: nil, of: config)
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let q = config.numHeads * hd, kv = config.numKVHeads * hd, bias = config.attentionBias
        let scale = 1 / Double(hd).squareRoot()
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: hd,
            tokenEmbedding: "embed_tokens.weight", positions: .rotary(RotaryConfig.recipe(config)),
            layer: { l in
                let p = "layers.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: bias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: bias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: bias)),
                    attention: AttentionRecipe(scale: scale, window: window),
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: bias),
                    mlpNorm: NormPart(p + "post_attention_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "mlp.c_fc", inputs: d, outputs: ff, bias: bias),
                        down: LinearPart(p + "mlp.c_proj", inputs: ff, outputs: d, bias: bias), activation: activation))
            },
            finalNorm: NormPart("norm", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["model."],
            bufferSuffixes: [".rotary_emb.inv_freq"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["Starcoder2ForCausalLM"]), "model_type": .string("starcoder2"),
            "hidden_act": .string(config.activation), "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads), "num_key_value_heads": .int(config.numKVHeads),
            "intermediate_size": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "norm_epsilon": .double(config.normEps), "rope_theta": .double(config.ropeTheta ?? 10000),
            "use_bias": .bool(config.attentionBias),
            "sliding_window": config.options(as: StarCoder2Options.self)?.slidingWindow.map { .int($0) },
            "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}

/// StarCoder2's options.
public struct StarCoder2Options: FamilyOptions {
    /// The sliding attention window of every layer, if any.
    public var slidingWindow: Int?
    /// `false` when `use_bias: false` leaves the MLP's maps without biases too.
    public var mlpBias: Bool?

    /// No option set.
    public init() {}
}
