import PrefixCore

/// A loaded affine map of a ``PrefixCore/LinearPart``.
struct LoadedLinear<Scalar: ComputeScalar> {
    let weight: Weight<Scalar>
    let bias: Weight<Scalar>?
    let orientation: WeightOrientation

    init(_ part: LinearPart, load: (String) throws -> Tensor) rethrows {
        weight = Weight(try load(part.name + ".weight"))
        bias = part.hasBias ? Weight(try load(part.name + ".bias")) : nil
        orientation = part.orientation
    }

    func callAsFunction(_ x: Matrix<Scalar>) -> Matrix<Scalar> {
        switch orientation {
        case .outIn: Linear.linear(x, weight, bias)
        case .inOut: Linear.conv1D(x, weight, bias)
        }
    }
}

/// A loaded ``PrefixCore/NormPart``.
struct LoadedNorm<Scalar: ComputeScalar> {
    let part: NormPart
    let weight: Weight<Scalar>
    let bias: Weight<Scalar>?

    init(_ part: NormPart, load: (String) throws -> Tensor) rethrows {
        self.part = part
        weight = Weight(try load(part.name + ".weight"))
        bias = part.hasBias ? Weight(try load(part.name + ".bias")) : nil
    }

    func callAsFunction(_ x: Matrix<Scalar>) -> Matrix<Scalar> {
        switch part.kind {
        case .layerNorm: Normalization.layerNorm(x, weight: weight, bias: bias, eps: part.eps)
        case .rmsNorm: Normalization.rmsNorm(x, weight: weight, eps: part.eps)
        }
    }
}

/// One block composed from shared parts as its ``PrefixCore/LayerRecipe`` says:
///
/// ```
/// a = Norm1(x);  q, k, v = QKV(a);  q, k rotated when the model uses RoPE
/// h = x + Out(Attn(q, [past_k; k], [past_v; v]))
/// y = h + MLP(Norm2(h))
/// ```
/// Shapes: `x [R, d]` -> `[R, d]`; keys and values `[R, Hkv*hd]`.
struct ComposedBlock<Scalar: ComputeScalar>: TransformerBlock {
    let heads: Int, kvHeads: Int, headDim: Int
    let rope: RotaryEmbedding?
    let inputNorm: LoadedNorm<Scalar>
    let projections: [LoadedLinear<Scalar>]
    let output: LoadedLinear<Scalar>
    let postNorm: LoadedNorm<Scalar>
    let mlp: MLPPart
    let mlpLinears: [LoadedLinear<Scalar>]

    /// Loads block `layer`; `load` resolves canonical names.
    init(_ recipe: LayerRecipe, model: ModelRecipe, rope: RotaryEmbedding?, load: (String) throws -> Tensor) rethrows {
        heads = model.heads
        kvHeads = model.kvHeads
        headDim = model.headDim
        self.rope = rope
        inputNorm = try LoadedNorm(recipe.inputNorm, load: load)
        projections = try recipe.qkv.parts.map { try LoadedLinear($0, load: load) }
        output = try LoadedLinear(recipe.output, load: load)
        postNorm = try LoadedNorm(recipe.postNorm, load: load)
        mlp = recipe.mlp
        mlpLinears = try recipe.mlp.parts.map { try LoadedLinear($0, load: load) }
    }

    /// `q`, `k`, `v` of normalised rows `a`; `k` and `v` only when `wantQuery` is false and the
    /// projections are separate.
    private func project(_ a: Matrix<Scalar>, wantQuery: Bool) -> (q: Matrix<Scalar>?, k: Matrix<Scalar>, v: Matrix<Scalar>) {
        if projections.count == 3 {
            return (wantQuery ? projections[0](a) : nil, projections[1](a), projections[2](a))
        }
        let parts = splitColumns(projections[0](a), into: [heads * headDim, kvHeads * headDim, kvHeads * headDim])
        return (parts[0], parts[1], parts[2])
    }

    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>) {
        var (_, k, v) = project(inputNorm(x), wantQuery: false)
        rope?.apply(&k, heads: kvHeads, positions: positions)
        return (k, v)
    }

    func callAsFunction(_ x: Matrix<Scalar>, positions: [Int], past: (keys: Matrix<Scalar>, values: Matrix<Scalar>)?,
                        keyMask: [Bool]) -> Matrix<Scalar> {
        var (query, k, v) = project(inputNorm(x), wantQuery: true)
        guard var q = query else { preconditionFailure("queries were asked for") }
        if let rope {
            rope.apply(&q, heads: heads, positions: positions)
            rope.apply(&k, heads: kvHeads, positions: positions)
        }
        let keys = past.map { $0.keys.stacked(on: k) } ?? k
        let values = past.map { $0.values.stacked(on: v) } ?? v
        let attended = Attention.attend(q: q, k: keys, v: values, heads: heads, kvHeads: kvHeads,
                                        headDim: headDim, queryOffset: past?.keys.rows ?? 0, keyMask: keyMask)
        var h = output(attended)
        h.add(x)
        var y = feedForward(postNorm(h))
        y.add(h)
        return y
    }

    private func feedForward(_ b: Matrix<Scalar>) -> Matrix<Scalar> {
        switch mlp {
        case .plain(_, _, let activation):
            var inner = mlpLinears[0](b)
            inner.values.withUnsafeMutableBufferPointer { Self.activate(activation, $0) }
            return mlpLinears[1](inner)
        case .gated(_, _, _, let activation):
            var g = mlpLinears[0](b)
            let u = mlpLinears[1](b)
            switch activation {
            case .silu:
                g.values.withUnsafeMutableBufferPointer { gp in u.values.withUnsafeBufferPointer { Scalar.swiGLUInPlace(gp, $0) } }
            case .geluTanh:
                g.values.withUnsafeMutableBufferPointer { Scalar.geluTanhInPlace($0) }
                g.multiply(u)
            }
            return mlpLinears[2](g)
        }
    }

    private static func activate(_ activation: Activation, _ values: UnsafeMutableBufferPointer<Scalar>) {
        switch activation {
        case .geluTanh: Scalar.geluTanhInPlace(values)
        case .silu:
            // silu(x) = x * sigmoid(x): SwiGLU with an all-ones up projection.
            let ones = [Scalar](repeating: 1, count: values.count)
            ones.withUnsafeBufferPointer { Scalar.swiGLUInPlace(values, $0) }
        }
    }
}
