extension ArchitectureFamily {
    /// OPT (Meta).
    public static let opt: ArchitectureFamily = "opt"
}

/// OPT: learned positions whose table row `p + 2` holds position `p`, pre-LN LayerNorms with
/// biases (`do_layer_norm_before`), biased q/k/v/out projections (`enable_bias`), a ReLU MLP
/// (`fc1`, `fc2`), a tied head. Refused by name: post-LN (`do_layer_norm_before: false`, the
/// 350m model), `word_embed_proj_dim != hidden_size` (project_in/out), LayerNorms without
/// affine parameters, `_remove_final_layer_norm`.
public struct OPTArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .opt,
        summary: "OPT: learned positions with offset 2, pre-LN, ReLU MLP",
        blocks: "learned positions with offset 2, pre-LN, ReLU MLP, `enable_bias`",
        refusedByName: """
            post-LN (`do_layer_norm_before: false`), `word_embed_proj_dim != hidden_size`, non-affine \
            LayerNorm, `_remove_final_layer_norm`
            """,
        options: OPTOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads")
        if try fields.optionalBool("do_layer_norm_before") == false {
            throw ConfigError.notImplemented("do_layer_norm_before=false", family: family, detail: "post-LN blocks")
        }
        if let projection = try fields.optionalInt("word_embed_proj_dim"), projection != d {
            throw ConfigError.notImplemented("word_embed_proj_dim", family: family, detail: "project_in/project_out")
        }
        if try fields.optionalBool("layer_norm_elementwise_affine") == false {
            throw ConfigError.notImplemented("layer_norm_elementwise_affine=false", family: family)
        }
        if try fields.optionalBool("_remove_final_layer_norm") == true {
            throw ConfigError.notImplemented("_remove_final_layer_norm", family: family)
        }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.int("ffn_dim"), normKind: .layerNorm, normEps: 1e-5,
            positionScheme: .learned, maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation_function") ?? "relu",
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true,
            attentionBias: try fields.optionalBool("enable_bias") ?? true)
        var options = OPTOptions()
        options.mlpBias = config.attentionBias ? nil : false
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "activation_function")
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, bias = config.attentionBias
        let scale = 1 / Double(config.headDim).squareRoot()
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "embed_tokens.weight", positions: .learned(table: "embed_positions.weight", offset: 2),
            layer: { l in
                let p = "layers.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "self_attn_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: d, bias: bias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: d, bias: bias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: d, bias: bias)),
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "self_attn.out_proj", inputs: d, outputs: d, bias: bias),
                    mlpNorm: NormPart(p + "final_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "fc1", inputs: d, outputs: ff, bias: bias),
                        down: LinearPart(p + "fc2", inputs: ff, outputs: d, bias: bias), activation: activation))
            },
            finalNorm: NormPart("final_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["model.decoder.", "decoder."],
            bufferSuffixes: [])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["OPTForCausalLM"]), "model_type": .string("opt"), "activation_function": .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads),
            "ffn_dim": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "word_embed_proj_dim": .int(config.hiddenSize), "do_layer_norm_before": .bool(true),
            "enable_bias": .bool(config.attentionBias), "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}

/// OPT's options.
public struct OPTOptions: FamilyOptions {
    /// `false` when `enable_bias: false` leaves the MLP's maps without biases too.
    public var mlpBias: Bool?

    /// No option set.
    public init() {}
}
