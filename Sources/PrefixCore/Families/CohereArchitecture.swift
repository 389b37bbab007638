extension ArchitectureFamily {
    /// Cohere (Command R).
    public static let cohere: ArchitectureFamily = "cohere"
}

/// Cohere (Command R): attention and a SwiGLU MLP side by side on one bias-free LayerNorm of the
/// block input, interleaved RoPE, grouped-query attention, optionally a LayerNorm of each query
/// and key head with per-head weights (`use_qk_norm`), and logits multiplied by `logit_scale`.
public struct CohereArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .cohere,
        summary: "Cohere: parallel attention and MLP from one bias-free LayerNorm, interleaved RoPE, logit_scale",
        blocks: "bias-free LayerNorm, attention and SwiGLU MLP in parallel, interleaved RoPE, GQA, `use_qk_norm` (per-head), `logit_scale`",
        refusedByName: "`partial_rotary_factor`",
        options: CohereOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads")
        let rotary = try RotaryConfig(fields)
        if rotary.partialRotaryFactor != nil { throw ConfigError.notImplemented("partial_rotary_factor", family: family) }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads, headDim: d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_eps") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.optionalInt("max_position_embeddings") ?? 8192, vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "silu", ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true,
            attentionBias: try fields.optionalBool("attention_bias") ?? false)
        var options = CohereOptions()
        options.logitScale = try fields.optionalDouble("logit_scale") ?? 0.0625
        if try fields.optionalBool("use_qk_norm") == true { options.qkLayerNorm = true }
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        let options = config.options(as: CohereOptions.self) ?? CohereOptions()
        try RotaryConfig.check(config)
        if let scale = options.logitScale, !scale.isFinite {
            throw ConfigError(.inconsistent, "logit_scale must be a finite number, found \(scale)", field: "logit_scale")
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let (heads, kvHeads) = (config.numHeads, config.numKVHeads)
        let q = heads * hd, kv = kvHeads * hd, bias = config.attentionBias, qkNorm = options.qkLayerNorm == true
        var recipe = ModelRecipe(
            family: family, heads: heads, kvHeads: kvHeads, headDim: hd, tokenEmbedding: "embed_tokens.weight",
            positions: .rotary(RotaryConfig.recipe(config, interleaved: true)),
            layer: { l in
                let p = "layers.\(l)."
                // Each head normalised over its own hd values, with its own weights.
                func headNorm(_ name: String, heads: Int) -> NormPart {
                    NormPart(p + name, kind: .layerNorm, width: heads * hd, bias: false, eps: eps, groups: heads)
                }
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .layerNorm, width: d, bias: false, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: bias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: bias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: bias)),
                    attention: AttentionRecipe(
                        scale: 1 / Double(hd).squareRoot(), queryNorm: qkNorm ? headNorm("self_attn.q_norm", heads: heads) : nil,
                        keyNorm: qkNorm ? headNorm("self_attn.k_norm", heads: kvHeads) : nil),
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: bias), mlpNorm: nil,
                    mlp: .gated(
                        gate: LinearPart(p + "mlp.gate_proj", inputs: d, outputs: ff, bias: false),
                        up: LinearPart(p + "mlp.up_proj", inputs: d, outputs: ff, bias: false),
                        down: LinearPart(p + "mlp.down_proj", inputs: ff, outputs: d, bias: false), activation: activation),
                    residual: .parallel)
            },
            finalNorm: NormPart("norm", kind: .layerNorm, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["model."],
            bufferSuffixes: [".rotary_emb.inv_freq"])
        recipe.logitScale = options.logitScale
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: CohereOptions.self) ?? CohereOptions()
        return ConfigJSON([
            "architectures": .strings(["CohereForCausalLM"]), "model_type": .string("cohere"), "hidden_act": .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads), "num_key_value_heads": .int(config.numKVHeads),
            "intermediate_size": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "layer_norm_eps": .double(config.normEps),
            "rope_theta": .double(config.ropeTheta ?? 10000), "rope_scaling": config.ropeScaling?.configJSON,
            "attention_bias": .bool(config.attentionBias), "tie_word_embeddings": .bool(config.tieWordEmbeddings),
            "logit_scale": options.logitScale.map { .double($0) }, "use_qk_norm": .bool(options.qkLayerNorm == true),
        ]).text
    }
}

/// Cohere's options.
public struct CohereOptions: FamilyOptions {
    /// What the logits are multiplied by (`logit_scale`, 0.0625 by default).
    public var logitScale: Double?
    /// Whether each query and key head is LayerNormed with its own weights (`use_qk_norm`).
    public var qkLayerNorm: Bool?

    /// No option set.
    public init() {}
}
