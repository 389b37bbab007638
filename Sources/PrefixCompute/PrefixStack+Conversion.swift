public import PrefixCore

extension PrefixStack {
    /// The KV form of this stack's hidden prefix, computed exactly: for every layer,
    /// `K^l = RoPE(norm(P^l) · W_k + b_k)` at the prefix positions, `V^l = norm(P^l) · W_v + b_v`,
    /// shape `[Hkv, Pn, hd]`. Computed in `f64` and rounded once to `dtype` (by default the
    /// prefix's own dtype).
    ///
    /// - Throws: ``ComputeError`` `.notInvertible` when the prefix is already KV (nothing to do
    ///   is not an error: use the prefix as it is), and the errors of loading weights.
    public func keyValuePrefix(dtype: DType? = nil) throws(ComputeError) -> CheckpointContent {
        guard prefix.form == .hidden else {
            throw ComputeError(.notInvertible, "the prefix is already in key/value form")
        }
        if let dtype, !PrefixStack.roundableTypes.contains(dtype) {
            throw ComputeError(.unsupported, "keys and values can be written as f64, f32, f16 or bf16, not \(dtype)")
        }
        // The keys and values the block itself projects from the prefix rows, in f64, rounded once.
        func convert(_ l: Int, _ hidden: LayerPrefix, context: LayerContext?) throws(ComputeError) -> LayerPrefix? {
            guard case .hidden(let p) = hidden else { return nil }
            let (key, value) = try prefixKeysValues(hidden, layer: l, context: context, as: Double.self)
            // By default the prefix's own dtype; an f8 (or integer) prefix gives f32 keys and values.
            let target = dtype ?? (PrefixStack.roundableTypes.contains(p.dtype) ? p.dtype : .f32)
            return .kv(key: key.converted(to: target), value: value.converted(to: target))
        }
        var layers: [LayerPrefix] = []
        for l in 0..<config.numLayers {
            if let kv = try convert(l, try prefixLayer(l), context: nil) { layers.append(kv) }
        }
        var content = CheckpointContent(form: .kv, prefixLength: prefix.prefixLength, positions: prefix.positions, layers: layers)
        content.layout = prefix.layout
        content.encoderPositions = prefix.encoderPositions
        if let encoder = recipe.encoder, let load = prefix.encoderLayer {
            // An encoder section: each layer's rows through the encoder block's own projections.
            for l in 0..<encoder.layers {
                let hidden = try prefixLayer(l, section: .encoder, count: encoder.layers, load: load)
                if let kv = try convert(l, hidden, context: .encoder) {
                    content.encoderLayers.append(kv)
                }
            }
        }
        return content
    }

    /// The dtypes a computed f64 result can be rounded to.
    static let roundableTypes: Set<DType> = [.f64, .f32, .f16, .bf16]

    /// Refuses KV -> hidden, saying why.
    ///
    /// - Throws: always ``ComputeError`` `.notInvertible`.
    public static func hiddenPrefix(fromKeyValue _: CheckpointContent) throws(ComputeError) -> Never {
        throw ComputeError(
            .notInvertible,
            "a key/value prefix cannot be turned back into hidden vectors: keys and values are a projection of the normalised prefix (over-determined for full attention, not unique under grouped-query attention, and the norm discards scale and offset)"
        )
    }
}

/// The reparameterisation MLP of prefix-tuning (Li & Liang; PEFT's `prefix_projection`).
public enum PrefixMLP {
    /// Materialises the MLP to per-layer keys and values:
    /// `embedding.weight [Pn, token_dim] -> Linear(token_dim, hidden) -> tanh -> Linear(hidden, L*2*token_dim)`,
    /// then the flat layout (``PrefixCore/FlatKVLayout``). Computed in f64, rounded to `dtype`.
    ///
    /// Names (PEFT's): `embedding.weight`, `transform.0.weight` `[hidden, token_dim]`,
    /// `transform.0.bias`, `transform.2.weight` `[L*2*token_dim, hidden]`, `transform.2.bias`.
    ///
    /// - Throws: ``ComputeError`` `.missingWeight` or `.weightShape` naming the tensor.
    public static func keyValues(_ mlp: [NamedTensor], config: ModelConfig, dtype: DType = .f32) throws(ComputeError) -> CheckpointContent {
        let byName = Dictionary(mlp.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        func tensor(_ name: String) throws(ComputeError) -> Tensor {
            guard let t = byName[name] else { throw ComputeError(.missingWeight, "the prefix MLP lacks a tensor", tensor: name) }
            return t
        }
        let embedding = try tensor("embedding.weight"), w0 = try tensor("transform.0.weight"), b0 = try tensor("transform.0.bias")
        let w2 = try tensor("transform.2.weight"), b2 = try tensor("transform.2.bias")
        guard PrefixStack.roundableTypes.contains(dtype) else {
            throw ComputeError(.unsupported, "keys and values can be written as f64, f32, f16 or bf16, not \(dtype)")
        }
        let tokenDim = config.tokenDim, width = config.numLayers * 2 * tokenDim
        guard embedding.shape.rank == 2, embedding.shape[1] == tokenDim else {
            throw ComputeError(
                .weightShape, "MLP embedding has the wrong shape", tensor: "embedding.weight", expected: "[Pn, \(tokenDim)]",
                actual: "\(embedding.shape)")
        }
        let hidden = w0.shape.rank == 2 ? w0.shape[0] : -1
        for (name, t, shape) in [
            ("transform.0.weight", w0, [hidden, tokenDim]), ("transform.0.bias", b0, [hidden]),
            ("transform.2.weight", w2, [width, hidden]), ("transform.2.bias", b2, [width]),
        ] where t.shape.dimensions != shape || hidden <= 0 {
            throw ComputeError(.weightShape, "MLP tensor has the wrong shape", tensor: name, expected: "\(shape)", actual: "\(t.shape)")
        }
        let pn = embedding.shape[0]
        var a = Linear.linear(Matrix<Double>(rows: pn, cols: tokenDim, values: embedding.doubles()), Weight(w0), Weight(b0))
        for i in a.values.indices { a.values[i] = LibM.tanh(a.values[i]) }
        let flat = Linear.linear(a, Weight(w2), Weight(b2))
        let layers: [LayerPrefix]
        do {
            layers = try FlatKVLayout.split(
                Tensor(shape: [pn, width], doubles: flat.values).converted(to: dtype),
                layers: config.numLayers, kvHeads: config.prefixKVHeads, headDim: config.headDim)
        } catch {
            throw ComputeError(.weightShape, "\(error)")
        }
        return CheckpointContent(form: .kv, prefixLength: pn, layers: layers, mlp: mlp)
    }
}
