extension ArchitectureFamily {
    /// GPT-J.
    public static let gptJ: ArchitectureFamily = "gptj"
}

/// GPT-J: one LayerNorm feeding attention and MLP in parallel, bias-free q/k/v/out projections,
/// interleaved (`rotate_every_two`) RoPE on the first `rotary_dim` dimensions with base 10000,
/// a GELU MLP with biases, and an LM head with a bias.
public struct GPTJArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .gptJ,
        summary: "GPT-J: parallel residual, interleaved partial RoPE",
        blocks: "one LayerNorm feeding parallel attention and MLP, interleaved partial RoPE, biased head",
        refusedByName: "`rotary_dim: null`",
        options: GPTJOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("n_embd", "n_head")
        guard let rotaryDim = try fields.optionalInt("rotary_dim") else {
            throw ConfigError.notImplemented("rotary_dim=null", family: family, detail: "rotation over the whole width")
        }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("n_layer"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.optionalInt("n_inner") ?? 4 * d, normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.int("n_positions"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation_function") ?? "gelu_new", ropeTheta: 10000,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false, attentionBias: false)
        var options = GPTJOptions()
        options.partialRotaryFactor = rotaryDim == d / heads ? nil : Double(rotaryDim) / Double(d / heads)
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "activation_function")
        let options = config.options(as: GPTJOptions.self) ?? GPTJOptions()
        try RotaryConfig.check(config, partial: options.partialRotaryFactor)
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let scale = 1 / Double(config.headDim).squareRoot()
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "wte.weight",
            positions: .rotary(RotaryConfig.recipe(config, partial: options.partialRotaryFactor, interleaved: options.rotaryInterleaved)),
            layer: { l in
                let p = "h.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "ln_1", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "attn.q_proj", inputs: d, outputs: d, bias: false),
                        k: LinearPart(p + "attn.k_proj", inputs: d, outputs: d, bias: false),
                        v: LinearPart(p + "attn.v_proj", inputs: d, outputs: d, bias: false)),
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "attn.out_proj", inputs: d, outputs: d, bias: false), mlpNorm: nil,
                    mlp: .plain(
                        up: LinearPart(p + "mlp.fc_in", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "mlp.fc_out", inputs: ff, outputs: d, bias: true), activation: activation),
                    residual: .parallel)
            },
            finalNorm: NormPart("ln_f", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: true),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".embed_positions"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let rotary = Int(Double(config.headDim) * (config.options(as: GPTJOptions.self)?.partialRotaryFactor ?? 1))
        return ConfigJSON([
            "architectures": .strings(["GPTJForCausalLM"]), "model_type": .string("gptj"),
            "activation_function": .string(config.activation), "n_layer": .int(config.numLayers), "n_embd": .int(config.hiddenSize),
            "n_head": .int(config.numHeads), "n_inner": .int(config.intermediateSize), "n_positions": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "layer_norm_epsilon": .double(config.normEps), "rotary_dim": .int(rotary),
            "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}

/// GPT-J's options. Its rotary pairs are always interleaved and its attention and MLP always read
/// one norm of the block input; both are spelled out, as the configuration always carried them.
public struct GPTJOptions: FamilyOptions {
    /// The fraction of each head's dimensions that rotate (`rotary_dim / hd`; `nil`: all).
    public var partialRotaryFactor: Double?
    /// Rotary pairs `(2i, 2i+1)`.
    public var rotaryInterleaved: Bool? = true
    /// Attention and MLP from one norm.
    public var parallelResidual: ParallelResidual? = .shared

    /// GPT-J's fixed layout, every dimension rotating.
    public init() {}
}
