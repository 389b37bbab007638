import PrefixCore

/// A GPT-2 block: pre-LN LayerNorm, fused Conv1D attention, GELU (tanh) MLP.
///
/// ```
/// a = LN1(x);  [q k v] = a · c_attn.W + c_attn.b        c_attn.W: [d, 3d]
/// h = x + Attn(q, [past_k; k], [past_v; v]) · c_proj.W + c_proj.b
/// y = h + gelu(LN2(h) · c_fc.W + c_fc.b) · mlp.c_proj.W + mlp.c_proj.b
/// ```
/// Shapes: `x [R, d]` -> `[R, d]`. No positional term inside the block.
struct GPT2Block<Scalar: ComputeScalar>: TransformerBlock {
    let config: ModelConfig
    let ln1Weight, ln1Bias, attnWeight, attnBias, projWeight, projBias: Weight<Scalar>
    let ln2Weight, ln2Bias, fcWeight, fcBias, fcProjWeight, fcProjBias: Weight<Scalar>

    /// Loads block `layer` from `source`.
    init(layer: Int, config: ModelConfig, load: (String) throws -> Tensor) rethrows {
        let p = "h.\(layer)."
        func w(_ name: String) throws -> Weight<Scalar> { Weight(try load(p + name)) }
        self.config = config
        ln1Weight = try w("ln_1.weight"); ln1Bias = try w("ln_1.bias")
        attnWeight = try w("attn.c_attn.weight"); attnBias = try w("attn.c_attn.bias")
        projWeight = try w("attn.c_proj.weight"); projBias = try w("attn.c_proj.bias")
        ln2Weight = try w("ln_2.weight"); ln2Bias = try w("ln_2.bias")
        fcWeight = try w("mlp.c_fc.weight"); fcBias = try w("mlp.c_fc.bias")
        fcProjWeight = try w("mlp.c_proj.weight"); fcProjBias = try w("mlp.c_proj.bias")
    }

    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>) {
        let a = Normalization.layerNorm(x, weight: ln1Weight, bias: ln1Bias, eps: config.normEps)
        let parts = splitColumns(Linear.conv1D(a, attnWeight, attnBias), into: [config.hiddenSize, config.hiddenSize, config.hiddenSize])
        return (parts[1], parts[2])
    }

    func callAsFunction(_ x: Matrix<Scalar>, positions: [Int], past: (keys: Matrix<Scalar>, values: Matrix<Scalar>)?,
                        keyMask: [Bool]) -> Matrix<Scalar> {
        let d = config.hiddenSize
        let a = Normalization.layerNorm(x, weight: ln1Weight, bias: ln1Bias, eps: config.normEps)
        let qkv = splitColumns(Linear.conv1D(a, attnWeight, attnBias), into: [d, d, d])
        let keys = past.map { $0.keys.stacked(on: qkv[1]) } ?? qkv[1]
        let values = past.map { $0.values.stacked(on: qkv[2]) } ?? qkv[2]
        let attended = Attention.attend(q: qkv[0], k: keys, v: values, heads: config.numHeads, kvHeads: config.numHeads,
                                        headDim: config.headDim, queryOffset: past?.keys.rows ?? 0, keyMask: keyMask)
        var h = Linear.conv1D(attended, projWeight, projBias)
        h.add(x)
        var inner = Linear.conv1D(Normalization.layerNorm(h, weight: ln2Weight, bias: ln2Bias, eps: config.normEps), fcWeight, fcBias)
        inner.values.withUnsafeMutableBufferPointer { Scalar.geluTanhInPlace($0) }
        var y = Linear.conv1D(inner, fcProjWeight, fcProjBias)
        y.add(h)
        return y
    }
}
