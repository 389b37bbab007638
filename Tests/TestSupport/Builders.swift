public import PrefixCore

/// Small models and checkpoints for tests.
public enum Builders {
    /// A tiny GPT-2 config: 2 layers, width 8, 2 heads, 32-token vocabulary, 64 positions.
    public static let tinyConfig = ModelConfig.gpt2(layers: 2, width: 8, heads: 2, vocabSize: 32, maxPositions: 64)

    /// A tiny GPT-2 base with a fixed seed.
    public static func tinyBase(seed: UInt64 = 1, config: ModelConfig = tinyConfig) -> BaseWeights {
        SyntheticModel.gpt2Base(config, seed: seed)
    }

    /// A hidden-form prefix of length `prefixLength` for `config`.
    public static func hiddenPrefix(seed: UInt64 = 2, prefixLength: Int = 4, config: ModelConfig = tinyConfig) -> CheckpointContent {
        SyntheticModel.hiddenPrefix(config, prefixLength: prefixLength, seed: seed)
    }

    /// A KV-form prefix of length `prefixLength` for `config`.
    public static func kvPrefix(seed: UInt64 = 3, prefixLength: Int = 4, config: ModelConfig = tinyConfig) -> CheckpointContent {
        var random = SeededRandom(seed: seed)
        let shape: Shape = [config.numKVHeads, prefixLength, config.headDim]
        let layers = (0..<config.numLayers).map { _ in
            LayerPrefix.kv(
                key: Tensor(shape: shape, floats: random.normals(shape.elementCount, scale: 1)),
                value: Tensor(shape: shape, floats: random.normals(shape.elementCount, scale: 1)))
        }
        return CheckpointContent(form: .kv, prefixLength: prefixLength, layers: layers)
    }

    /// A tensor of `dtype` and `shape` filled with seeded random bytes (any bit pattern).
    public static func randomTensor(_ dtype: DType, _ shape: Shape, seed: UInt64) -> Tensor {
        var random = SeededRandom(seed: seed)
        let count = shape.elementCount * dtype.byteWidth
        let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        // The byte count matches by construction.
        guard let tensor = try? Tensor(dtype: dtype, shape: shape, bytes: dtype == .bool ? bytes.map { $0 & 1 } : bytes) else {
            preconditionFailure("random tensor size")
        }
        return tensor
    }
}
