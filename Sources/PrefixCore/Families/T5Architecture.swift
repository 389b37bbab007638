extension ArchitectureFamily {
    /// T5 (v1.0, v1.1, Flan-T5).
    public static let t5: ArchitectureFamily = "t5"
    /// mT5.
    public static let mt5: ArchitectureFamily = "mt5"
}

/// The T5 family of encoder-decoders (T5 v1.0 and v1.1, Flan-T5, mT5): pre-norm blocks with T5's
/// RMS norm (no mean, no bias), no score scaling, a bucketed relative position bias held by the
/// first block of each stack and shared by the others, a ReLU or gated-GELU MLP, no biases, one
/// embedding `shared` for both stacks, and decoder blocks that attend to the encoder's output
/// between self-attention and the MLP.
///
/// The head, as transformers 5.24 computes it: `lm_head.weight` when the checkpoint holds one,
/// else `shared.weight` (5.24 ties the head unless the file holds a distinct one); the decoder's
/// final rows are first multiplied by `d_model^-0.5` when `scale_decoder_outputs` says so, which
/// a config without that field takes from `tie_word_embeddings` (absent or true: scaled; false,
/// as T5 v1.1 and Flan-T5 configs say: not). mT5 never rescales.
public struct T5Architecture: ModelArchitecture {
    /// The family name stored in the catalog.
    public let family: ArchitectureFamily
    /// One line for listings.
    public let summary: String
    /// The `architectures` entry written into a synthetic `config.json`.
    let className: String
    /// Whether the family reads `scale_decoder_outputs` / `tie_word_embeddings` (mT5 does not rescale).
    let mayScaleOutputs: Bool
    /// What its blocks are made of (the family table).
    public let blocks: String
    /// The config features refused by name (the family table).
    public let refusedByName: String

    /// The family's name, its `model_type`, what listings and the family table say of it, and
    /// its options.
    public var listing: FamilyListing {
        FamilyListing(family, summary: summary, blocks: blocks, refusedByName: refusedByName, options: T5Options.self)
    }

    /// T5 v1.0, v1.1 and Flan-T5.
    public static let t5 = T5Architecture(
        family: .t5, summary: "T5, Flan-T5: encoder-decoder, RMS pre-norm, bucketed relative bias, ReLU or gated-GELU MLP",
        className: "T5ForConditionalGeneration", mayScaleOutputs: true,
        blocks: """
            encoder-decoder: RMS pre-norm (no mean, no bias), no score scaling, bucketed relative bias \
            held by each stack's first block, ReLU or gated-GELU MLP, one `shared` embedding, \
            cross-attention in decoder blocks; head `lm_head.weight` if the file holds one, else \
            `shared`, rescaled by `d_model^-0.5` when `scale_decoder_outputs` (absent: \
            `tie_word_embeddings` not false) says so (mT5 never); PEFT SEQ_2_SEQ_LM adapters in PEFT's \
            layout (described after this table)
            """,
        refusedByName: "`is_encoder_decoder: false`")
    /// mT5.
    public static let mt5 = T5Architecture(
        family: .mt5, summary: "mT5: T5 v1.1's encoder-decoder, no output rescale", className: "MT5ForConditionalGeneration",
        mayScaleOutputs: false, blocks: t5.blocks, refusedByName: t5.refusedByName)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let d = try fields.int("d_model"), heads = try fields.int("num_heads"), headDim = try fields.int("d_kv")
        if try fields.optionalBool("is_encoder_decoder") == false {
            throw ConfigError.notImplemented("is_encoder_decoder=false", family: family, detail: "a T5 encoder or decoder alone")
        }
        let projection = try fields.optionalString("feed_forward_proj") ?? "relu"
        let parts = projection.split(separator: "-").map(String.init)
        guard parts.count == 1 || (parts.count == 2 && parts[0] == "gated") else {
            throw ConfigError(
                .unsupported, "feed_forward_proj '\(projection)' is not ACT or gated-ACT", field: "feed_forward_proj")
        }
        // transformers spells gated-gelu's activation gelu_new (the tanh approximation).
        let activation = projection == "gated-gelu" ? "gelu_new" : parts[parts.count - 1]
        let encoderLayers = try fields.int("num_layers")
        var config = ModelConfig(
            family: family, numLayers: try fields.optionalInt("num_decoder_layers") ?? encoderLayers, hiddenSize: d,
            numHeads: heads, numKVHeads: heads, headDim: headDim, intermediateSize: try fields.int("d_ff"), normKind: .rmsNorm,
            normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-6, positionScheme: .relative,
            maxPositions: T5Architecture.positionLimit, vocabSize: try fields.int("vocab_size"), activation: activation,
            tieWordEmbeddings: true, attentionBias: false)
        config.encoderLayers = encoderLayers
        var options = T5Options()
        options.gatedMLP = parts.count == 2 ? true : nil
        options.relativeBuckets = try fields.optionalInt("relative_attention_num_buckets") ?? 32
        options.relativeMaxDistance = try fields.optionalInt("relative_attention_max_distance") ?? 128
        if mayScaleOutputs {
            let tied = try fields.optionalBool("tie_word_embeddings")
            options.scaleDecoderOutputs = try fields.optionalBool("scale_decoder_outputs") ?? (tied != false)
        }
        config.options = options
        return config
    }

    /// The longest sequence: T5's relative bias has no table of positions; this bound only keeps
    /// position arithmetic small.
    static let positionLimit = 1 << 20

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "feed_forward_proj")
        let options = config.options(as: T5Options.self) ?? T5Options()
        guard let encoderLayers = config.encoderLayers, let buckets = options.relativeBuckets,
            let maxDistance = options.relativeMaxDistance
        else {
            throw ConfigError(
                .inconsistent, "a \(family) configuration needs encoder layers and relative-bias buckets", field: "num_layers")
        }
        guard (4...(1 << 16)).contains(buckets) else {
            throw ConfigError(
                .inconsistent, "relative_attention_num_buckets must be in 4...65536, found \(buckets)",
                field: "relative_attention_num_buckets")
        }
        guard (buckets / 2 + 1...(1 << 24)).contains(maxDistance) else {
            throw ConfigError(
                .inconsistent,
                "relative_attention_max_distance must be in \(buckets / 2 + 1)...\(1 << 24) (beyond the exact buckets), found \(maxDistance)",
                field: "relative_attention_max_distance")
        }
        let d = config.hiddenSize, inner = config.numHeads * config.headDim, ff = config.intermediateSize, eps = config.normEps
        let gated = options.gatedMLP == true
        @Sendable func norm(_ name: String) -> NormPart { NormPart(name, kind: .rmsNorm, width: d, bias: false, eps: eps) }
        @Sendable func linear(_ name: String, _ inputs: Int, _ outputs: Int) -> LinearPart {
            LinearPart(name, inputs: inputs, outputs: outputs, bias: false)
        }
        @Sendable func mlp(_ p: String) -> MLPPart {
            gated
                ? .gated(
                    gate: linear(p + "wi_0", d, ff), up: linear(p + "wi_1", d, ff), down: linear(p + "wo", ff, d), activation: activation)
                : .plain(up: linear(p + "wi", d, ff), down: linear(p + "wo", ff, d), activation: activation)
        }
        func stack(_ name: String, decoder: Bool) -> ModelRecipe {
            let bias = RelativeBiasRecipe(
                table: "\(name).block.0.layer.0.SelfAttention.relative_attention_bias.weight", buckets: buckets, maxDistance: maxDistance,
                bidirectional: !decoder)
            var recipe = ModelRecipe(
                family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim, tokenEmbedding: "shared.weight",
                positions: .relativeBias(bias),
                layer: { l in
                    let p = "\(name).block.\(l).layer."
                    let attention = p + "0.SelfAttention."
                    var layer = LayerRecipe(
                        inputNorm: norm(p + "0.layer_norm"),
                        qkv: .separate(
                            q: linear(attention + "q", d, inner), k: linear(attention + "k", d, inner), v: linear(attention + "v", d, inner)
                        ),
                        attention: AttentionRecipe(scale: 1, causal: decoder), output: linear(attention + "o", inner, d),
                        mlpNorm: norm(p + (decoder ? "2" : "1") + ".layer_norm"), mlp: mlp(p + (decoder ? "2" : "1") + ".DenseReluDense."))
                    if decoder {
                        let cross = p + "1.EncDecAttention."
                        layer.crossAttention = CrossAttentionPart(
                            norm: norm(p + "1.layer_norm"), q: linear(cross + "q", d, inner), k: linear(cross + "k", d, inner),
                            v: linear(cross + "v", d, inner), output: linear(cross + "o", inner, d), scale: 1, residualNorm: nil)
                    }
                    return layer
                },
                finalNorm: norm("\(name).final_layer_norm"),
                head: linear("lm_head", d, config.vocabSize), headUse: decoder ? .optional : .none, namePrefixes: [],
                bufferSuffixes: [])
            recipe.inputPositions = .column
            return recipe
        }
        var recipe = stack("decoder", decoder: true)
        recipe.encoder = EncoderStack(recipe: stack("encoder", decoder: false), layers: encoderLayers)
        recipe.tiedCopies = ["encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
        if options.scaleDecoderOutputs == true { recipe.headInputScale = 1 / Double(d).squareRoot() }
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: T5Options.self) ?? T5Options()
        let gated = options.gatedMLP == true
        let projection = gated ? "gated-" + (config.activation == "gelu_new" ? "gelu" : config.activation) : config.activation
        return ConfigJSON([
            "architectures": .strings([className]), "model_type": .string(family.rawValue), "is_encoder_decoder": .bool(true),
            "d_model": .int(config.hiddenSize), "d_kv": .int(config.headDim), "d_ff": .int(config.intermediateSize),
            "num_heads": .int(config.numHeads), "num_layers": .int(config.encoderLayers ?? config.numLayers),
            "num_decoder_layers": .int(config.numLayers), "feed_forward_proj": .string(projection), "vocab_size": .int(config.vocabSize),
            "layer_norm_epsilon": .double(config.normEps), "relative_attention_num_buckets": .int(options.relativeBuckets ?? 32),
            "relative_attention_max_distance": .int(options.relativeMaxDistance ?? 128), "decoder_start_token_id": .int(0),
            "pad_token_id": .int(0), "scale_decoder_outputs": options.scaleDecoderOutputs.map { .bool($0) },
            "tie_word_embeddings": options.scaleDecoderOutputs.map { .bool($0) },
        ]).text
    }
}

/// T5's options.
public struct T5Options: FamilyOptions {
    /// `relative_attention_num_buckets` and `relative_attention_max_distance`.
    public var relativeBuckets: Int?, relativeMaxDistance: Int?
    /// Whether the MLP is gated (T5 v1.1 `gated-gelu`).
    public var gatedMLP: Bool?
    /// Whether the decoder's final rows are multiplied by `d_model^-0.5` before the LM head (T5
    /// v1.0: transformers' `scale_decoder_outputs`).
    public var scaleDecoderOutputs: Bool?

    /// No option set.
    public init() {}
}
