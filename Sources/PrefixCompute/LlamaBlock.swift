import PrefixCore

/// A LLaMA-family block (LLaMA, Qwen2, Mistral): RMSNorm, RoPE, grouped-query attention, SwiGLU.
///
/// ```
/// a = RMSNorm1(x);  q = RoPE(a·Wqᵀ + bq);  k = RoPE(a·Wkᵀ + bk);  v = a·Wvᵀ + bv
/// h = x + Attn(q, [past_k; k], [past_v; v]) · Woᵀ (+ bo)
/// y = h + (silu(b·Wgᵀ) ⊙ b·Wuᵀ) · Wdᵀ,  b = RMSNorm2(h)
/// ```
/// Shapes: `x [R, d]`; `Wq [H*hd, d]`, `Wk`/`Wv [Hkv*hd, d]`, `Wo [d, H*hd]` -> `[R, d]`.
/// Biases exist where the model has them (Qwen2: q, k, v; `attention_bias`: also o).
struct LlamaBlock<Scalar: ComputeScalar>: TransformerBlock {
    let config: ModelConfig
    let rope: RotaryEmbedding
    let inputNorm, postNorm, qWeight, kWeight, vWeight, oWeight, gate, up, down: Weight<Scalar>
    let qBias, kBias, vBias, oBias: Weight<Scalar>?

    /// Loads block `layer`; `load` resolves canonical names, `has` tells which optional ones exist.
    init(layer: Int, config: ModelConfig, rope: RotaryEmbedding, has: (String) -> Bool, load: (String) throws -> Tensor) rethrows {
        let p = "layers.\(layer)."
        func w(_ name: String) throws -> Weight<Scalar> { Weight(try load(p + name)) }
        func optional(_ name: String) throws -> Weight<Scalar>? { has(p + name) ? Weight(try load(p + name)) : nil }
        self.config = config
        self.rope = rope
        inputNorm = try w("input_layernorm.weight"); postNorm = try w("post_attention_layernorm.weight")
        qWeight = try w("self_attn.q_proj.weight"); kWeight = try w("self_attn.k_proj.weight")
        vWeight = try w("self_attn.v_proj.weight"); oWeight = try w("self_attn.o_proj.weight")
        qBias = try optional("self_attn.q_proj.bias"); kBias = try optional("self_attn.k_proj.bias")
        vBias = try optional("self_attn.v_proj.bias"); oBias = try optional("self_attn.o_proj.bias")
        gate = try w("mlp.gate_proj.weight"); up = try w("mlp.up_proj.weight"); down = try w("mlp.down_proj.weight")
    }

    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>) {
        let a = Normalization.rmsNorm(x, weight: inputNorm, eps: config.normEps)
        var k = Linear.linear(a, kWeight, kBias)
        rope.apply(&k, heads: config.numKVHeads, positions: positions)
        return (k, Linear.linear(a, vWeight, vBias))
    }

    func callAsFunction(_ x: Matrix<Scalar>, positions: [Int], past: (keys: Matrix<Scalar>, values: Matrix<Scalar>)?,
                        keyMask: [Bool]) -> Matrix<Scalar> {
        let a = Normalization.rmsNorm(x, weight: inputNorm, eps: config.normEps)
        var q = Linear.linear(a, qWeight, qBias)
        rope.apply(&q, heads: config.numHeads, positions: positions)
        var k = Linear.linear(a, kWeight, kBias)
        rope.apply(&k, heads: config.numKVHeads, positions: positions)
        let v = Linear.linear(a, vWeight, vBias)
        let keys = past.map { $0.keys.stacked(on: k) } ?? k
        let values = past.map { $0.values.stacked(on: v) } ?? v
        let attended = Attention.attend(q: q, k: keys, v: values, heads: config.numHeads, kvHeads: config.numKVHeads,
                                        headDim: config.headDim, queryOffset: past?.keys.rows ?? 0, keyMask: keyMask)
        var h = Linear.linear(attended, oWeight, oBias)
        h.add(x)
        let b = Normalization.rmsNorm(h, weight: postNorm, eps: config.normEps)
        var g = Linear.linear(b, gate, nil)
        let u = Linear.linear(b, up, nil)
        g.values.withUnsafeMutableBufferPointer { gp in u.values.withUnsafeBufferPointer { Scalar.swiGLUInPlace(gp, $0) } }
        var y = Linear.linear(g, down, nil)
        y.add(h)
        return y
    }
}
