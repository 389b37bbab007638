extension ArchitectureFamily {
    /// Phi (1, 1.5, 2).
    public static let phi: ArchitectureFamily = "phi"
}

/// Phi (1, 1.5, 2): one LayerNorm feeding attention and MLP in parallel, biased q/k/v and
/// `dense` projections, partial rotate-half RoPE, a GELU MLP (`fc1`, `fc2`), `final_layernorm`,
/// and an LM head with a bias. `qk_layernorm` is refused by name.
public struct PhiArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .phi,
        summary: "Phi: parallel residual, partial RoPE, biased head",
        blocks: "parallel residual, partial RoPE, biased maps and head",
        refusedByName: "`qk_layernorm`",
        options: PhiOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads", divisible: false)
        if try fields.optionalBool("qk_layernorm") == true { throw ConfigError.notImplemented("qk_layernorm", family: family) }
        let rotary = try RotaryConfig(fields)
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads, headDim: d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_eps") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "gelu_new", ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false, attentionBias: true)
        var options = PhiOptions()
        options.partialRotaryFactor = rotary.partialRotaryFactor
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        let options = config.options(as: PhiOptions.self) ?? PhiOptions()
        try RotaryConfig.check(config, partial: options.partialRotaryFactor)
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let q = config.numHeads * hd, kv = config.numKVHeads * hd
        let scale = 1 / Double(hd).squareRoot()
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: hd,
            tokenEmbedding: "embed_tokens.weight", positions: .rotary(RotaryConfig.recipe(config, partial: options.partialRotaryFactor)),
            layer: { l in
                let p = "layers.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: true),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: true),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: true)),
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "self_attn.dense", inputs: q, outputs: d, bias: true), mlpNorm: nil,
                    mlp: .plain(
                        up: LinearPart(p + "mlp.fc1", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "mlp.fc2", inputs: ff, outputs: d, bias: true), activation: activation),
                    residual: .parallel)
            },
            finalNorm: NormPart("final_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: true),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["model."],
            bufferSuffixes: [".rotary_emb.inv_freq"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["PhiForCausalLM"]), "model_type": .string("phi"), "hidden_act": .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads),
            "num_key_value_heads": .int(config.numKVHeads), "intermediate_size": .int(config.intermediateSize),
            "max_position_embeddings": .int(config.maxPositions), "vocab_size": .int(config.vocabSize),
            "layer_norm_eps": .double(config.normEps),
            "partial_rotary_factor": .double(config.options(as: PhiOptions.self)?.partialRotaryFactor ?? 1),
            "rope_theta": .double(config.ropeTheta ?? 10000), "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}

/// Phi's options. Its attention and MLP always read one norm of the block input, spelled out as
/// the configuration always carried it.
public struct PhiOptions: FamilyOptions {
    /// The fraction of each head's dimensions that rotate.
    public var partialRotaryFactor: Double?
    /// Attention and MLP from one norm.
    public var parallelResidual: ParallelResidual? = .shared

    /// Phi's fixed layout, every dimension rotating.
    public init() {}
}
