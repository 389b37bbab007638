public import Foundation
public import PrefixCore

/// Reading a Hugging Face `config.json` into a ``PrefixCore/ModelConfig``.
///
/// Accepts the spellings of transformers 4 and 5 (`rope_theta` or `rope_parameters.rope_theta`,
/// `rope_scaling.type` or `.rope_type`, `torch_dtype` or `dtype`). Features the engine does not
/// compute are refused by name, never ignored: `rope_scaling` other than linear, `mlp_bias`,
/// `attention_bias` on GPT-2-family configs, activations other than GELU-tanh and SiLU.
public enum HFConfig {
    /// Parses `config.json` bytes.
    ///
    /// - Throws: ``FormatError`` `.malformedHeader` (not a JSON object, a field of the wrong type),
    ///   `.missingKey` (a required field), `.unsupportedDType` (an unsupported architecture or feature).
    public static func parse(_ data: Data, path: String? = nil) throws(FormatError) -> ModelConfig {
        guard data.count <= 4 << 20 else { throw FormatError(.headerTooLarge, "config.json is larger than 4 MiB", path: path) }
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw FormatError(.malformedHeader, "config.json is not a JSON object", path: path)
            }
            object = parsed
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformedHeader, "config.json is not valid JSON: \(error.localizedDescription)", path: path)
        }
        let fields = Fields(object: object, path: path)
        let modelType = try fields.string("model_type")
        let config: ModelConfig
        switch modelType {
        case "gpt2":
            let d = try fields.int("n_embd"), heads = try fields.int("n_head")
            guard heads > 0, d % heads == 0 else {
                throw FormatError(.malformedHeader, "n_embd \(d) is not a multiple of n_head \(heads)", path: path)
            }
            let activation = try fields.optionalString("activation_function") ?? "gelu_new"
            config = ModelConfig(
                family: .gpt2, numLayers: try fields.int("n_layer"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
                headDim: d / heads, intermediateSize: try fields.optionalInt("n_inner") ?? 4 * d, normKind: .layerNorm,
                normEps: try fields.optionalDouble("layer_norm_epsilon") ?? 1e-5, positionScheme: .learned,
                maxPositions: try fields.int("n_positions"), vocabSize: try fields.int("vocab_size"),
                activation: activation, tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? true,
                attentionBias: true)
            let scaled = try fields.optionalBool("scale_attn_by_inverse_layer_idx") ?? false
            let upcast = try fields.optionalBool("reorder_and_upcast_attn") ?? false
            if try fields.optionalBool("scale_attn_weights") == false {
                throw FormatError(.unsupportedDType, "config feature scale_attn_weights=false is not implemented", path: path)
            }
            if scaled || upcast {
                throw FormatError(
                    .unsupportedDType, "config feature scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn is not implemented",
                    path: path)
            }
        case "llama", "qwen2", "mistral":
            let family = ArchitectureFamily(rawValue: modelType) ?? .llama
            let d = try fields.int("hidden_size"), heads = try fields.int("num_attention_heads")
            guard heads > 0 else { throw FormatError(.malformedHeader, "num_attention_heads must be positive", path: path) }
            let ropeParameters = object["rope_parameters"] as? [String: Any]
            let theta = try fields.optionalDouble("rope_theta") ?? (ropeParameters?["rope_theta"] as? NSNumber)?.doubleValue ?? 10000
            var scaling: RopeScaling?
            let scalingObject =
                (object["rope_scaling"] as? [String: Any]) ?? ropeParameters.flatMap { $0["rope_type"] as? String != "default" ? $0 : nil }
            if let scalingObject {
                let type = (scalingObject["type"] as? String) ?? (scalingObject["rope_type"] as? String) ?? "?"
                guard type == "linear", let factor = (scalingObject["factor"] as? NSNumber)?.doubleValue, factor > 0 else {
                    throw FormatError(.unsupportedDType, "rope_scaling type '\(type)' is not implemented (only linear)", path: path)
                }
                scaling = RopeScaling(type: type, factor: factor)
            }
            if try fields.optionalBool("mlp_bias") == true {
                throw FormatError(.unsupportedDType, "config feature mlp_bias is not implemented", path: path)
            }
            let activation = try fields.optionalString("hidden_act") ?? "silu"
            config = ModelConfig(
                family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads,
                numKVHeads: try fields.optionalInt("num_key_value_heads") ?? heads,
                headDim: try fields.optionalInt("head_dim") ?? d / heads,
                intermediateSize: try fields.int("intermediate_size"), normKind: .rmsNorm,
                normEps: try fields.optionalDouble("rms_norm_eps") ?? 1e-6, positionScheme: .rope,
                maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
                activation: activation, ropeTheta: theta, ropeScaling: scaling,
                tieWordEmbeddings: try fields.optionalBool("tie_word_embeddings") ?? false,
                attentionBias: family == .qwen2 ? true : (try fields.optionalBool("attention_bias") ?? false),
                slidingWindow: family == .mistral ? try fields.optionalInt("sliding_window") : nil)
        default:
            throw FormatError(.unsupportedDType, "model_type '\(modelType)' is not supported (gpt2, llama, qwen2, mistral)", path: path)
        }
        do { try config.validate() } catch {
            throw FormatError(.malformedHeader, "config.json is inconsistent: \(error)", path: path)
        }
        return config
    }

    /// Reads and parses `config.json` at `path`.
    ///
    /// - Throws: ``FormatError`` `.io`, and the errors of ``parse(_:path:)``.
    public static func read(path: String) throws(FormatError) -> (config: ModelConfig, json: String) {
        let data = try InputFile.read(path, limit: 4 << 20, what: "config.json")
        return (try parse(data, path: path), String(decoding: data, as: UTF8.self))
    }
}

/// Typed access to a JSON object's fields, with errors naming the field.
private struct Fields {
    let object: [String: Any]
    let path: String?

    func value(_ key: String) -> Any? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        return v
    }

    func string(_ key: String) throws(FormatError) -> String {
        guard let v = try optionalString(key) else { throw FormatError(.missingKey, "config.json lacks '\(key)'", path: path) }
        return v
    }

    func optionalString(_ key: String) throws(FormatError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw FormatError(.malformedHeader, "config.json field '\(key)' must be a string", path: path) }
        return s
    }

    func int(_ key: String) throws(FormatError) -> Int {
        guard let v = try optionalInt(key) else { throw FormatError(.missingKey, "config.json lacks '\(key)'", path: path) }
        return v
    }

    func optionalInt(_ key: String) throws(FormatError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else {
            throw FormatError(.malformedHeader, "config.json field '\(key)' must be an integer", path: path)
        }
        return n.intValue
    }

    func optionalDouble(_ key: String) throws(FormatError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue.isFinite else {
            throw FormatError(.malformedHeader, "config.json field '\(key)' must be a number", path: path)
        }
        return n.doubleValue
    }

    func optionalBool(_ key: String) throws(FormatError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v as? Bool else {
            throw FormatError(.malformedHeader, "config.json field '\(key)' must be true or false", path: path)
        }
        return b
    }
}
