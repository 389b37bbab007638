extension ArchitectureFamily {
    /// GPT-2.
    public static let gpt2: ArchitectureFamily = "gpt2"
}

/// GPT-2: learned absolute positions added once, pre-LN LayerNorm with biases, fused Conv1D
/// attention (`c_attn.weight [d, 3d]`), GELU (tanh) MLP, LM head tied to `wte`.
/// `scale_attn_weights: false` leaves scores unscaled; `scale_attn_by_inverse_layer_idx` divides
/// block `l`'s scores by `l + 1` as well.
public struct GPT2Architecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .gpt2,
        summary: "GPT-2: learned positions, LayerNorm, fused Conv1D q/k/v, GELU-tanh MLP",
        blocks: """
            learned positions, LayerNorm, fused Conv1D q/k/v, GELU-tanh (or `gelu`, `relu`, `silu`), \
            `scale_attn_weights`, `scale_attn_by_inverse_layer_idx`, `reorder_and_upcast_attn`
            """,
        refusedByName: "other activations",
        options: GPT2Options.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("n_embd", "n_head")
        let config = ModelConfig(
            family: family, numLayers: try fields.int("n_layer"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.optionalInt("n_inner") ?? 4 * d, normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5, positionScheme: .learned,
            maxPositions: try fields.int("n_positions"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation_function") ?? "gelu_new",
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true, attentionBias: true)
        var scaled = config
        var options = GPT2Options()
        if try fields.optionalBool("scale_attn_weights") == false { options.attentionScale = 1 }
        if try fields.optionalBool("scale_attn_by_inverse_layer_idx") == true { options.scaleAttentionByLayer = true }
        scaled.options = options
        // reorder_and_upcast_attn changes only the order and precision of the same product
        // (`q·k` scaled first, softmax in f32): in the engine's f32 and f64 paths it computes
        // what the flag's absence computes, so it is accepted and left out of the config.
        _ = try fields.optionalBool("reorder_and_upcast_attn")
        return scaled
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        guard config.headDim * config.numHeads == config.hiddenSize else {
            throw ConfigError(.inconsistent, "n_embd must equal n_head * head_dim for GPT-2", field: "n_embd")
        }
        let activation = try Activation.named(config.activation, family: family, field: "activation_function")
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let options = config.options(as: GPT2Options.self) ?? GPT2Options()
        let scale = options.attentionScale ?? 1 / Double(config.headDim).squareRoot(), byLayer = options.scaleAttentionByLayer ?? false
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "wte.weight", positions: .learned(table: "wpe.weight", offset: 0),
            layer: { l in
                let p = "h.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "ln_1", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .fused(LinearPart(p + "attn.c_attn", inputs: d, outputs: 3 * d, orientation: .inOut, bias: true)),
                    attention: AttentionRecipe(scale: byLayer ? scale / Double(l + 1) : scale),
                    output: LinearPart(p + "attn.c_proj", inputs: d, outputs: d, orientation: .inOut, bias: true),
                    mlpNorm: NormPart(p + "ln_2", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "mlp.c_fc", inputs: d, outputs: ff, orientation: .inOut, bias: true),
                        down: LinearPart(p + "mlp.c_proj", inputs: ff, outputs: d, orientation: .inOut, bias: true),
                        activation: activation))
            },
            finalNorm: NormPart("ln_f", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .optional, namePrefixes: ["transformer.", "model."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: GPT2Options.self) ?? GPT2Options()
        return ConfigJSON([
            "architectures": .strings(["GPT2LMHeadModel"]), "model_type": .string("gpt2"),
            "activation_function": .string(config.activation), "n_layer": .int(config.numLayers), "n_embd": .int(config.hiddenSize),
            "n_head": .int(config.numHeads), "n_inner": .int(config.intermediateSize), "n_positions": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "layer_norm_epsilon": .double(config.normEps),
            "tie_word_embeddings": .bool(config.tieWordEmbeddings),
            "scale_attn_weights": options.attentionScale == 1 ? .bool(false) : nil,
            "scale_attn_by_inverse_layer_idx": options.scaleAttentionByLayer.map { .bool($0) },
        ]).text
    }
}

/// GPT-2's options: the attention-scaling flags.
public struct GPT2Options: FamilyOptions {
    /// `scale_attn_weights: false` sets the score multiplier to 1.
    public var attentionScale: Double?
    /// `scale_attn_by_inverse_layer_idx`: block `l`'s scores are further divided by `l + 1`.
    public var scaleAttentionByLayer: Bool?

    /// No flag set.
    public init() {}
}
