extension ArchitectureFamily {
    /// BART.
    public static let bart: ArchitectureFamily = "bart"
}

/// BART, the encoder-decoder of Li & Liang's prefix-tuning experiments: post-LN blocks
/// (`LayerNorm(x + Attn(x))`, then for decoder blocks `LayerNorm(h + CrossAttn(h, E))`, then
/// `LayerNorm(h + MLP(h))`), learned positions with an offset of 2 in each stack's own table,
/// `layernorm_embedding` after the positions, token embeddings multiplied by `sqrt(d)` when
/// `scale_embedding` is set, no final norm, and a head tied to `shared` plus
/// `final_logits_bias`.
///
/// Positions with a prefix, as transformers 5.24 computes them: the decoder's rows start at the
/// cache length (`Pn` under PEFT, BART's `position_ids` `[3, 4, 5]` for `Pn = 3`), the encoder's
/// at 0 whatever the mask. Refused by name: mBART-style pre-norm (`normalize_before`), separate
/// encoder and decoder widths or head counts.
public struct BartArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .bart,
        summary: "BART: encoder-decoder, post-LN, learned positions (offset 2), layernorm_embedding",
        blocks: """
            encoder-decoder: post-LN blocks and cross-attention, learned positions with offset 2 per stack, \
            `layernorm_embedding`, `scale_embedding`, head tied to `shared` plus `final_logits_bias`; \
            decoder rows start at the cache length (`Pn` under PEFT), encoder rows at 0
            """,
        refusedByName: "`normalize_before`, decoder shaped unlike the encoder, untied head",
        options: BartOptions.self)

    /// Reads BART's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("d_model", "encoder_attention_heads")
        if try fields.optionalBool("normalize_before") == true {
            throw ConfigError.notImplemented("normalize_before=true", family: family, detail: "pre-norm blocks")
        }
        let ffn = try fields.int("encoder_ffn_dim")
        for (key, value) in [("decoder_attention_heads", heads), ("decoder_ffn_dim", ffn)] {
            if let other = try fields.optionalInt(key), other != value {
                throw ConfigError.notImplemented("\(key)=\(other)", family: family, detail: "a decoder shaped unlike the encoder")
            }
        }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("decoder_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: ffn, normKind: .layerNorm, normEps: 1e-5, positionScheme: .learned,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation_function") ?? "gelu", tieWordEmbeddings: true, attentionBias: true)
        config.encoderLayers = try fields.int("encoder_layers")
        var options = BartOptions()
        if try fields.optionalBool("scale_embedding") == true { options.scaleEmbedding = true }
        config.options = options
        if try fields.optionalBool("tie_word_embeddings") == false {
            throw ConfigError.notImplemented("tie_word_embeddings=false", family: family, detail: "a head of its own")
        }
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "activation_function")
        guard let encoderLayers = config.encoderLayers else {
            throw ConfigError(.inconsistent, "a BART configuration needs encoder_layers", field: "encoder_layers")
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let scale = 1 / Double(config.headDim).squareRoot()
        @Sendable func norm(_ name: String) -> NormPart { NormPart(name, kind: .layerNorm, width: d, bias: true, eps: eps) }
        @Sendable func linear(_ name: String, _ inputs: Int, _ outputs: Int) -> LinearPart {
            LinearPart(name, inputs: inputs, outputs: outputs, bias: true)
        }
        func stack(_ name: String, decoder: Bool) -> ModelRecipe {
            var recipe = ModelRecipe(
                family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim, tokenEmbedding: "shared.weight",
                positions: .learned(table: "\(name).embed_positions.weight", offset: 2),
                layer: { l in
                    let p = "\(name).layers.\(l)."
                    var layer = LayerRecipe(
                        inputNorm: nil,
                        qkv: .separate(
                            q: linear(p + "self_attn.q_proj", d, d), k: linear(p + "self_attn.k_proj", d, d),
                            v: linear(p + "self_attn.v_proj", d, d)),
                        attention: AttentionRecipe(scale: scale, causal: decoder), output: linear(p + "self_attn.out_proj", d, d),
                        mlpNorm: nil, mlp: .plain(up: linear(p + "fc1", d, ff), down: linear(p + "fc2", ff, d), activation: activation),
                        attentionResidualNorm: norm(p + "self_attn_layer_norm"), mlpResidualNorm: norm(p + "final_layer_norm"))
                    if decoder {
                        layer.crossAttention = CrossAttentionPart(
                            norm: nil, q: linear(p + "encoder_attn.q_proj", d, d), k: linear(p + "encoder_attn.k_proj", d, d),
                            v: linear(p + "encoder_attn.v_proj", d, d), output: linear(p + "encoder_attn.out_proj", d, d), scale: scale,
                            residualNorm: norm(p + "encoder_attn_layer_norm"))
                    }
                    return layer
                },
                finalNorm: nil, head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
                headUse: decoder ? .tied : .none, namePrefixes: ["model."], bufferSuffixes: [])
            recipe.embeddingNorm = norm("\(name).layernorm_embedding")
            if config.options(as: BartOptions.self)?.scaleEmbedding == true {
                recipe.embeddingScale = Double(d).squareRoot()
                recipe.embeddingScaleOnIDsOnly = true
            }
            recipe.inputPositions = .column
            return recipe
        }
        var recipe = stack("decoder", decoder: true)
        recipe.encoder = EncoderStack(recipe: stack("encoder", decoder: false), layers: encoderLayers)
        recipe.logitBias = "final_logits_bias"
        recipe.tiedCopies = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
        return recipe
    }

    /// The configuration as BART's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["BartForConditionalGeneration"]), "model_type": .string("bart"), "is_encoder_decoder": .bool(true),
            "d_model": .int(config.hiddenSize), "encoder_layers": .int(config.encoderLayers ?? config.numLayers),
            "decoder_layers": .int(config.numLayers), "encoder_attention_heads": .int(config.numHeads),
            "decoder_attention_heads": .int(config.numHeads), "encoder_ffn_dim": .int(config.intermediateSize),
            "decoder_ffn_dim": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), "activation_function": .string(config.activation),
            "scale_embedding": .bool(config.options(as: BartOptions.self)?.scaleEmbedding == true), "pad_token_id": .int(1),
            "decoder_start_token_id": .int(2),
        ]).text
    }
}

/// BART's options.
public struct BartOptions: FamilyOptions {
    /// Whether token embeddings are multiplied by `sqrt(d)` (`scale_embedding`).
    public var scaleEmbedding: Bool?

    /// No option set.
    public init() {}
}
