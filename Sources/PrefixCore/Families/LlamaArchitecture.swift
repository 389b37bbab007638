extension ArchitectureFamily {
    /// LLaMA (1, 2, 3).
    public static let llama: ArchitectureFamily = "llama"
    /// Qwen2.
    public static let qwen2: ArchitectureFamily = "qwen2"
    /// Mistral.
    public static let mistral: ArchitectureFamily = "mistral"
    /// Qwen3.
    public static let qwen3: ArchitectureFamily = "qwen3"
    /// Granite (IBM).
    public static let granite: ArchitectureFamily = "granite"
}

/// The LLaMA family: RMSNorm, RoPE (rotate-half, with linear, dynamic, llama3 or yarn scaling),
/// grouped-query attention with separate q/k/v projections, SwiGLU MLP. Registered for LLaMA
/// (`attention_bias`, `mlp_bias`), Qwen2 (q/k/v biases, none on the output projection), Mistral
/// (a sliding window on every layer), Qwen3 (per-head q/k RMSNorm) and Granite (embedding,
/// residual, attention and logit multipliers).
public struct LlamaArchitecture: ModelArchitecture {
    public let family: ArchitectureFamily
    public let summary: String
    /// The `architectures` entry written into a synthetic `config.json`.
    let className: String
    /// Qwen2: q/k/v always carry biases (the output projection never does).
    var qkvBiases = false
    /// Mistral: `sliding_window` applies to every layer.
    var windowOnEveryLayer = false
    /// Qwen2, Qwen3: `layer_types` says which layers slide.
    var readsLayerTypes = false
    /// Qwen3: RMSNorm over each head's queries and keys.
    var headNorms = false
    /// Granite: the four multipliers.
    var multipliers = false

    public var modelTypes: [String] { [family.rawValue] }

    /// LLaMA: biases only with `attention_bias` (then on q, k, v and o) and `mlp_bias`.
    public static let llama = LlamaArchitecture(
        family: .llama, summary: "LLaMA: RMSNorm, RoPE, grouped-query attention, SwiGLU", className: "LlamaForCausalLM")
    /// Qwen2: LLaMA with q/k/v biases.
    public static let qwen2 = LlamaArchitecture(
        family: .qwen2, summary: "Qwen2: LLaMA with q/k/v biases", className: "Qwen2ForCausalLM", qkvBiases: true, readsLayerTypes: true)
    /// Mistral: LLaMA with an optional sliding window.
    public static let mistral = LlamaArchitecture(
        family: .mistral, summary: "Mistral: LLaMA with a sliding attention window", className: "MistralForCausalLM",
        windowOnEveryLayer: true)
    /// Qwen3: LLaMA with per-head q/k RMSNorm.
    public static let qwen3 = LlamaArchitecture(
        family: .qwen3, summary: "Qwen3: LLaMA with per-head q/k RMSNorm", className: "Qwen3ForCausalLM", readsLayerTypes: true,
        headNorms: true)
    /// Granite: LLaMA with multipliers.
    public static let granite = LlamaArchitecture(
        family: .granite, summary: "Granite: LLaMA with embedding, residual, attention and logit multipliers",
        className: "GraniteForCausalLM", multipliers: true)

    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let d = try fields.int("hidden_size"), heads = try fields.int("num_attention_heads")
        guard heads > 0 else { throw ConfigError(.wrongType, "num_attention_heads must be positive", field: "num_attention_heads") }
        let rotary = try RotaryConfig(fields)
        if rotary.partialRotaryFactor != nil {
            throw ConfigError.notImplemented("partial_rotary_factor", family: family)
        }
        let layers = try fields.int("num_hidden_layers")
        var config = ModelConfig(
            family: family, numLayers: layers, hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads,
            headDim: try fields.optionalInt("head_dim") ?? d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: .rmsNorm,
            normEps: try fields.optionalDouble("rms_norm_eps") ?? 1e-6, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "silu", ropeTheta: rotary.theta, ropeScaling: rotary.scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false,
            attentionBias: qkvBiases ? true : (try fields.optionalBool("attention_bias") ?? false))
        if try fields.optionalBool("mlp_bias") == true { config.mlpBias = true }
        if windowOnEveryLayer {
            config.slidingWindow = try fields.optionalInt("sliding_window")
        } else if readsLayerTypes {
            let useWindow = try fields.optionalBool("use_sliding_window") ?? false
            let window = try fields.optionalInt("sliding_window")
            if let sliding = try SlidingLayers.read(fields, layers: layers), useWindow || !fields.has("use_sliding_window") {
                guard let window else {
                    throw ConfigError(.missingField, "layer_types names sliding layers but sliding_window is missing", field: "sliding_window")
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
        if headNorms { config.qkNorm = "head" }
        if multipliers {
            config.embeddingMultiplier = try fields.optionalDouble("embedding_multiplier") ?? 1
            config.residualMultiplier = try fields.optionalDouble("residual_multiplier") ?? 1
            config.attentionScale = try fields.optionalDouble("attention_multiplier") ?? 1
            config.logitsScaling = try fields.optionalDouble("logits_scaling") ?? 1
        }
        return config
    }

    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        guard let activation = Activation(huggingFace: config.activation) else {
            throw ConfigError(.unsupported, "activation '\(config.activation)' is not implemented for \(family)", field: "hidden_act")
        }
        try RotaryConfig.check(config)
        if let window = config.slidingWindow, window < 1 {
            throw ConfigError(.inconsistent, "sliding_window must be positive, found \(window)", field: "sliding_window")
        }
        if let logits = config.logitsScaling, logits == 0 {
            throw ConfigError(.inconsistent, "logits_scaling must not be 0", field: "logits_scaling")
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps, hd = config.headDim
        let q = config.numHeads * hd, kv = config.numKVHeads * hd
        let qkvBias = config.attentionBias, outputBias = config.attentionBias && !qkvBiases
        let mlpBias = config.mlpBias ?? false
        let headNorm = config.qkNorm == "head"
        let scale = config.attentionScale ?? 1 / Double(hd).squareRoot()
        let window = config.slidingWindow, slidingLayers = config.slidingLayers
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: hd,
            tokenEmbedding: "embed_tokens.weight", positions: .rotary(RotaryConfig.recipe(config)),
            layer: { l in
                let p = "layers.\(l)."
                let slides = window != nil && (slidingLayers?[l] ?? true)
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .rmsNorm, width: d, bias: false, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: qkvBias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: qkvBias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: qkvBias)),
                    attention: AttentionRecipe(
                        scale: scale, window: slides ? window : nil,
                        queryNorm: headNorm ? NormPart(p + "self_attn.q_norm", kind: .rmsNorm, width: hd, bias: false, eps: eps) : nil,
                        keyNorm: headNorm ? NormPart(p + "self_attn.k_norm", kind: .rmsNorm, width: hd, bias: false, eps: eps) : nil),
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: outputBias),
                    mlpNorm: NormPart(p + "post_attention_layernorm", kind: .rmsNorm, width: d, bias: false, eps: eps),
                    mlp: .gated(
                        gate: LinearPart(p + "mlp.gate_proj", inputs: d, outputs: ff, bias: mlpBias),
                        up: LinearPart(p + "mlp.up_proj", inputs: d, outputs: ff, bias: mlpBias),
                        down: LinearPart(p + "mlp.down_proj", inputs: ff, outputs: d, bias: mlpBias), activation: activation),
                    residualMultiplier: config.residualMultiplier ?? 1)
            },
            finalNorm: NormPart("norm", kind: .rmsNorm, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer.", "model."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"])
        recipe.embeddingScale = config.embeddingMultiplier
        recipe.logitScale = config.logitsScaling.map { 1 / $0 }
        return recipe
    }

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
