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
        var tensors = [
            NamedTensor("wte.weight", normal([config.vocabSize, d])),
            NamedTensor("wpe.weight", normal([config.maxPositions, d])),
        ]
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

    /// A base of any registered family, with the tensors its recipe reads named as Hugging Face
    /// names them under `prefix` (`"transformer."`, `"model."`; the head unprefixed): weights from
    /// N(0, 0.02), norm weights 1 (0 for Gemma's `1 + w` norms), biases N(0, 0.02).
    ///
    /// - Throws: ``ConfigError`` when the family does not compute `config`.
    public static func base(_ config: ModelConfig, seed: UInt64, prefix: String) throws(ConfigError) -> BaseWeights {
        let recipe = try Architectures.recipe(for: config)
        var random = SeededRandom(seed: seed)
        var shapes = recipe.outerTensors(vocabSize: config.vocabSize, width: config.hiddenSize, maxPositions: config.maxPositions)
        for l in 0..<config.numLayers { shapes += recipe.layer(l).tensors }
        shapes += recipe.pooler?.tensors ?? []
        let norms = Set(
            (0..<config.numLayers).flatMap { l -> [String] in
                let layer = recipe.layer(l)
                return [
                    layer.inputNorm, layer.mlpNorm, layer.attentionOutputNorm, layer.mlpOutputNorm, layer.attention.queryNorm,
                    layer.attention.keyNorm, layer.attentionResidualNorm, layer.mlpResidualNorm,
                ].compactMap { $0.map { $0.name + ".weight" } }
            } + [recipe.finalNorm, recipe.embeddingNorm].compactMap { $0.map { $0.name + ".weight" } })
        let one: Float = config.normKind == .rmsNormPlusOne ? 0 : 1
        func checked(_ name: String, _ dims: [Int]) throws(ConfigError) -> Shape {
            do { return try Shape(dims) } catch {
                throw ConfigError(.inconsistent, "the recipe gives '\(name)' the shape \(dims): \(error.message)", field: name)
            }
        }
        var tensors: [NamedTensor] = []
        for (name, shape) in shapes {
            let count = shape.reduce(1, *)
            let values = norms.contains(name) ? [Float](repeating: one, count: count) : random.normals(count, scale: 0.02)
            tensors.append(NamedTensor(prefix + name, Tensor(shape: try checked(name, shape), floats: values)))
        }
        if recipe.headUse == .required {
            for (name, shape) in recipe.head.tensors {
                tensors.append(
                    NamedTensor(name, Tensor(shape: try checked(name, shape), floats: random.normals(shape.reduce(1, *), scale: 0.02))))
            }
        }
        return BaseWeights(config: config, configJSON: config.huggingFaceJSON(), tensors: tensors)
    }

    /// A hidden-form prefix `P^l [Pn, d]` for every layer, drawn from N(0, `scale`).
    public static func hiddenPrefix(_ config: ModelConfig, prefixLength: Int, seed: UInt64, scale: Float = 0.5) -> CheckpointContent {
        var random = SeededRandom(seed: seed)
        let layers = (0..<config.numLayers).map { _ in
            LayerPrefix.hidden(
                Tensor(
                    shape: [prefixLength, config.hiddenSize],
                    floats: random.normals(prefixLength * config.hiddenSize, scale: scale)))
        }
        return CheckpointContent(form: .hidden, prefixLength: prefixLength, layers: layers)
    }
}

extension ModelConfig {
    /// This configuration as its family's Hugging Face `config.json`.
    public func huggingFaceJSON() -> String {
        Architectures.known(family)?.huggingFaceJSON(self) ?? "{}"
    }
}
