/// Randomly initialised models and prefixes with fixed seeds, for the demo, tests and
/// benchmarks: real shapes and names, made-up values.
public enum SyntheticModel {
    /// A GPT-2 base with Hugging Face tensor names (`wte.weight`, `h.0.attn.c_attn.weight`, ...),
    /// weights drawn from N(0, 0.02) and LayerNorm weights of 1, like a freshly initialised model.
    public static func gpt2Base(_ config: ModelConfig, seed: UInt64) -> BaseWeights {
        var random = SeededRandom(seed: seed)
        let d = config.hiddenSize
        let ff = config.intermediateSize
        func normal(_ shape: Shape) -> Tensor { Tensor(shape: shape, floats: random.normals(shape.elementCount, scale: 0.02)) }
        func constant(_ value: Float, _ n: Int) -> Tensor { Tensor(shape: [n], floats: [Float](repeating: value, count: n)) }
        var tensors = [NamedTensor("wte.weight", normal([config.vocabSize, d])),
                       NamedTensor("wpe.weight", normal([config.maxPositions, d]))]
        for l in 0..<config.numLayers {
            tensors += [
                NamedTensor("h.\(l).ln_1.weight", constant(1, d)),
                NamedTensor("h.\(l).ln_1.bias", normal([d])),
                NamedTensor("h.\(l).attn.c_attn.weight", normal([d, 3 * d])),
                NamedTensor("h.\(l).attn.c_attn.bias", normal([3 * d])),
                NamedTensor("h.\(l).attn.c_proj.weight", normal([d, d])),
                NamedTensor("h.\(l).attn.c_proj.bias", normal([d])),
                NamedTensor("h.\(l).ln_2.weight", constant(1, d)),
                NamedTensor("h.\(l).ln_2.bias", normal([d])),
                NamedTensor("h.\(l).mlp.c_fc.weight", normal([d, ff])),
                NamedTensor("h.\(l).mlp.c_fc.bias", normal([ff])),
                NamedTensor("h.\(l).mlp.c_proj.weight", normal([ff, d])),
                NamedTensor("h.\(l).mlp.c_proj.bias", normal([d])),
            ]
        }
        tensors += [NamedTensor("ln_f.weight", constant(1, d)), NamedTensor("ln_f.bias", normal([d]))]
        return BaseWeights(config: config, configJSON: config.huggingFaceJSON(), tensors: tensors)
    }

    /// A hidden-form prefix `P^l [Pn, d]` for every layer, drawn from N(0, `scale`).
    public static func hiddenPrefix(_ config: ModelConfig, prefixLength: Int, seed: UInt64, scale: Float = 0.5) -> CheckpointContent {
        var random = SeededRandom(seed: seed)
        let layers = (0..<config.numLayers).map { _ in
            LayerPrefix.hidden(Tensor(shape: [prefixLength, config.hiddenSize],
                                      floats: random.normals(prefixLength * config.hiddenSize, scale: scale)))
        }
        return CheckpointContent(form: .hidden, prefixLength: prefixLength, layers: layers)
    }
}

extension ModelConfig {
    /// This configuration as its family's Hugging Face `config.json`.
    public func huggingFaceJSON() -> String {
        (try? Architectures.named(family).huggingFaceJSON(self)) ?? "{}"
    }
}
