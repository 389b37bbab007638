import Foundation

extension ArchitectureFamily {
    /// BLOOM.
    public static let bloom: ArchitectureFamily = "bloom"
}

/// BLOOM: ALiBi (key positions counted over real tokens, prefix included), a LayerNorm on the
/// embeddings, LayerNorms with biases, one `query_key_value` map with `[q_h | k_h | v_h]` per
/// head, BLOOM's own GELU-tanh MLP (``Activation/geluTanhBloom``), a tied head. Refused by name: `apply_residual_connection_post_layernorm`
/// and the tensor-parallel `slow_but_exact` path.
public struct BloomArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .bloom,
        summary: "BLOOM: ALiBi, embedding LayerNorm, fused per-head q/k/v",
        blocks: "ALiBi over real-token positions, embedding LayerNorm, per-head fused q/k/v, BLOOM's GELU",
        refusedByName: "`apply_residual_connection_post_layernorm`, `slow_but_exact`")

    /// HF's slopes: powers of `2^(-8/n)` for the nearest power of two `n <= H`, then odd powers of
    /// `2^(-4/n)` for the remaining heads, computed in f32 as transformers does.
    public static func slopes(heads: Int) -> [Double] {
        let closest = 1 << Int(log2(Double(heads)).rounded(.down))
        let base = Float(pow(2.0, -pow(2.0, -(log2(Double(closest)) - 3))))
        var slopes = (1...closest).map { Double(pow(base, Float($0))) }
        if closest != heads {
            let extra = Float(pow(2.0, -pow(2.0, -(log2(Double(2 * closest)) - 3))))
            let remaining = min(closest, heads - closest)
            slopes += stride(from: 1, to: 1 + 2 * remaining, by: 2).map { Double(pow(extra, Float($0))) }
        }
        return slopes
    }

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        var d = try fields.optionalInt("hidden_size")
        if d == nil { d = try fields.optionalInt("n_embed") }
        guard let d else { throw ConfigError(.missingField, "config.json lacks 'hidden_size'", field: "hidden_size") }
        var heads = try fields.optionalInt("n_head")
        if heads == nil { heads = try fields.optionalInt("num_attention_heads") }
        guard let heads, heads > 0, d % heads == 0 else {
            throw ConfigError(.inconsistent, "hidden_size \(d) is not a multiple of n_head", field: "n_head")
        }
        if try fields.optionalBool("apply_residual_connection_post_layernorm") == true {
            throw ConfigError.notImplemented("apply_residual_connection_post_layernorm", family: family)
        }
        if try fields.optionalBool("slow_but_exact") == true, (try fields.optionalInt("pretraining_tp") ?? 1) > 1 {
            throw ConfigError.notImplemented("slow_but_exact", family: family)
        }
        var layers = try fields.optionalInt("n_layer")
        if layers == nil { layers = try fields.optionalInt("num_hidden_layers") }
        guard let layers else { throw ConfigError(.missingField, "config.json lacks 'n_layer'", field: "n_layer") }
        // ALiBi has no position table: the model takes any length. The limit kept is the
        // training length when the config names one, else a generous 1 << 20.
        let positions = try fields.optionalInt("seq_length") ?? (1 << 20)
        return ModelConfig(
            family: family, numLayers: layers, hiddenSize: d, numHeads: heads, numKVHeads: heads, headDim: d / heads,
            intermediateSize: 4 * d, normKind: .layerNorm, normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5,
            positionScheme: .alibi, maxPositions: positions, vocabSize: try fields.int("vocab_size"), activation: "bloom_gelu",
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true, attentionBias: true)
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        guard config.activation == "bloom_gelu" else {
            throw ConfigError(
                .unsupported, "activation '\(config.activation)' is not implemented for bloom (bloom_gelu)", field: "activation")
        }
        let activation = Activation.geluTanhBloom
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let scale = 1 / Double(config.headDim).squareRoot()
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "word_embeddings.weight", positions: .alibi(slopes: Self.slopes(heads: config.numHeads), byColumn: false),
            layer: { l in
                let p = "h.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    qkv: .fusedPerHead(LinearPart(p + "self_attention.query_key_value", inputs: d, outputs: 3 * d, bias: true)),
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "self_attention.dense", inputs: d, outputs: d, bias: true),
                    mlpNorm: NormPart(p + "post_attention_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "mlp.dense_h_to_4h", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "mlp.dense_4h_to_h", inputs: ff, outputs: d, bias: true), activation: activation))
            },
            finalNorm: NormPart("ln_f", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer."], bufferSuffixes: [])
        recipe.embeddingNorm = NormPart("word_embeddings_layernorm", kind: .layerNorm, width: d, bias: true, eps: eps)
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["BloomForCausalLM"]), "model_type": .string("bloom"), "n_layer": .int(config.numLayers),
            "hidden_size": .int(config.hiddenSize), "n_head": .int(config.numHeads), "vocab_size": .int(config.vocabSize),
            "layer_norm_epsilon": .double(config.normEps), "tie_word_embeddings": .bool(config.tieWordEmbeddings),
        ]).text
    }
}
