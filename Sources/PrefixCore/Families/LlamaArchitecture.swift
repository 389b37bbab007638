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
    /// Qwen3 (`"head"`, over each head) and OLMo2 (`"all"`, over all heads): q/k RMSNorm.
    var qkNorm: String?
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

    /// The `model_type` values this description reads.
    public var modelTypes: [String] { [family.rawValue] }

    /// LLaMA: biases only with `attention_bias` (then on q, k, v and o) and `mlp_bias`.
    public static let llama = LlamaArchitecture(
        family: .llama, summary: "LLaMA: RMSNorm, RoPE, grouped-query attention, SwiGLU", className: "LlamaForCausalLM",
        blocks: "RMSNorm, RoPE (linear, dynamic, llama3, yarn), GQA, `head_dim`, SwiGLU, `attention_bias`, `mlp_bias`",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let d = try fields.int("hidden_size"), heads = try fields.int("num_attention_heads")
        guard heads > 0 else { throw ConfigError(.wrongType, "num_attention_heads must be positive", field: "num_attention_heads") }
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
        config.partialRotaryFactor = rotary.partialRotaryFactor
        if try fields.optionalBool("mlp_bias") == true { config.mlpBias = true }
        if windowOnEveryLayer {
            config.slidingWindow = try fields.optionalInt("sliding_window")
        } else if readsLayerTypes {
            let useWindow = try fields.optionalBool("use_sliding_window") ?? false
            let window = try fields.optionalInt("sliding_window")
            if let sliding = try SlidingLayers.read(fields, layers: layers), useWindow || !fields.has("use_sliding_window") {
                guard let window else {
                    throw ConfigError(
                        .missingField, "layer_types names sliding layers but sliding_window is missing", field: "sliding_window")
                }
                config.slidingWindow = window
                config.slidingLayers = sliding
            } else if useWindow, let window {
                // transformers 4 spelling: layers from max_window_layers on slide.
                let first = try fields.optionalInt("max_window_layers") ?? layers
                let sliding = (0..<layers).map { $0 >= first }
                if sliding.contains(true) {
                    config.slidingWindow = window
                    config.slidingLayers = sliding
                }
            }
        }
        config.qkNorm = qkNorm
        if multipliers {
            config.embeddingMultiplier = try fields.optionalDouble("embedding_multiplier") ?? 1
            config.residualMultiplier = try fields.optionalDouble("residual_multiplier") ?? 1
            config.attentionScale = try fields.optionalDouble("attention_multiplier") ?? 1
            config.logitsScaling = try fields.optionalDouble("logits_scaling") ?? 1
        }
        if readsClip { config.clipQKV = try fields.optionalDouble("clip_qkv") }
        if gemma2Attention {
            let scalar = try fields.optionalDouble("query_pre_attn_scalar") ?? 256
            guard scalar > 0 else {
                throw ConfigError(.inconsistent, "query_pre_attn_scalar must be positive", field: "query_pre_attn_scalar")
            }
            config.attentionScale = 1 / scalar.squareRoot()
            config.attentionSoftcap = try fields.optionalDouble("attn_logit_softcapping")
            config.logitSoftcap = try fields.optionalDouble("final_logit_softcapping")
        }
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        try RotaryConfig.check(config)
        try SlidingLayers.check(config)
        for (name, value) in [
            ("logits_scaling", config.logitsScaling), ("attn_logit_softcapping", config.attentionSoftcap),
            ("final_logit_softcapping", config.logitSoftcap), ("clip_qkv", config.clipQKV),
        ] {
            if let value, !(value > 0) {
                throw ConfigError(.inconsistent, "\(name) must be positive, found \(value)", field: name)
            }
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let q = config.numHeads * hd, kv = config.numKVHeads * hd
        let qkvBias = config.attentionBias, outputBias = config.attentionBias && !qkvBiases
        let mlpBias = config.mlpBias ?? false
        let scale = config.attentionScale ?? 1 / Double(hd).squareRoot()
        let window = config.slidingWindow, slidingLayers = config.slidingLayers
        let kind = config.normKind, qkNorm = config.qkNorm, softcap = config.attentionSoftcap, clip = config.clipQKV
        let (fused, inputNorms, outputNorms) = (fusedProjections, self.inputNorms, self.outputNorms)
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: hd,
            tokenEmbedding: "embed_tokens.weight", positions: .rotary(RotaryConfig.recipe(config)),
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
                    queryNorm: qkNorm.map { norm("self_attn.q_norm", width: $0 == "head" ? qkWidth.head : qkWidth.all) },
                    keyNorm: qkNorm.map { norm("self_attn.k_norm", width: $0 == "head" ? qkWidth.head : qkWidth.allKV) })
                return LayerRecipe(
                    inputNorm: inputNorms ? norm("input_layernorm") : nil, qkv: qkv, attention: attention,
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: outputBias),
                    attentionOutputNorm: outputNorms ? norm("post_attention_layernorm") : nil,
                    mlpNorm: inputNorms ? norm(outputNorms ? "pre_feedforward_layernorm" : "post_attention_layernorm") : nil,
                    mlp: mlp, mlpOutputNorm: outputNorms ? norm("post_feedforward_layernorm") : nil,
                    residualMultiplier: config.residualMultiplier ?? 1)
            },
            finalNorm: NormPart("norm", kind: kind, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer.", "model."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"])
        if scaledEmbedding {
            recipe.embeddingScale = Double(Float(Double(d).squareRoot()))
            recipe.embeddingScaleOnIDsOnly = true
        } else {
            recipe.embeddingScale = config.embeddingMultiplier
        }
        recipe.logitScale = config.logitsScaling.map { 1 / $0 }
        recipe.logitSoftcap = config.logitSoftcap
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        func number(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) + ".0" : "\(value)" }
        let scaling = config.ropeScaling.map { "{\"type\": \"\($0.type)\", \"factor\": \(number($0.factor))}" } ?? "null"
        return """
            {"architectures": ["\(className)"], \
            "model_type": "\(family.rawValue)", "hidden_act": "\(config.activation)", "num_hidden_layers": \(config.numLayers), \
            "hidden_size": \(config.hiddenSize), "num_attention_heads": \(config.numHeads), "num_key_value_heads": \(config.numKVHeads), \
            "head_dim": \(config.headDim), "intermediate_size": \(config.intermediateSize), "max_position_embeddings": \(config.maxPositions), \
            "vocab_size": \(config.vocabSize), "rms_norm_eps": \(config.normEps), "rope_theta": \(number(config.ropeTheta ?? 10000)), \
            "rope_scaling": \(scaling), "attention_bias": \(config.attentionBias), "tie_word_embeddings": \(config.tieWordEmbeddings)}
            """
    }
}
