import Foundation

extension ArchitectureFamily {
    /// MPT (MosaicML).
    public static let mpt: ArchitectureFamily = "mpt"
}

/// MPT: ALiBi by key column (`alibi_bias_max`, default 8), LayerNorms without biases, one
/// bias-free `Wqkv` map (`[q | k | v]`), optional `clip_qkv` and `softmax_scale`, an exact-GELU
/// MLP `4d` wide (transformers ignores `expansion_ratio`), a tied head. Refused by name: learned positions (`alibi: false`),
/// `qk_ln`, `prefix_lm`, `attn_uses_sequence_id`, biases (`no_bias: false`). PEFT needs
/// `num_attention_heads` and `token_dim` given explicitly for MPT (its config says `n_heads`,
/// `d_model`).
public struct MPTArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .mpt,
        summary: "MPT: ALiBi by column, bias-free LayerNorm and maps",
        blocks: "ALiBi by column (`alibi_bias_max`), bias-free LayerNorm and maps, `clip_qkv`, `softmax_scale`",
        refusedByName: "learned positions, `qk_ln`, `prefix_lm`, `attn_uses_sequence_id`, biases",
        options: MPTOptions.self)

    /// MPT's slopes: `2^-(8 (i+1) / n)` for the power of two `n >= H`, interleaved odd then even
    /// when `H` is not a power of two.
    public static func slopes(heads: Int, biasMax: Double) -> [Double] {
        let power = 1 << Int(log2(Double(heads)).rounded(.up))
        // HF computes in f32: base = (i + 1) * (max / n), slope = 1 / 2^base.
        var slopes = (1...power).map { i in Double(1 / pow(Float(2), Float(i) * Float(biasMax / Double(power)))) }
        if power != heads {
            slopes = Array(
                (stride(from: 1, to: power, by: 2).map { slopes[$0] } + stride(from: 0, to: power, by: 2).map { slopes[$0] })
                    .prefix(heads))
        }
        return slopes
    }

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("d_model", "n_heads")
        let attention = try fields.optionalObject("attn_config") ?? ConfigFields([:])
        if try attention.optionalBool("alibi") == false { throw ConfigError.notImplemented("attn_config.alibi=false", family: family) }
        for feature in ["qk_ln", "prefix_lm", "attn_uses_sequence_id"] where try attention.optionalBool(feature) == true {
            throw ConfigError.notImplemented("attn_config.\(feature)", family: family)
        }
        if try fields.optionalBool("no_bias") == false { throw ConfigError.notImplemented("no_bias=false", family: family) }
        var config = ModelConfig(
            family: family, numLayers: try fields.int("n_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            // transformers' MptMLP is 4d wide whatever expansion_ratio says (and so are the weights it saves).
            headDim: d / heads, intermediateSize: 4 * d, normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5, positionScheme: .alibi,
            maxPositions: try fields.optionalInt("max_seq_len") ?? 2048, vocabSize: try fields.int("vocab_size"), activation: "gelu",
            tieWordEmbeddings: true, attentionBias: false)
        var options = MPTOptions()
        options.clipQKV = try attention.optionalDouble("clip_qkv")
        options.attentionScale = try attention.optionalDouble("softmax_scale")
        options.alibiBiasMax = try attention.optionalDouble("alibi_bias_max")
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        let options = config.options(as: MPTOptions.self) ?? MPTOptions()
        let scale = options.attentionScale ?? 1 / Double(config.headDim).squareRoot(), clip = options.clipQKV
        return ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "wte.weight",
            positions: .alibi(slopes: Self.slopes(heads: config.numHeads, biasMax: options.alibiBiasMax ?? 8), byColumn: true),
            layer: { l in
                let p = "blocks.\(l)."
                return LayerRecipe(
                    inputNorm: NormPart(p + "norm_1", kind: .layerNorm, width: d, bias: false, eps: eps),
                    qkv: .fused(LinearPart(p + "attn.Wqkv", inputs: d, outputs: 3 * d, bias: false)),
                    attention: AttentionRecipe(scale: scale, clip: clip),
                    output: LinearPart(p + "attn.out_proj", inputs: d, outputs: d, bias: false),
                    mlpNorm: NormPart(p + "norm_2", kind: .layerNorm, width: d, bias: false, eps: eps),
                    mlp: .plain(
                        up: LinearPart(p + "ffn.up_proj", inputs: d, outputs: ff, bias: false),
                        down: LinearPart(p + "ffn.down_proj", inputs: ff, outputs: d, bias: false), activation: .gelu))
            },
            finalNorm: NormPart("norm_f", kind: .layerNorm, width: d, bias: false, eps: eps),
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: .tied, namePrefixes: ["transformer."], bufferSuffixes: [])
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: MPTOptions.self) ?? MPTOptions()
        let attention: [String: ConfigJSON.Value?] = [
            "alibi": .bool(true), "clip_qkv": options.clipQKV.map { .double($0) },
            "softmax_scale": options.attentionScale.map { .double($0) }, "alibi_bias_max": options.alibiBiasMax.map { .double($0) },
        ]
        return ConfigJSON([
            "architectures": .strings(["MptForCausalLM"]), "model_type": .string("mpt"), "n_layers": .int(config.numLayers),
            "d_model": .int(config.hiddenSize), "n_heads": .int(config.numHeads), "expansion_ratio": .int(4),
            "max_seq_len": .int(config.maxPositions), "vocab_size": .int(config.vocabSize), "layer_norm_epsilon": .double(config.normEps),
            "no_bias": .bool(true), "attn_config": .object(attention.compactMapValues { $0 }),
        ]).text
    }
}

/// MPT's options: its `attn_config` knobs.
public struct MPTOptions: FamilyOptions {
    /// q, k, v are clamped to `[-clip, clip]` (`clip_qkv`).
    public var clipQKV: Double?
    /// The score multiplier when it is not `1/sqrt(hd)` (`softmax_scale`).
    public var attentionScale: Double?
    /// `alibi_bias_max` (default 8).
    public var alibiBiasMax: Double?

    /// No option set.
    public init() {}
}
