import PrefixCore

/// The tensors an architecture needs: canonical names (without `transformer.` / `model.`
/// prefixes), their shapes, and the known non-parameter buffers that are skipped.
///
/// Matching a source's names against this layout refuses anything missing, mis-shaped or unknown
/// by name, and reports the buffers it skipped.
struct WeightLayout: Sendable {
    let config: ModelConfig
    /// Canonical name -> expected shape, for every required tensor.
    private(set) var required: [String: [Int]] = [:]
    /// Canonical name -> expected shape, for tensors that may be absent.
    private(set) var optional: [String: [Int]] = [:]
    /// Canonical name -> the source's actual name, after ``bind(_:)``.
    private(set) var actualNames: [String: String] = [:]
    /// Source tensors skipped as known buffers (or an unused tied head).
    private(set) var skipped: [String] = []

    init(_ config: ModelConfig) throws(ComputeError) {
        self.config = config
        let d = config.hiddenSize, ff = config.intermediateSize, v = config.vocabSize
        switch config.family {
        case .gpt2:
            required["wte.weight"] = [v, d]
            required["wpe.weight"] = [config.maxPositions, d]
            required["ln_f.weight"] = [d]
            required["ln_f.bias"] = [d]
            optional["lm_head.weight"] = [v, d]
            for l in 0..<config.numLayers {
                let p = "h.\(l)."
                for (name, shape) in [("ln_1.weight", [d]), ("ln_1.bias", [d]), ("attn.c_attn.weight", [d, 3 * d]),
                                      ("attn.c_attn.bias", [3 * d]), ("attn.c_proj.weight", [d, d]), ("attn.c_proj.bias", [d]),
                                      ("ln_2.weight", [d]), ("ln_2.bias", [d]), ("mlp.c_fc.weight", [d, ff]),
                                      ("mlp.c_fc.bias", [ff]), ("mlp.c_proj.weight", [ff, d]), ("mlp.c_proj.bias", [d])] {
                    required[p + name] = shape
                }
            }
        case .llama, .qwen2, .mistral:
            let q = config.numHeads * config.headDim, kv = config.numKVHeads * config.headDim
            required["embed_tokens.weight"] = [v, d]
            required["norm.weight"] = [d]
            if config.tieWordEmbeddings { optional["lm_head.weight"] = [v, d] } else { required["lm_head.weight"] = [v, d] }
            for l in 0..<config.numLayers {
                let p = "layers.\(l)."
                for (name, shape) in [("input_layernorm.weight", [d]), ("self_attn.q_proj.weight", [q, d]),
                                      ("self_attn.k_proj.weight", [kv, d]), ("self_attn.v_proj.weight", [kv, d]),
                                      ("self_attn.o_proj.weight", [d, q]), ("post_attention_layernorm.weight", [d]),
                                      ("mlp.gate_proj.weight", [ff, d]), ("mlp.up_proj.weight", [ff, d]),
                                      ("mlp.down_proj.weight", [d, ff])] {
                    required[p + name] = shape
                }
                if config.attentionBias {
                    required[p + "self_attn.q_proj.bias"] = [q]
                    required[p + "self_attn.k_proj.bias"] = [kv]
                    required[p + "self_attn.v_proj.bias"] = [kv]
                    if config.family != .qwen2 { required[p + "self_attn.o_proj.bias"] = [d] }
                }
            }
        }
    }

    /// The canonical form of a source name: `transformer.` (GPT-2) or `model.` (LLaMA family)
    /// removed; `lm_head.weight` kept as it is.
    private func canonical(_ name: String) -> String {
        for prefix in ["transformer.", "model."] where name.hasPrefix(prefix) && name != "lm_head.weight" {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }

    /// Whether a canonical name is a known non-parameter buffer.
    private func isKnownBuffer(_ name: String) -> Bool {
        name.hasSuffix(".attn.bias") && name.hasPrefix("h.") || name.hasSuffix(".attn.masked_bias")
            || name.hasSuffix(".rotary_emb.inv_freq")
    }

    /// Matches the source's tensors against the layout.
    ///
    /// - Throws: ``ComputeError`` `.unknownWeight`, `.missingWeight` or `.weightShape`, naming
    ///   the tensor and the expected and actual shape.
    mutating func bind(_ infos: [String: TensorInfo]) throws(ComputeError) {
        for name in infos.keys.sorted() {
            guard let info = infos[name] else { continue }
            let key = canonical(name)
            if isKnownBuffer(key) {
                skipped.append(name)
                continue
            }
            guard let expected = required[key] ?? optional[key] else {
                throw ComputeError(.unknownWeight, "the \(config.family.rawValue) architecture does not use this tensor", tensor: name)
            }
            guard info.shape == expected else {
                throw ComputeError(.weightShape, "weight has the wrong shape", tensor: name,
                                   expected: "\(expected)", actual: "\(info.shape)")
            }
            guard info.dtype.isFloatingPoint else {
                throw ComputeError(.weightShape, "weight is not floating point", tensor: name, expected: "a float dtype", actual: info.dtype.rawValue)
            }
            if actualNames[key] != nil {
                throw ComputeError(.unknownWeight, "two tensors map to the same weight '\(key)'", tensor: name)
            }
            actualNames[key] = name
        }
        for key in required.keys.sorted() where actualNames[key] == nil {
            throw ComputeError(.missingWeight, "a weight the model needs is missing", tensor: key,
                               expected: "\(required[key] ?? [])", actual: "nothing")
        }
        if config.tieWordEmbeddings, let head = actualNames["lm_head.weight"] {
            // A tied head equals the embedding; the embedding is what the engine reads.
            skipped.append(head)
            actualNames["lm_head.weight"] = nil
        }
    }

    /// The source name of canonical weight `key`, if present.
    func name(_ key: String) -> String? { actualNames[key] }
}
