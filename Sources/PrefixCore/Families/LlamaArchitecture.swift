extension ArchitectureFamily {
    /// LLaMA (1, 2, 3).
    public static let llama: ArchitectureFamily = "llama"
}

/// The LLaMA family: RMSNorm, RoPE (rotate-half, with linear, dynamic, llama3 or yarn scaling),
/// grouped-query attention with separate q/k/v projections, SwiGLU MLP, and the knobs by which
/// its descendants differ. Each descendant is a static value in its own file (Qwen2, Mistral,
/// Qwen3, Granite, Gemma, Gemma2, Phi-3, OLMo, OLMo2) and a line in ``Architectures/all``.
public struct LlamaArchitecture: ModelArchitecture {
    /// The family name stored in the catalog.
    public let family: ArchitectureFamily
    /// One line for listings.
    public let summary: String
    /// The `architectures` entry written into a synthetic `config.json`.
    let className: String
    /// Qwen2: q/k/v always carry biases (the output projection never does).
    var qkvBiases = false
    /// Mistral, Phi-3: `sliding_window` applies to every layer.
    var windowOnEveryLayer = false
    /// Qwen2, Qwen3, Gemma2: `layer_types` says which layers slide.
    var readsLayerTypes = false
    /// Qwen3 (over each head) and OLMo2 (over all heads): q/k RMSNorm.
    var qkNorm: LlamaOptions.QKNorm?
    /// Granite: the four multipliers.
    var multipliers = false
    /// Phi-3: `qkv_proj` and `gate_up_proj` instead of separate maps.
    var fusedProjections = false
    /// Phi-3: reads `partial_rotary_factor`.
    var partialRotary = false
    /// The norm kind (Gemma: `(1 + w)`; OLMo: non-parametric LayerNorm).
    var norm: NormKind = .rmsNorm
    /// The config key of the norm epsilon (empty: fixed at 1e-5).
    var epsKey = "rms_norm_eps"
    /// OLMo2: norms on each sublayer's output instead of its input; Gemma2: on both.
    var outputNorms = false, inputNorms = true
    /// Gemma: token embeddings (from ids only) scaled by `sqrt(d)`, rounded to f32 as HF's buffer is.
    var scaledEmbedding = false
    /// Gemma: `hidden_act: gelu` means the tanh approximation.
    var geluMeansTanh = false
    /// The default of `tie_word_embeddings`.
    var tiedByDefault = false
    /// OLMo: reads `clip_qkv`.
    var readsClip = false
    /// Gemma2: `query_pre_attn_scalar`, `attn_logit_softcapping`, `final_logit_softcapping`.
    var gemma2Attention = false
    /// The config key of the activation.
    var activationKey = "hidden_act"
    /// The default activation.
    var defaultActivation = "silu"
    /// What its blocks are made of (the family table).
    public var blocks = ""
    /// The config features refused by name (the family table).
    public var refusedByName = ""

    /// The family's name, its `model_type`, what listings and the family table say of it, and
    /// its options.
    public var listing: FamilyListing {
        FamilyListing(family, summary: summary, blocks: blocks, refusedByName: refusedByName, options: LlamaOptions.self)
    }

    /// LLaMA: biases only with `attention_bias` (then on q, k, v and o) and `mlp_bias`.
    public static let llama = LlamaArchitecture(
        family: .llama, summary: "LLaMA: RMSNorm, RoPE, grouped-query attention, SwiGLU", className: "LlamaForCausalLM",
        blocks: "RMSNorm, RoPE (linear, dynamic, llama3, yarn), GQA, `head_dim`, SwiGLU, `attention_bias`, `mlp_bias`",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads", divisible: false)
        if try fields.optionalBool("use_bidirectional_attention") == true {
            throw ConfigError.notImplemented("use_bidirectional_attention", family: family)
        }
        let rotary = try RotaryConfig(fields)
        if rotary.partialRotaryFactor != nil, !partialRotary {
            throw ConfigError.notImplemented("partial_rotary_factor", family: family)
        }
        var activation = try fields.optionalString(activationKey) ?? defaultActivation
        if geluMeansTanh {
            activation = try fields.optionalString("hidden_activation") ?? activation
            if activation == "gelu" { activation = "gelu_pytorch_tanh" }
        }
        let layers = try fields.int("num_hidden_layers")
        var config = ModelConfig(
            family: family, numLayers: layers, hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads,
            headDim: try fields.optionalInt("head_dim") ?? d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: norm,
            normEps: epsKey.isEmpty ? 1e-5 : try fields.optionalDouble(epsKey) ?? 1e-6, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: activation, ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? tiedByDefault,
            attentionBias: qkvBiases ? true : (try fields.optionalBool("attention_bias") ?? false))
        var options = LlamaOptions()
        options.partialRotaryFactor = rotary.partialRotaryFactor
        if try fields.optionalBool("mlp_bias") == true { options.mlpBias = true }
        if windowOnEveryLayer {
            options.slidingWindow = try fields.optionalInt("sliding_window")
        } else if readsLayerTypes {
            let useWindow = try fields.optionalBool("use_sliding_window") ?? false
            let window = try fields.optionalInt("sliding_window")
            if let sliding = try SlidingLayers.read(fields, layers: layers), useWindow || !fields.has("use_sliding_window") {
                guard let window else {
                    throw ConfigError(
                        .missingField, "layer_types names sliding layers but sliding_window is missing", field: "sliding_window")
                }
                options.slidingWindow = window
                options.slidingLayers = sliding
            } else if useWindow, let window {
                // transformers 4 spelling: layers from max_window_layers on slide.
                let first = try fields.optionalInt("max_window_layers") ?? layers
                let sliding = (0..<layers).map { $0 >= first }
                if sliding.contains(true) {
                    options.slidingWindow = window
                    options.slidingLayers = sliding
                }
            }
        }
        options.qkNorm = qkNorm
        if multipliers {
            options.embeddingMultiplier = try fields.optionalDouble("embedding_multiplier") ?? 1
            options.residualMultiplier = try fields.optionalDouble("residual_multiplier") ?? 1
            options.attentionScale = try fields.optionalDouble("attention_multiplier") ?? 1
            options.logitsScaling = try fields.optionalDouble("logits_scaling") ?? 1
        }
        if readsClip { options.clipQKV = try fields.optionalDouble("clip_qkv") }
        if gemma2Attention {
            let scalar = try fields.optionalDouble("query_pre_attn_scalar") ?? 256
            guard scalar > 0 else {
                throw ConfigError(.inconsistent, "query_pre_attn_scalar must be positive", field: "query_pre_attn_scalar")
            }
            options.attentionScale = 1 / scalar.squareRoot()
            options.attentionSoftcap = try fields.optionalDouble("attn_logit_softcapping")
            options.logitSoftcap = try fields.optionalDouble("final_logit_softcapping")
        }
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        let options = config.options(as: LlamaOptions.self) ?? LlamaOptions()
        try RotaryConfig.check(config, partial: options.partialRotaryFactor)
        try SlidingLayers.check(window: options.slidingWindow, layers: options.slidingLayers, of: config)
        for (name, value) in [
            ("logits_scaling", options.logitsScaling), ("attn_logit_softcapping", options.attentionSoftcap),
            ("final_logit_softcapping", options.logitSoftcap), ("clip_qkv", options.clipQKV),
        ] {
            if let value, !(value > 0) {
                throw ConfigError(.inconsistent, "\(name) must be positive, found \(value)", field: name)
            }
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let q = config.numHeads * hd, kv = config.numKVHeads * hd
        let qkvBias = config.attentionBias, outputBias = config.attentionBias && !qkvBiases
        let mlpBias = options.mlpBias ?? false
        let scale = options.attentionScale ?? 1 / Double(hd).squareRoot()
        let window = options.slidingWindow, slidingLayers = options.slidingLayers
        let kind = config.normKind, qkNorm = options.qkNorm, softcap = options.attentionSoftcap, clip = options.clipQKV
        let (fused, inputNorms, outputNorms) = (fusedProjections, self.inputNorms, self.outputNorms)
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: hd,
            tokenEmbedding: "embed_tokens.weight", positions: .rotary(RotaryConfig.recipe(config, partial: options.partialRotaryFactor)),
            layer: { l in
                let p = "layers.\(l)."
                func norm(_ name: String, width: Int = d) -> NormPart {
                    NormPart(p + name, kind: kind, width: width, bias: false, eps: eps)
                }
                let slides = window != nil && (slidingLayers?[l] ?? true)
                let qkv: QKVPart =
                    fused
                    ? .fused(LinearPart(p + "self_attn.qkv_proj", inputs: d, outputs: q + 2 * kv, bias: qkvBias))
                    : .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: qkvBias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: qkvBias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: qkvBias))
                let mlp: MLPPart =
                    fused
                    ? .gatedFused(
                        gateUp: LinearPart(p + "mlp.gate_up_proj", inputs: d, outputs: 2 * ff, bias: mlpBias),
                        down: LinearPart(p + "mlp.down_proj", inputs: ff, outputs: d, bias: mlpBias), activation: activation)
                    : .gated(
                        gate: LinearPart(p + "mlp.gate_proj", inputs: d, outputs: ff, bias: mlpBias),
                        up: LinearPart(p + "mlp.up_proj", inputs: d, outputs: ff, bias: mlpBias),
                        down: LinearPart(p + "mlp.down_proj", inputs: ff, outputs: d, bias: mlpBias), activation: activation)
                let qkWidth = (head: hd, all: q, allKV: kv)
                let attention = AttentionRecipe(
                    scale: scale, window: slides ? window : nil, softcap: softcap, clip: clip,
                    queryNorm: qkNorm.map { norm("self_attn.q_norm", width: $0 == .head ? qkWidth.head : qkWidth.all) },
                    keyNorm: qkNorm.map { norm("self_attn.k_norm", width: $0 == .head ? qkWidth.head : qkWidth.allKV) })
                return LayerRecipe(
                    inputNorm: inputNorms ? norm("input_layernorm") : nil, qkv: qkv, attention: attention,
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: outputBias),
                    attentionOutputNorm: outputNorms ? norm("post_attention_layernorm") : nil,
                    mlpNorm: inputNorms ? norm(outputNorms ? "pre_feedforward_layernorm" : "post_attention_layernorm") : nil,
                    mlp: mlp, mlpOutputNorm: outputNorms ? norm("post_feedforward_layernorm") : nil,
                    residualMultiplier: options.residualMultiplier ?? 1)
            },
            finalNorm: NormPart("norm", kind: kind, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer.", "model."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"])
        if scaledEmbedding {
            recipe.embeddingScale = Double(Float(Double(d).squareRoot()))
            recipe.embeddingScaleOnIDsOnly = true
        } else {
            recipe.embeddingScale = options.embeddingMultiplier
        }
        recipe.logitScale = options.logitsScaling.map { 1 / $0 }
        recipe.logitSoftcap = options.logitSoftcap
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: LlamaOptions.self) ?? LlamaOptions()
        let scaling = config.ropeScaling?.configJSON
        let layerTypes = options.slidingLayers.map { layers in
            ConfigJSON.Value.strings(layers.map { $0 ? "sliding_attention" : "full_attention" })
        }
        let gemma2Scalar = gemma2Attention ? options.attentionScale.map { ConfigJSON.Value.double(1 / ($0 * $0)) } : nil
        return ConfigJSON([
            "architectures": .strings([className]), "model_type": .string(family.rawValue), activationKey: .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads), "num_key_value_heads": .int(config.numKVHeads), "head_dim": .int(config.headDim),
            "intermediate_size": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize), epsKey.isEmpty ? "rms_norm_eps" : epsKey: .double(config.normEps),
            "rope_theta": .double(config.ropeTheta ?? 10000), "rope_scaling": scaling, "attention_bias": .bool(config.attentionBias),
            "tie_word_embeddings": .bool(config.tieWordEmbeddings), "mlp_bias": options.mlpBias.map { .bool($0) },
            "partial_rotary_factor": options.partialRotaryFactor.map { .double($0) },
            "sliding_window": options.slidingWindow.map { .int($0) }, "layer_types": layerTypes,
            "use_sliding_window": readsLayerTypes && options.slidingWindow != nil ? .bool(true) : nil,
            "embedding_multiplier": multipliers ? options.embeddingMultiplier.map { .double($0) } : nil,
            "residual_multiplier": multipliers ? options.residualMultiplier.map { .double($0) } : nil,
            "attention_multiplier": multipliers ? options.attentionScale.map { .double($0) } : nil,
            "logits_scaling": options.logitsScaling.map { .double($0) }, "clip_qkv": options.clipQKV.map { .double($0) },
            "query_pre_attn_scalar": gemma2Scalar, "attn_logit_softcapping": options.attentionSoftcap.map { .double($0) },
            "final_logit_softcapping": options.logitSoftcap.map { .double($0) },
        ]).text
    }
}

/// The LLaMA family's options: the knobs by which its descendants differ.
public struct LlamaOptions: FamilyOptions {
    /// How queries and keys are normalised after projection.
    public enum QKNorm: String, Codable, Sendable, Hashable {
        /// Over `hd`, per head (Qwen3).
        case head
        /// Over all heads at once (OLMo2).
        case all
    }

    /// The sliding attention window, if any (Mistral, Qwen3, Gemma2, Phi-3).
    public var slidingWindow: Int?
    /// Which layers use ``slidingWindow`` (`nil`: every layer).
    public var slidingLayers: [Bool]?
    /// The fraction of each head's dimensions that rotate (Phi-3).
    public var partialRotaryFactor: Double?
    /// Whether the MLP's maps carry biases (`mlp_bias`).
    public var mlpBias: Bool?
    /// Query/key norms after projection (Qwen3, OLMo2).
    public var qkNorm: QKNorm?
    /// The score multiplier when it is not `1/sqrt(hd)` (Granite `attention_multiplier`, Gemma2
    /// `query_pre_attn_scalar^-0.5`).
    public var attentionScale: Double?
    /// Scores are soft-capped at this value (Gemma2 `attn_logit_softcapping`).
    public var attentionSoftcap: Double?
    /// Logits are soft-capped at this value (Gemma2 `final_logit_softcapping`).
    public var logitSoftcap: Double?
    /// q, k, v are clamped to `[-clip, clip]` (OLMo `clip_qkv`).
    public var clipQKV: Double?
    /// Multiplies the token embeddings (Granite `embedding_multiplier`).
    public var embeddingMultiplier: Double?
    /// Multiplies each sublayer's output before the residual add (Granite).
    public var residualMultiplier: Double?
    /// Divides the logits (Granite `logits_scaling`).
    public var logitsScaling: Double?

    /// No option set.
    public init() {}
}
