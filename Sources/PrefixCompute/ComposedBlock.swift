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
    let weight: Weight<Scalar>?
    let bias: Weight<Scalar>?

    init(_ part: NormPart, load: (String) throws -> Tensor) rethrows {
        self.part = part
        let parametric = part.kind != .layerNormNonParametric
        weight = parametric ? Weight(try load(part.name + ".weight")) : nil
        bias = parametric && part.hasBias ? Weight(try load(part.name + ".bias")) : nil
    }

    func callAsFunction(_ x: Matrix<Scalar>) -> Matrix<Scalar> {
        guard part.groups > 1, x.cols == part.width, part.width % part.groups == 0 else {
            return Self.normalize(x, part.kind, weight: weight, bias: bias, eps: part.eps)
        }
        // Each chunk normalised apart, then scaled (and shifted) by its own weights.
        let chunk = part.width / part.groups
        let chunks = Matrix(rows: x.rows * part.groups, cols: chunk, values: x.values)
        var out = Matrix(
            rows: x.rows, cols: x.cols, values: Self.normalize(chunks, part.kind, weight: nil, bias: nil, eps: part.eps).values)
        let offset: Scalar = part.kind == .rmsNormPlusOne ? 1 : 0
        weight?.withValues { w in
            out.values.withUnsafeMutableBufferPointer { v in
                for i in v.indices { v[i] *= offset + w[i % x.cols] }
            }
        }
        bias?.withValues { b in
            out.values.withUnsafeMutableBufferPointer { v in
                for i in v.indices { v[i] += b[i % x.cols] }
            }
        }
        return out
    }

    private static func normalize(
        _ x: Matrix<Scalar>, _ kind: NormKind, weight: Weight<Scalar>?, bias: Weight<Scalar>?, eps: Double
    ) -> Matrix<Scalar> {
        switch kind {
        case .layerNorm, .layerNormNonParametric: Normalization.layerNorm(x, weight: weight, bias: bias, eps: eps)
        case .rmsNorm: Normalization.rmsNorm(x, weight: weight, eps: eps)
        case .rmsNormPlusOne: Normalization.rmsNorm(x, weight: weight, eps: eps, offset: 1)
        }
    }
}

/// The encoder output one sequence's cross-attention reads: keys and values `[R, H*hd]` (any
/// cross-attention prefix first) and which of those rows are real.
struct CrossContext<Scalar: ComputeScalar> {
    var keys: Matrix<Scalar>, values: Matrix<Scalar>
    var mask: [Bool]
}

/// A loaded ``PrefixCore/CrossAttentionPart``.
struct LoadedCrossAttention<Scalar: ComputeScalar> {
    let part: CrossAttentionPart
    let norm: LoadedNorm<Scalar>?, residualNorm: LoadedNorm<Scalar>?
    let q: LoadedLinear<Scalar>, k: LoadedLinear<Scalar>, v: LoadedLinear<Scalar>, output: LoadedLinear<Scalar>

    init(_ part: CrossAttentionPart, load: (String) throws -> Tensor) rethrows {
        self.part = part
        norm = try part.norm.map { try LoadedNorm($0, load: load) }
        residualNorm = try part.residualNorm.map { try LoadedNorm($0, load: load) }
        q = try LoadedLinear(part.q, load: load)
        k = try LoadedLinear(part.k, load: load)
        v = try LoadedLinear(part.v, load: load)
        output = try LoadedLinear(part.output, load: load)
    }
}

/// What a block makes of its input rows before attention: the input norm, the q/k/v
/// projections, clipping, q/k norms and rotation, as its ``PrefixCore/LayerRecipe`` says. A
/// block's keys and values come from here alone, so a key/value conversion loads only these
/// weights. Shapes: `x [R, d]` -> queries `[R, H*hd]`, keys and values `[R, Hkv*hd]`.
struct AttentionInput<Scalar: ComputeScalar> {
    let heads: Int, kvHeads: Int, headDim: Int
    let recipe: LayerRecipe
    let rope: RotaryEmbedding?
    let inputNorm: LoadedNorm<Scalar>?
    let queryNorm: LoadedNorm<Scalar>?, keyNorm: LoadedNorm<Scalar>?
    let projections: [LoadedLinear<Scalar>]

    /// Loads the block's input side; `load` resolves canonical names.
    init(_ recipe: LayerRecipe, model: ModelRecipe, rope: RotaryEmbedding?, load: (String) throws -> Tensor) rethrows {
        let shape = recipe.shape ?? AttentionShape(heads: model.heads, kvHeads: model.kvHeads, headDim: model.headDim)
        (heads, kvHeads, headDim) = (shape.heads, shape.kvHeads, shape.headDim)
        self.recipe = recipe
        // A block whose heads are another size rotates its own (the same fraction of each head).
        self.rope = rope.map { $0.headDim == shape.headDim ? $0 : $0.resized(headDim: shape.headDim) }
        func norm(_ part: NormPart?) throws -> LoadedNorm<Scalar>? { try part.map { try LoadedNorm($0, load: load) } }
        inputNorm = try norm(recipe.inputNorm)
        queryNorm = try norm(recipe.attention.queryNorm)
        keyNorm = try norm(recipe.attention.keyNorm)
        projections = try recipe.qkv.parts.map { try LoadedLinear($0, load: load) }
    }

    /// Queries (when asked for), keys and values of block-input rows `x`: normalised,
    /// projected, clipped, q/k-normed and rotated as the recipe says.
    func project(_ x: Matrix<Scalar>, positions: [Int], wantQuery: Bool) -> (
        q: Matrix<Scalar>?, k: Matrix<Scalar>, v: Matrix<Scalar>
    ) {
        let a = inputNorm.map { $0(x) } ?? x
        var q: Matrix<Scalar>?, k: Matrix<Scalar>, v: Matrix<Scalar>
        let (qw, kvw) = (heads * headDim, kvHeads * headDim)
        switch recipe.qkv {
        case .separate:
            (q, k, v) = (wantQuery ? projections[0](a) : nil, projections[1](a), projections[2](a))
        case .fused:
            let parts = splitColumns(projections[0](a), into: [qw, kvw, kvw])
            (q, k, v) = (parts[0], parts[1], parts[2])
        case .fusedPerHead:
            let parts = splitColumns(projections[0](a), into: Array(repeating: headDim, count: 3 * heads))
            func gather(_ offset: Int) -> Matrix<Scalar> { joinColumns(stride(from: offset, to: 3 * heads, by: 3).map { parts[$0] }) }
            (q, k, v) = (gather(0), gather(1), gather(2))
        case .fusedGrouped(_, let groups):
            // Per group: `H/groups` query heads, then one key and one value head, each shared by
            // the group's query heads (expanded here, as the family's cache holds them).
            let perGroup = heads / groups
            let parts = splitColumns(projections[0](a), into: Array(repeating: headDim, count: groups * (perGroup + 2)))
            var qs: [Matrix<Scalar>] = [], ks: [Matrix<Scalar>] = [], vs: [Matrix<Scalar>] = []
            for g in 0..<groups {
                let base = g * (perGroup + 2)
                qs += (0..<perGroup).map { parts[base + $0] }
                ks += Array(repeating: parts[base + perGroup], count: perGroup)
                vs += Array(repeating: parts[base + perGroup + 1], count: perGroup)
            }
            (q, k, v) = (joinColumns(qs), joinColumns(ks), joinColumns(vs))
        }
        let clip = recipe.attention.clip.map { Scalar($0) }
        func clamp(_ m: inout Matrix<Scalar>) {
            guard let bound = clip else { return }
            for i in m.values.indices { m.values[i] = min(max(m.values[i], -bound), bound) }
        }
        clamp(&k)
        clamp(&v)
        if let keyNorm { k = normalize(k, with: keyNorm, heads: kvHeads) }
        rope?.apply(&k, heads: kvHeads, positions: positions)
        if var query = q {
            clamp(&query)
            if let queryNorm { query = normalize(query, with: queryNorm, heads: heads) }
            rope?.apply(&query, heads: heads, positions: positions)
            q = query
        }
        return (q, k, v)
    }

    /// A q/k norm over each head (`width == hd`) or over all heads at once.
    private func normalize(_ m: Matrix<Scalar>, with norm: LoadedNorm<Scalar>, heads: Int) -> Matrix<Scalar> {
        guard norm.part.width == headDim, heads > 1 else { return norm(m) }
        let perHead = Matrix(rows: m.rows * heads, cols: headDim, values: m.values)
        return Matrix(rows: m.rows, cols: m.cols, values: norm(perHead).values)
    }

    /// The keys and values of block-input rows `x` at `positions`.
    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>) {
        let (_, k, v) = project(x, positions: positions, wantQuery: false)
        return (k, v)
    }
}

/// One block composed from shared parts as its ``PrefixCore/LayerRecipe`` says (the recipe's
/// documentation gives the formula). Shapes: `x [R, d]` -> `[R, d]`; keys and values
/// `[R, Hkv*hd]`.
struct ComposedBlock<Scalar: ComputeScalar> {
    /// The norm, projections and rotation that make queries, keys and values.
    let input: AttentionInput<Scalar>
    var heads: Int { input.heads }
    var kvHeads: Int { input.kvHeads }
    var headDim: Int { input.headDim }
    var rope: RotaryEmbedding? { input.rope }
    var recipe: LayerRecipe { input.recipe }
    /// ALiBi slopes per head and whether key positions are columns (MPT) or mask-counted (BLOOM).
    let alibi: (slopes: [Double], byColumn: Bool)?
    let output: LoadedLinear<Scalar>
    let attentionOutputNorm: LoadedNorm<Scalar>?
    let mlpNorm: LoadedNorm<Scalar>?
    let mlpLinears: [LoadedLinear<Scalar>]
    let mlpOutputNorm: LoadedNorm<Scalar>?
    let attentionResidualNorm: LoadedNorm<Scalar>?, mlpResidualNorm: LoadedNorm<Scalar>?
    /// T5's relative bias: the stack's bucket rule and its `[buckets, H]` table.
    let relativeBias: (recipe: RelativeBiasRecipe, table: [Scalar])?
    /// The attention over the encoder's output (decoder blocks of encoder-decoders).
    let cross: LoadedCrossAttention<Scalar>?

    /// Loads a block; `load` resolves canonical names.
    init(_ recipe: LayerRecipe, model: ModelRecipe, rope: RotaryEmbedding?, load: (String) throws -> Tensor) rethrows {
        input = try AttentionInput(recipe, model: model, rope: rope, load: load)
        if case .alibi(let slopes, let byColumn) = model.positions { alibi = (slopes, byColumn) } else { alibi = nil }
        if case .relativeBias(let bias) = model.positions {
            relativeBias = (bias, Scalar.elements(of: try load(bias.table)))
        } else {
            relativeBias = nil
        }
        cross = try recipe.crossAttention.map { try LoadedCrossAttention($0, load: load) }
        func norm(_ part: NormPart?) throws -> LoadedNorm<Scalar>? { try part.map { try LoadedNorm($0, load: load) } }
        output = try LoadedLinear(recipe.output, load: load)
        attentionOutputNorm = try norm(recipe.attentionOutputNorm)
        mlpNorm = try norm(recipe.mlpNorm)
        mlpLinears = try recipe.mlp.parts.map { try LoadedLinear($0, load: load) }
        mlpOutputNorm = try norm(recipe.mlpOutputNorm)
        attentionResidualNorm = try norm(recipe.attentionResidualNorm)
        mlpResidualNorm = try norm(recipe.mlpResidualNorm)
    }

    private func project(_ x: Matrix<Scalar>, positions: [Int], wantQuery: Bool) -> (
        q: Matrix<Scalar>?, k: Matrix<Scalar>, v: Matrix<Scalar>
    ) {
        input.project(x, positions: positions, wantQuery: wantQuery)
    }

    /// The ALiBi position of every key: past keys at their positions and own rows at theirs
    /// (BLOOM counts only real tokens, as `positions` do); by column, key `j` is at `j` (MPT).
    static func alibiPositions(_ past: [Int], _ own: [Int], _ keyMask: [Bool], byColumn: Bool) -> [Int] {
        byColumn ? Array(0..<keyMask.count) : past + own
    }

    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>) {
        input.keysValues(x, positions: positions)
    }

    func callAsFunction(
        _ x: Matrix<Scalar>, positions: [Int], past: (keys: Matrix<Scalar>, values: Matrix<Scalar>)?,
        pastPositions: [Int], keyMask: [Bool]
    ) -> Matrix<Scalar> {
        self(batch: [x], positions: [positions], past: [past], pastPositions: pastPositions, keyMasks: [keyMask], cross: nil)[0]
    }

    /// The keys and values cross-attention computes from encoder rows `encoded`, `[R, H*hd]` each.
    func crossKeysValues(_ encoded: Matrix<Scalar>) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>)? {
        cross.map { ($0.k(encoded), $0.v(encoded)) }
    }

    /// The relative-bias bucket of every (query row, key) pair of one sequence: queries at
    /// `queryPositions`, keys at `keyPositions`.
    private func buckets(_ recipe: RelativeBiasRecipe, queryPositions: [Int], keyPositions: [Int]) -> [Int] {
        var out = [Int](repeating: 0, count: queryPositions.count * keyPositions.count)
        guard let lowKey = keyPositions.min(), let highKey = keyPositions.max(), let lowQuery = queryPositions.min(),
            let highQuery = queryPositions.max()
        else { return out }
        // A bucket depends only on key - query: each distance's bucket once (its logarithm is the
        // cost), then looked up for every pair.
        let lowest = lowKey - highQuery
        let table = (lowest...(highKey - lowQuery)).map(recipe.bucket)
        for (i, query) in queryPositions.enumerated() {
            for (j, key) in keyPositions.enumerated() { out[i * keyPositions.count + j] = table[key - query - lowest] }
        }
        return out
    }

    /// The block on several sequences at once: every row-wise part (norms, projections, MLP)
    /// runs on all their rows stacked, attention on each sequence with its own past and mask.
    /// The same as calling the block on each sequence, in fewer and larger matrix products.
    /// With `cross`, each sequence's rows also attend to its encoder context between
    /// self-attention and the MLP (decoder blocks of encoder-decoders). `alignment` says where the
    /// causal mask puts the first query among the keys.
    func callAsFunction(
        batch xs: [Matrix<Scalar>], positions: [[Int]], past: [(keys: Matrix<Scalar>, values: Matrix<Scalar>)?],
        pastPositions: [Int], keyMasks: [[Bool]], cross contexts: [CrossContext<Scalar>]? = nil,
        alignment: CausalAlignment = .afterPast
    ) -> [Matrix<Scalar>] {
        let x = xs.count == 1 ? xs[0] : Matrix(stacking: xs)
        let (query, k, v) = project(x, positions: Array(positions.joined()), wantQuery: true)
        guard let q = query else { preconditionFailure("queries were asked for") }
        let attention = recipe.attention
        // Attention per sequence, the sequences in parallel: each writes only its own rows.
        var attended = Matrix<Scalar>(zeros: x.rows, heads * headDim)
        let starts = xs.reduce(into: [0]) { $0.append($0[$0.count - 1] + $1.rows) }
        attended.values.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            Parallel.forEach(xs.count) { b in
                let range = starts[b]..<starts[b + 1]
                let (qb, kb, vb) = xs.count == 1 ? (q, k, v) : (q.rows(range), k.rows(range), v.rows(range))
                let keys = past[b].map { $0.keys.stacked(on: kb) } ?? kb
                let values = past[b].map { $0.values.stacked(on: vb) } ?? vb
                let result = Attention.attend(
                    q: qb, k: keys, v: values, heads: heads, kvHeads: kvHeads,
                    headDim: headDim, queryOffset: alignment == .topLeft ? 0 : past[b]?.keys.rows ?? 0, keyMask: keyMasks[b],
                    causal: attention.causal, scale: attention.scale, window: attention.window, softcap: attention.softcap,
                    alibi: alibi.map {
                        ($0, Self.alibiPositions(past[b] == nil ? [] : pastPositions, positions[b], keyMasks[b], byColumn: $1))
                    },
                    relativeBias: relativeBias.map { bias in
                        let keyPositions = (past[b] == nil ? [] : pastPositions) + positions[b]
                        return (buckets(bias.recipe, queryPositions: positions[b], keyPositions: keyPositions), bias.table)
                    })
                let width = result.cols
                result.values.withUnsafeBufferPointer { src in
                    for (i, value) in src.enumerated() { out[range.lowerBound * width + i] = value }
                }
            }
        }
        let y = finish(x, attended: attended, starts: starts, cross: contexts)
        guard xs.count > 1 else { return [y] }
        var start = 0
        return xs.map { item in
            defer { start += item.rows }
            return y.rows(start..<(start + item.rows))
        }
    }

    /// Cross-attention on rows `h` (sequence `b` at rows `starts[b] ..< starts[b+1]`) over each
    /// sequence's encoder context, with its residual and norm.
    private func crossAttend(_ h: Matrix<Scalar>, _ cross: LoadedCrossAttention<Scalar>, starts: [Int], contexts: [CrossContext<Scalar>])
        -> Matrix<Scalar>
    {
        let q = cross.q(cross.norm.map { $0(h) } ?? h)
        var attended = Matrix<Scalar>(zeros: h.rows, heads * headDim)
        attended.values.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            Parallel.forEach(contexts.count) { b in
                let range = starts[b]..<starts[b + 1]
                let context = contexts[b]
                let result = Attention.attend(
                    q: contexts.count == 1 ? q : q.rows(range), k: context.keys, v: context.values, heads: heads, kvHeads: heads,
                    headDim: headDim, queryOffset: 0, keyMask: context.mask, causal: false, scale: cross.part.scale)
                let width = result.cols
                result.values.withUnsafeBufferPointer { src in
                    for (i, value) in src.enumerated() { out[range.lowerBound * width + i] = value }
                }
            }
        }
        var c = cross.output(attended)
        c.add(h)
        return cross.residualNorm.map { $0(c) } ?? c
    }

    /// The output projection, residuals, cross-attention and MLP after attention, on rows `x`
    /// and their attention output.
    private func finish(_ x: Matrix<Scalar>, attended: Matrix<Scalar>, starts: [Int], cross contexts: [CrossContext<Scalar>]?)
        -> Matrix<Scalar>
    {
        var o = output(attended)
        if let attentionOutputNorm { o = attentionOutputNorm(o) }
        let multiplier = Scalar(recipe.residualMultiplier)
        switch recipe.residual {
        case .sequential:
            var h = o
            if multiplier != 1 { h.scale(by: multiplier) }
            h.add(x)
            if let attentionResidualNorm { h = attentionResidualNorm(h) }
            if let cross, let contexts { h = crossAttend(h, cross, starts: starts, contexts: contexts) }
            var m = feedForward(mlpNorm.map { $0(h) } ?? h)
            if let mlpOutputNorm { m = mlpOutputNorm(m) }
            if multiplier != 1 { m.scale(by: multiplier) }
            m.add(h)
            return mlpResidualNorm.map { $0(m) } ?? m
        case .parallel:
            let source = mlpNorm.map { $0(x) } ?? (input.inputNorm.map { $0(x) } ?? x)
            var y = feedForward(source)
            if let mlpOutputNorm { y = mlpOutputNorm(y) }
            y.add(o)
            if multiplier != 1 { y.scale(by: multiplier) }
            y.add(x)
            return y
        }
    }

    private func feedForward(_ b: Matrix<Scalar>) -> Matrix<Scalar> {
        switch recipe.mlp {
        case .plain(_, _, let activation):
            var inner = mlpLinears[0](b)
            let width = inner.cols
            inner.values.withUnsafeMutableBufferPointer { all in
                Parallel.slices(all, width: width) { Scalar.activateInPlace(activation, $0) }
            }
            return mlpLinears[1](inner)
        case .gated(_, _, _, let activation):
            return mlpLinears[2](Self.gate(mlpLinears[0](b), mlpLinears[1](b), activation))
        case .gatedFused(_, _, let activation):
            let both = mlpLinears[0](b)
            let halves = splitColumns(both, into: [both.cols / 2, both.cols / 2])
            return mlpLinears[1](Self.gate(halves[0], halves[1], activation))
        }
    }

    /// `act(g) ⊙ u`.
    private static func gate(_ gate: Matrix<Scalar>, _ up: Matrix<Scalar>, _ activation: Activation) -> Matrix<Scalar> {
        var g = gate
        if activation == .silu {
            g.values.withUnsafeMutableBufferPointer { gp in up.values.withUnsafeBufferPointer { Scalar.swiGLUInPlace(gp, $0) } }
        } else {
            g.values.withUnsafeMutableBufferPointer { Scalar.activateInPlace(activation, $0) }
            g.multiply(up)
        }
        return g
    }
}
