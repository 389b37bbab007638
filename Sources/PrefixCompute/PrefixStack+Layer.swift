public import PrefixCore

/// One layer's output for given input rows, as the verifier needs it.
public struct LayerRun: Sendable {
    /// The rows passed on, `[B, N, d]` (the first N for ``BlockVariant/keptFirstN``).
    public var output: Tensor
    /// `Y^l[0 ..< Pn]`, `[B, Pn, d]`, when asked for.
    public var prefixOutputs: Tensor?
}

/// Where a teacher-forced block of an encoder-decoder sits: which stack, and for a decoder block
/// what its cross-attention reads.
public struct LayerContext: Sendable {
    /// The stack the block belongs to: `.encoder` or `.decoder`.
    public var section: PrefixSection
    /// The encoder's final rows `[B, S, d]` a decoder block's cross-attention attends to.
    public var encoderStates: Tensor?
    /// `B x S`, true for the encoder's real rows.
    public var encoderMask: [[Bool]]
    /// The block's cross-attention prefix (keys and values), if the checkpoint has one.
    public var crossPrefix: LayerPrefix?

    /// An encoder block.
    public static let encoder = LayerContext(section: .encoder, encoderStates: nil, encoderMask: [], crossPrefix: nil)

    /// A decoder block attending to `encoderStates` (masked by `encoderMask`), after `crossPrefix`.
    public static func decoder(encoderStates: Tensor, encoderMask: [[Bool]], crossPrefix: LayerPrefix?) -> LayerContext {
        LayerContext(section: .decoder, encoderStates: encoderStates, encoderMask: encoderMask, crossPrefix: crossPrefix)
    }
}

extension PrefixStack {
    /// Runs block `layer` teacher-forced: on the given input rows `Hbar^l` (`[B, N, d]`, any
    /// float dtype) with `prefix` as that layer's prefix, composed as `variant` says.
    ///
    /// - Parameters:
    ///   - layer: the block index `l`.
    ///   - rows: `Hbar^l`, `[B, N, d]`.
    ///   - mask: `B x N`, true for real tokens.
    ///   - prefix: the layer's prefix (hidden or key/value); `nil` for a block without one (an
    ///     encoder under PEFT's encoder-decoder layout).
    ///   - context: for an encoder-decoder, the stack and the cross-attention's input.
    ///   - variant: the composition, correct or a known wrong one.
    ///   - prefixOutputs: also return the prefix rows' outputs (hidden prefix, correct variant).
    ///   - type: the compute precision.
    /// - Returns: the rows passed on and, when asked, the prefix rows' outputs.
    /// - Throws: ``ComputeError`` `.invalidInput` for rows of the wrong width or a decoder block
    ///   without encoder rows, `.prefixShape`.
    public func runLayer<T: ComputeScalar>(
        _ layer: Int, rows: Tensor, mask: [[Bool]], prefix: LayerPrefix?, context: LayerContext? = nil,
        variant: BlockVariant = .correct, prefixOutputs: Bool = false, as type: T.Type
    ) throws(ComputeError) -> LayerRun {
        guard rows.shape.rank == 3, rows.shape[2] == config.hiddenSize, rows.shape[0] == mask.count,
            mask.allSatisfy({ $0.count == rows.shape[1] })
        else {
            throw ComputeError(
                .invalidInput, "layer input rows must be [B, N, d] with a B x N mask",
                tensor: layerLabel(layer, layerCount: config.numLayers),
                expected: "[\(mask.count), \(mask.first?.count ?? 0), \(config.hiddenSize)]", actual: "\(rows.shape)")
        }
        if T.self == Float.self { return try runLayerFamily(layer, rows, mask, prefix, context, variant, prefixOutputs, Float.self) }
        if T.self == Double.self { return try runLayerFamily(layer, rows, mask, prefix, context, variant, prefixOutputs, Double.self) }
        return try runLayerFamily(layer, rows, mask, prefix, context, variant, prefixOutputs, T.self)
    }

    private func runLayerFamily<T: ComputeScalar>(
        _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix?, _ context: LayerContext?, _ variant: BlockVariant,
        _ prefixOutputs: Bool, _: T.Type
    ) throws(ComputeError) -> LayerRun {
        let stack: ModelRecipe, positions: PositionConvention
        if context?.section == .encoder {
            guard let encoder = recipe.encoder, layer < encoder.layers else {
                throw ComputeError(.invalidInput, "the \(config.family) model has no encoder block \(layer)")
            }
            (stack, positions) = (encoder.recipe, self.prefix.encoderPositions)
        } else {
            (stack, positions) = (recipe, self.prefix.positions)
        }
        let block = try block(layer, of: stack, T.self)
        var contexts: [CrossContext<T>]?
        if recipe.encoder != nil, context?.section != .encoder {
            guard let context, let states = context.encoderStates, states.shape.rank == 3, states.shape[0] == mask.count,
                states.shape[2] == config.hiddenSize, context.encoderMask.count == mask.count,
                context.encoderMask.allSatisfy({ $0.count == states.shape[1] })
            else {
                throw ComputeError(
                    .invalidInput, "a decoder block of an encoder-decoder needs the encoder's final rows [B, S, d] and their mask",
                    tensor: "encoder.final")
            }
            contexts = try crossContexts(
                block, layer: layer, states: states, mask: context.encoderMask, prefix: context.crossPrefix)
        }
        var composed = block
        composed.causalTopLeft = variant == .causalTopLeft
        return try runLayer(composed, layer, rows, mask, prefix, variant, prefixOutputs, rule: stack.inputPositions, positions, contexts)
    }

    /// Each sequence's cross-attention keys and values from encoder rows `states` (`[B, S, d]`),
    /// after `prefix` if given.
    private func crossContexts<T: ComputeScalar>(
        _ block: ComposedBlock<T>, layer: Int, states: Tensor, mask: [[Bool]], prefix: LayerPrefix?
    ) throws(ComputeError) -> [CrossContext<T>] {
        let (batch, s, d) = (states.shape[0], states.shape[1], states.shape[2])
        let values = T.elements(of: states)
        let all = Matrix<T>(rows: batch * s, cols: d, values: values)
        guard let (keys, vals) = block.crossKeysValues(all) else {
            throw ComputeError(.unsupported, "block \(layer) of the \(config.family) decoder has no cross-attention")
        }
        var prefixKV: (keys: Matrix<T>, values: Matrix<T>)?
        switch prefix {
        case .kv(let key, let value)?: prefixKV = (PrefixStack.keyValueMatrix(key), PrefixStack.keyValueMatrix(value))
        case .hidden?:
            throw ComputeError(.unsupported, "a cross-attention prefix is keys and values: a hidden-form one has no rows to project")
        case nil: prefixKV = nil
        }
        return (0..<batch).map { b in
            var k = keys.rows((b * s)..<((b + 1) * s)), v = vals.rows((b * s)..<((b + 1) * s))
            var m = mask[b]
            if let prefixKV {
                k = prefixKV.keys.stacked(on: k)
                v = prefixKV.values.stacked(on: v)
                m = Array(repeating: true, count: prefixKV.keys.rows) + m
            }
            return CrossContext(keys: k, values: v, mask: m)
        }
    }

    private func runLayer<B: TransformerBlock>(
        _ block: B, _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix?,
        _ variant: BlockVariant, _ wantPrefixOutputs: Bool, rule: InputPositionRule, _ convention: PositionConvention,
        _ contexts: [CrossContext<B.Scalar>]?
    ) throws(ComputeError) -> LayerRun {
        typealias T = B.Scalar
        let (batch, n, d) = (rows.shape[0], rows.shape[1], rows.shape[2])
        let pn = prefix?.prefixLength ?? 0
        let values = T.elements(of: rows)
        let prefixPositions = Array(convention.prefixStart..<(convention.prefixStart + pn))
        let start = variant == .inputsAtZero || variant == .prefixIgnoredAtZero ? 0 : convention.inputStart
        var out: [T] = [], prefixOut: [T] = []
        for b in 0..<batch {
            let hbar = Matrix<T>(rows: n, cols: d, values: Array(values[(b * n * d)..<((b + 1) * n * d)]))
            let positions: [Int]
            if case .column = rule {
                positions = Array(start..<(start + n))
            } else {
                // Real tokens count up; learned positions (the padding-skipping rule) were added
                // before the first block, so inside a block only the order matters.
                var next = start
                positions = mask[b].map { real -> Int in
                    defer { if real { next += 1 } }
                    return real ? next : start
                }
            }
            let keyMask = Array(repeating: true, count: pn) + mask[b]
            let cross = contexts.map { [$0[b]] }
            func run(_ x: Matrix<T>, _ at: [Int], _ past: (keys: Matrix<T>, values: Matrix<T>)?, _ pastAt: [Int], _ keys: [Bool])
                -> Matrix<T>
            {
                block(batch: [x], positions: [at], past: [past], pastPositions: pastAt, keyMasks: [keys], cross: cross)[0]
            }
            let kept: Matrix<T>
            switch (variant, prefix) {
            case (.prefixIgnored, _), (.prefixIgnoredAtZero, _), (_, nil):
                kept = run(hbar, positions, nil, [], mask[b])
            case (_, let prefix?):
                var past: (keys: Matrix<T>, values: Matrix<T>)
                switch prefix {
                case .hidden(let p):
                    let rowsP = Matrix<T>(rows: pn, cols: d, values: T.elements(of: p))
                    if variant == .keptFirstN || (wantPrefixOutputs && variant == .correct) {
                        let y = run(rowsP.stacked(on: hbar), prefixPositions + positions, nil, [], keyMask)
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
                kept = run(hbar, positions, past, prefixPositions, keyMask)
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

    /// The same base weights with another prefix (another step of the same run).
    public func with(prefix other: PrefixSource) throws(ComputeError) -> PrefixStack {
        try PrefixStack(config: config, weights: weights, prefix: other)
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

    /// Whether the model is an encoder-decoder: the checkpoint's layers are its decoder's, and
    /// ``encoderLayers`` more blocks run first.
    public var isEncoderDecoder: Bool { recipe.encoder != nil }

    /// An encoder-decoder's encoder blocks (0 for a one-stack model).
    public var encoderLayers: Int { recipe.encoder?.layers ?? 0 }
}
