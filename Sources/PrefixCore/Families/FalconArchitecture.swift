extension ArchitectureFamily {
    /// Falcon.
    public static let falcon: ArchitectureFamily = "falcon"
}

/// Falcon: rotate-half RoPE, a fused `query_key_value` map in one of three layouts, parallel
/// attention and MLP, a GELU MLP, LayerNorms with biases.
///
/// - New decoder architecture (40B, 180B): per group of `H/Hkv` query heads, the group's query
///   heads, one key and one value head; the cache holds keys and values expanded to all `H`
///   heads, so a PEFT adapter carries `H` heads (PEFT's default for Falcon configs).
///   `num_ln_in_parallel_attn` 2 (the default): `ln_attn` and `ln_mlp`; 1: `input_layernorm`.
/// - Multi-query (7B): `[q (H heads) | k | v]` with one key/value head, and a cache of one head.
///   PEFT provisions `H` heads for it (Falcon configs say `num_kv_heads`, not
///   `num_key_value_heads`) and then cannot run; such adapters are refused by name, and an
///   adapter made with `num_attention_heads: 1, token_dim: hd` imports.
/// - Neither: `[q_h | k_h | v_h]` per head; `parallel_attn: false` gives a sequential block with
///   `post_attention_layernorm`.
/// Refused by name: `alibi` (its slopes are rounded to bfloat16 by transformers).
public struct FalconArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .falcon,
        modelTypes: ["falcon", "RefinedWeb", "RefinedWebModel"],
        summary: "Falcon: RoPE, parallel attention, grouped (new) or multi-query q/k/v",
        blocks: """
            RoPE, parallel attention; new decoder architecture (grouped q/k/v, cache of `H` heads, one or \
            two norms), multi-query (cache of one head), per-head
            """,
        refusedByName: "`alibi`; multi-query adapters with `H` heads",
        options: FalconOptions.self)

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads")
        if try fields.optionalBool("alibi") == true {
            throw ConfigError.notImplemented("alibi", family: family, detail: "transformers rounds its slopes to bfloat16")
        }
        let newArchitecture = try fields.optionalBool("new_decoder_architecture") ?? false
        let multiQuery = try fields.optionalBool("multi_query") ?? true
        let kvHeads: Int
        if newArchitecture {
            kvHeads = try fields.optionalInt("num_kv_heads") ?? heads
            guard kvHeads > 0, heads % kvHeads == 0 else {
                throw ConfigError(.inconsistent, "num_kv_heads must divide num_attention_heads (\(heads))", field: "num_kv_heads")
            }
        } else {
            kvHeads = multiQuery ? 1 : heads
        }
        let rotary = try RotaryConfig(fields)
        if rotary.partialRotaryFactor != nil { throw ConfigError.notImplemented("partial_rotary_factor", family: family) }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads, numKVHeads: kvHeads,
            headDim: d / heads, intermediateSize: try fields.optionalInt("ffn_hidden_size") ?? 4 * d, normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5, positionScheme: .rope,
            maxPositions: try fields.optionalInt("max_position_embeddings") ?? 2048, vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation") ?? "gelu", ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true,
            attentionBias: try fields.optionalBool("bias") ?? false)
        var options = FalconOptions()
        if newArchitecture {
            options.falconLayout = (try fields.optionalInt("num_ln_in_parallel_attn") ?? 2) == 2 ? .grouped2LN : .grouped1LN
            options.parallelResidual = .shared
        } else {
            options.falconLayout = multiQuery ? .multiQuery : .perHead
            options.parallelResidual = (try fields.optionalBool("parallel_attn") ?? true) ? .shared : nil
        }
        config.options = options
        return config
    }

    /// The key/value heads of one layer's prefix (see ``ModelArchitecture/prefixKVHeads(_:)``).
    public func prefixKVHeads(_ config: ModelConfig) -> Int {
        FalconOptions.layout(config).grouped ? config.numHeads : config.numKVHeads
    }

    /// Why an adapter's head count cannot fit (see ``ModelArchitecture/adapterHeadsHint(_:adapterHeads:)``).
    public func adapterHeadsHint(_ config: ModelConfig, adapterHeads: Int) -> String? {
        guard FalconOptions.layout(config) == .multiQuery, adapterHeads == config.numHeads else { return nil }
        return "this Falcon is multi-query (one key/value head in its cache); PEFT provisions num_attention_heads = \(config.numHeads) "
            + "for Falcon configs, and such an adapter cannot run in PEFT either: make it with "
            + "PrefixTuningConfig(num_attention_heads=1, token_dim=\(config.headDim))"
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "activation")
        try RotaryConfig.check(config)
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let heads = config.numHeads, kv = config.numKVHeads, bias = config.attentionBias
        let layout = FalconOptions.layout(config), parallel = config.options(as: FalconOptions.self)?.parallelResidual != nil
        let scale = 1 / Double(hd).squareRoot()
        let grouped = layout.grouped
        return ModelRecipe(
            family: family, heads: heads, kvHeads: grouped ? heads : kv, headDim: hd,
            tokenEmbedding: "word_embeddings.weight", positions: .rotary(RotaryConfig.recipe(config)),
            layer: { l in
                let p = "h.\(l)."
                func norm(_ name: String) -> NormPart { NormPart(p + name, kind: .layerNorm, width: d, bias: true, eps: eps) }
                let qkvName = p + "self_attention.query_key_value"
                let qkv: QKVPart
                switch layout {
                case .grouped2LN, .grouped1LN:
                    qkv = .fusedGrouped(LinearPart(qkvName, inputs: d, outputs: (heads + 2 * kv) * hd, bias: bias), groups: kv)
                case .perHead: qkv = .fusedPerHead(LinearPart(qkvName, inputs: d, outputs: 3 * d, bias: bias))
                case .multiQuery: qkv = .fused(LinearPart(qkvName, inputs: d, outputs: (heads + 2) * hd, bias: bias))
                }
                return LayerRecipe(
                    inputNorm: norm(layout == .grouped2LN ? "ln_attn" : "input_layernorm"), qkv: qkv,
                    attention: AttentionRecipe(scale: scale),
                    output: LinearPart(p + "self_attention.dense", inputs: d, outputs: d, bias: bias),
                    mlpNorm: layout == .grouped2LN ? norm("ln_mlp") : (parallel ? nil : norm("post_attention_layernorm")),
                    mlp: .plain(
                        up: LinearPart(p + "mlp.dense_h_to_4h", inputs: d, outputs: ff, bias: bias),
                        down: LinearPart(p + "mlp.dense_4h_to_h", inputs: ff, outputs: d, bias: bias), activation: activation),
                    residual: parallel ? .parallel : .sequential)
            },
            finalNorm: NormPart("ln_f", kind: .layerNorm, width: d, bias: true, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer."],
            bufferSuffixes: [".rotary_emb.inv_freq"])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let layout = FalconOptions.layout(config)
        return ConfigJSON([
            "architectures": .strings(["FalconForCausalLM"]), "model_type": .string("falcon"), "num_hidden_layers": .int(config.numLayers),
            "hidden_size": .int(config.hiddenSize), "num_attention_heads": .int(config.numHeads), "num_kv_heads": .int(config.numKVHeads),
            "new_decoder_architecture": .bool(layout.grouped), "multi_query": .bool(layout == .multiQuery),
            "num_ln_in_parallel_attn": layout.grouped ? .int(layout == .grouped2LN ? 2 : 1) : nil,
            "parallel_attn": .bool(config.options(as: FalconOptions.self)?.parallelResidual != nil), "bias": .bool(config.attentionBias),
            "vocab_size": .int(config.vocabSize), "layer_norm_epsilon": .double(config.normEps),
            "rope_theta": .double(config.ropeTheta ?? 10000), "tie_word_embeddings": .bool(config.tieWordEmbeddings),
            "max_position_embeddings": .int(config.maxPositions), "ffn_hidden_size": .int(config.intermediateSize),
            "activation": .string(config.activation),
        ]).text
    }
}

/// Falcon's options: how its fused q/k/v is laid out and whether attention and MLP run in parallel.
public struct FalconOptions: FamilyOptions {
    /// The fused q/k/v layout.
    public enum Layout: String, Codable, Sendable, Hashable {
        /// The new decoder architecture with two parallel norms (`num_ln_in_parallel_attn: 2`).
        case grouped2LN = "grouped-2ln"
        /// The new decoder architecture with one norm.
        case grouped1LN = "grouped-1ln"
        /// One key/value head (`multi_query`).
        case multiQuery = "multi-query"
        /// q, k and v per head (`multi_query: false`).
        case perHead = "per-head"

        /// Whether heads are grouped around their key/value head (the new decoder architecture).
        public var grouped: Bool { self == .grouped2LN || self == .grouped1LN }
    }

    /// The layout (`nil`: multi-query, the original Falcon).
    public var falconLayout: Layout?
    /// `.shared` when attention and MLP read one norm of the block input (`parallel_attn`).
    public var parallelResidual: ParallelResidual?

    /// No option set.
    public init() {}

    /// The layout of `config` (multi-query unless its options say otherwise).
    static func layout(_ config: ModelConfig) -> Layout { config.options(as: FalconOptions.self)?.falconLayout ?? .multiQuery }
}
