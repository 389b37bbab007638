extension ArchitectureFamily {
    /// LLaMA (1, 2, 3).
    public static let llama: ArchitectureFamily = "llama"
    /// Qwen2.
    public static let qwen2: ArchitectureFamily = "qwen2"
    /// Mistral.
    public static let mistral: ArchitectureFamily = "mistral"
}

/// The LLaMA family: RMSNorm, RoPE (rotate-half), grouped-query attention with separate
/// q/k/v projections, SwiGLU MLP. Registered three times: LLaMA, Qwen2 (q/k/v biases, none on
/// the output projection) and Mistral (a sliding attention window).
public struct LlamaArchitecture: ModelArchitecture {
    public let family: ArchitectureFamily
    public let summary: String
    /// The `architectures` entry written into a synthetic `config.json`.
    let className: String
    /// Qwen2: q/k/v always carry biases (the output projection never does).
    let qkvBiases: Bool
    /// Mistral: reads `sliding_window`.
    let readsSlidingWindow: Bool

    public var modelTypes: [String] { [family.rawValue] }

    /// LLaMA: biases only with `attention_bias` (then on q, k, v and o).
    public static let llama = LlamaArchitecture(
        family: .llama, summary: "LLaMA: RMSNorm, RoPE, grouped-query attention, SwiGLU", className: "LlamaForCausalLM",
        qkvBiases: false, readsSlidingWindow: false)
    /// Qwen2: LLaMA with q/k/v biases.
    public static let qwen2 = LlamaArchitecture(
        family: .qwen2, summary: "Qwen2: LLaMA with q/k/v biases", className: "Qwen2ForCausalLM", qkvBiases: true,
        readsSlidingWindow: false)
    /// Mistral: LLaMA with an optional sliding window.
    public static let mistral = LlamaArchitecture(
        family: .mistral, summary: "Mistral: LLaMA with a sliding attention window", className: "MistralForCausalLM",
        qkvBiases: false, readsSlidingWindow: true)

    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let d = try fields.int("hidden_size"), heads = try fields.int("num_attention_heads")
        guard heads > 0 else { throw ConfigError(.wrongType, "num_attention_heads must be positive", field: "num_attention_heads") }
        let ropeParameters = try fields.optionalObject("rope_parameters")
        var theta = try fields.optionalDouble("rope_theta")
        if theta == nil { theta = try ropeParameters?.optionalDouble("rope_theta") }
        var scaling: RopeScaling?
        var scalingFields = try fields.optionalObject("rope_scaling")
        if scalingFields == nil, let ropeParameters, (try? ropeParameters.optionalString("rope_type")) != "default" {
            scalingFields = ropeParameters
        }
        if let scalingFields {
            let type = (try? scalingFields.optionalString("type")) ?? (try? scalingFields.optionalString("rope_type")) ?? "?"
            guard type == "linear", let factor = try? scalingFields.optionalDouble("factor"), factor > 0 else {
                throw ConfigError(.unsupported, "rope_scaling type '\(type)' is not implemented (only linear)", field: "rope_scaling")
            }
            scaling = RopeScaling(type: "linear", factor: factor)
        }
        if try fields.optionalBool("mlp_bias") == true {
            throw ConfigError.notImplemented("mlp_bias", family: family)
        }
        return ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads,
            numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads,
            headDim: try fields.optionalInt("head_dim") ?? d / heads,
            intermediateSize: try fields.int("intermediate_size"), normKind: .rmsNorm,
            normEps: try fields.optionalDouble("rms_norm_eps") ?? 1e-6, positionScheme: .rope,
            maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "silu", ropeTheta: theta ?? 10000, ropeScaling: scaling,
            tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false,
            attentionBias: qkvBiases ? true : (try fields.optionalBool("attention_bias") ?? false),
            slidingWindow: readsSlidingWindow ? try fields.optionalInt("sliding_window") : nil)
    }

    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        guard config.activation == "silu" else {
            throw ConfigError(.unsupported, "activation '\(config.activation)' is not implemented for \(family) (silu)", field: "hidden_act")
        }
        if let scaling = config.ropeScaling, scaling.type != "linear" {
            throw ConfigError(.unsupported, "rope_scaling type '\(scaling.type)' is not implemented (only 'linear')", field: "rope_scaling")
        }
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let q = config.numHeads * config.headDim, kv = config.numKVHeads * config.headDim
        let qkvBias = config.attentionBias, outputBias = config.attentionBias && !qkvBiases
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numKVHeads, headDim: config.headDim,
            tokenEmbedding: "embed_tokens.weight",
            positions: .rotary(RotaryRecipe(theta: config.ropeTheta ?? 10000, linearFactor: config.ropeScaling?.factor ?? 1)),
            layer: { l in
                let p = "layers.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "input_layernorm", kind: .rmsNorm, width: d, bias: false, eps: eps),
                    qkv: .separate(
                        q: LinearPart(p + "self_attn.q_proj", inputs: d, outputs: q, bias: qkvBias),
                        k: LinearPart(p + "self_attn.k_proj", inputs: d, outputs: kv, bias: qkvBias),
                        v: LinearPart(p + "self_attn.v_proj", inputs: d, outputs: kv, bias: qkvBias)),
                    output: LinearPart(p + "self_attn.o_proj", inputs: q, outputs: d, bias: outputBias),
                    postNorm: NormPart(p + "post_attention_layernorm", kind: .rmsNorm, width: d, bias: false, eps: eps),
                    mlp: .gated(
                        gate: LinearPart(p + "mlp.gate_proj", inputs: d, outputs: ff, bias: false),
                        up: LinearPart(p + "mlp.up_proj", inputs: d, outputs: ff, bias: false),
                        down: LinearPart(p + "mlp.down_proj", inputs: ff, outputs: d, bias: false), activation: .silu))
            },
            finalNorm: NormPart("norm", kind: .rmsNorm, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: config.tieWordEmbeddings ? .tied : .required, namePrefixes: ["transformer.", "model."],
            bufferSuffixes: [".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"])
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
