extension ArchitectureFamily {
    /// GPT-NeoX (Pythia).
    public static let gptNeoX: ArchitectureFamily = "gpt_neox"
}

/// GPT-NeoX (Pythia): LayerNorms with biases, one `query_key_value` map whose columns are
/// `[q_h | k_h | v_h]` per head, partial rotate-half RoPE (`rotary_pct`, default 0.25), exact GELU,
/// a parallel residual reading two norms (or sequential with `use_parallel_residual: false`),
/// an untied `embed_out` head.
public struct GPTNeoXArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .gptNeoX,
        summary: "GPT-NeoX / Pythia: fused per-head q/k/v, partial RoPE, parallel residual",
        blocks: """
            LayerNorm, per-head fused q/k/v, partial RoPE (`rotary_pct`), exact GELU, parallel residual with \
            two norms or sequential
            """,
        refusedByName: "odd rotated dimensions",
        options: GPTNeoXOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads")
        var rotary = try RotaryConfig(fields, defaultTheta: try fields.optionalDouble("rotary_emb_base") ?? 10000)
        if rotary.partialRotaryFactor == nil, !(try fields.optionalObject("rope_parameters")?.has("partial_rotary_factor") ?? false) {
            let pct = try fields.optionalDouble("rotary_pct") ?? 0.25
            rotary.partialRotaryFactor = pct == 1 ? nil : pct
        }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.int("intermediate_size"), normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_eps") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "gelu", ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false,
            attentionBias: try fields.optionalBool("attention_bias") ?? true)
        var options = GPTNeoXOptions()
        options.partialRotaryFactor = rotary.partialRotaryFactor
        options.parallelResidual = (try fields.optionalBool("use_parallel_residual") ?? true) ? .separate : nil
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        let options = config.options(as: GPTNeoXOptions.self) ?? GPTNeoXOptions()
        try RotaryConfig.check(config, partial: options.partialRotaryFactor)
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, bias = config.attentionBias
        let parallel = options.parallelResidual != nil
        let scale = 1 / Double(config.headDim).squareRoot()
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "embed_in.weight", positions: .rotary(RotaryConfig.recipe(config, partial: options.partialRotaryFactor)),
            layer: { l in
                let p = "layers.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .fusedPerHead(LinearPart(p + "attention.query_key_value", inputs: d, outputs: 3 * d, bias: bias)),
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "attention.dense", inputs: d, outputs: d, bias: bias),
                    mlpNorm: NormPart(p + "post_attention_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "mlp.dense_h_to_4h", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "mlp.dense_4h_to_h", inputs: ff, outputs: d, bias: true), activation: activation),
                    residual: parallel ? .parallel : .sequential)
            },
            finalNorm: NormPart("final_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("embed_out", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["gpt_neox."],
            bufferSuffixes: [".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: GPTNeoXOptions.self) ?? GPTNeoXOptions()
        return ConfigJSON([
            "architectures": .strings(["GPTNeoXForCausalLM"]), "model_type": .string("gpt_neox"), "hidden_act": .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads),
            "intermediate_size": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "layer_norm_eps": .double(config.normEps),
            "rotary_pct": .double(options.partialRotaryFactor ?? 1), "rotary_emb_base": .double(config.ropeTheta ?? 10000),
            "use_parallel_residual": .bool(options.parallelResidual != nil), "attention_bias": .bool(config.attentionBias),
            "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}

/// GPT-NeoX's options.
public struct GPTNeoXOptions: FamilyOptions {
    /// The fraction of each head's dimensions that rotate (`rotary_pct`).
    public var partialRotaryFactor: Double?
    /// `.separate` with `use_parallel_residual` (attention and MLP from two norms of one input).
    public var parallelResidual: ParallelResidual?

    /// No option set.
    public init() {}
}
