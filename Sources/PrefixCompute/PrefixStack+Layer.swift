public import PrefixCore

/// One layer's output for given input rows, as the verifier needs it.
public struct LayerRun: Sendable {
    /// The rows passed on, `[B, N, d]` (the first N for ``BlockVariant/keptFirstN``).
    public var output: Tensor
    /// `Y^l[0 ..< Pn]`, `[B, Pn, d]`, when asked for.
    public var prefixOutputs: Tensor?
}

extension PrefixStack {
    /// Runs block `layer` teacher-forced: on the given input rows `Hbar^l` (`[B, N, d]`, any
    /// float dtype) with `prefix` as that layer's prefix, composed as `variant` says.
    ///
    /// - Parameters:
    ///   - layer: the block index `l`.
    ///   - rows: `Hbar^l`, `[B, N, d]`.
    ///   - mask: `B x N`, true for real tokens.
    ///   - prefix: the layer's prefix (hidden or key/value).
    ///   - variant: the composition, correct or a known wrong one.
    ///   - prefixOutputs: also return the prefix rows' outputs (hidden prefix, correct variant).
    ///   - type: the compute precision.
    /// - Returns: the rows passed on and, when asked, the prefix rows' outputs.
    /// - Throws: ``ComputeError`` `.invalidInput` for rows of the wrong width, `.prefixShape`.
    public func runLayer<T: ComputeScalar>(
        _ layer: Int, rows: Tensor, mask: [[Bool]], prefix: LayerPrefix, variant: BlockVariant = .correct,
        prefixOutputs: Bool = false, as type: T.Type
    ) throws(ComputeError) -> LayerRun {
        guard rows.shape.rank == 3, rows.shape[2] == config.hiddenSize, rows.shape[0] == mask.count,
            mask.allSatisfy({ $0.count == rows.shape[1] })
        else {
            throw ComputeError(
                .invalidInput, "layer input rows must be [B, N, d] with a B x N mask",
                tensor: layerLabel(layer, layerCount: config.numLayers),
                expected: "[\(mask.count), \(mask.first?.count ?? 0), \(config.hiddenSize)]", actual: "\(rows.shape)")
        }
        if T.self == Float.self { return try runLayerFamily(layer, rows, mask, prefix, variant, prefixOutputs, Float.self) }
        if T.self == Double.self { return try runLayerFamily(layer, rows, mask, prefix, variant, prefixOutputs, Double.self) }
        return try runLayerFamily(layer, rows, mask, prefix, variant, prefixOutputs, T.self)
    }

    private func runLayerFamily<T: ComputeScalar>(
        _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix, _ variant: BlockVariant,
        _ prefixOutputs: Bool, _: T.Type
    ) throws(ComputeError) -> LayerRun {
        try runLayer(try block(layer, T.self), layer, rows, mask, prefix, variant, prefixOutputs)
    }

    private func runLayer<B: TransformerBlock>(
        _ block: B, _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix,
        _ variant: BlockVariant, _ wantPrefixOutputs: Bool
    ) throws(ComputeError) -> LayerRun {
        typealias T = B.Scalar
        let (batch, n, d) = (rows.shape[0], rows.shape[1], rows.shape[2])
        let pn = prefix.parts.first.map { $0.tensor.shape.rank == 3 ? $0.tensor.shape[1] : $0.tensor.shape[0] } ?? 0
        let values = T.elements(of: rows)
        let prefixPositions = Array(self.prefix.positions.prefixStart..<(self.prefix.positions.prefixStart + pn))
        let start = variant == .inputsAtZero || variant == .prefixIgnoredAtZero ? 0 : self.prefix.positions.inputStart
        var out: [T] = [], prefixOut: [T] = []
        for b in 0..<batch {
            let hbar = Matrix<T>(rows: n, cols: d, values: Array(values[(b * n * d)..<((b + 1) * n * d)]))
            var next = start
            let positions = mask[b].map { real -> Int in
                defer { if real { next += 1 } }
                return real ? next : start
            }
            let keyMask = Array(repeating: true, count: pn) + mask[b]
            let kept: Matrix<T>
            switch variant {
            case .prefixIgnored, .prefixIgnoredAtZero:
                kept = block(hbar, positions: positions, past: nil, pastPositions: [], keyMask: mask[b])
            default:
                var past: (keys: Matrix<T>, values: Matrix<T>)
                switch prefix {
                case .hidden(let p):
                    let rowsP = Matrix<T>(rows: pn, cols: d, values: T.elements(of: p))
                    if variant == .keptFirstN || (wantPrefixOutputs && variant == .correct) {
                        let y = block(
                            rowsP.stacked(on: hbar), positions: prefixPositions + positions, past: nil, pastPositions: [], keyMask: keyMask)
                        if wantPrefixOutputs { prefixOut += y.rows(0..<pn).values }
                        out += (variant == .keptFirstN ? y.rows(0..<n) : y.rows(pn..<(pn + n))).values
                        continue
                    }
                    past = block.keysValues(rowsP, positions: prefixPositions)
                case .kv(let k, let v):
                    past = (PrefixStack.keyValueMatrix(k), PrefixStack.keyValueMatrix(v))
                }
                if variant == .unrotatedKeys, let rope {
                    rope.undo(&past.keys, heads: recipe.kvHeads, positions: prefixPositions)
                }
                if variant == .keyValueSwapped { past = (past.values, past.keys) }
                // (A KV prefix has no rows of its own: for it, keeping the first N keeps the input rows.)
                kept = block(hbar, positions: positions, past: past, pastPositions: prefixPositions, keyMask: keyMask)
            }
            out += kept.values
        }
        return LayerRun(
            output: T.tensor(out, shape: [batch, n, d]),
            prefixOutputs: prefixOut.isEmpty ? nil : T.tensor(prefixOut, shape: [batch, pn, d]))
    }
}

extension PrefixStack {
    /// The same stack with another position convention (to test a reference against it).
    public func with(positions: PositionConvention) throws(ComputeError) -> PrefixStack {
        var source = prefix
        source.positions = positions
        return try PrefixStack(config: config, weights: weights, prefix: source)
    }
}

extension PrefixStack {
    /// The weights this stack reads.
    public var weightSource: any TensorSource { weights }

    /// Whether the model's blocks rotate keys by position (so un-rotated prefix keys are a
    /// possible bug worth naming).
    public var rotatesKeys: Bool { recipe.rotatesKeys }

    /// Whether the blocks attend in both directions (encoders), where appending the prefix is
    /// the same composition as prepending it.
    public var isBidirectional: Bool { recipe.isBidirectional }

    /// How the input rows take positions (see ``PrefixCore/InputPositionRule``).
    public var positionRule: InputPositionRule { recipe.inputPositions }
}
