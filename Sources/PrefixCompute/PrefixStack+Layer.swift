public import PrefixCore

/// One layer's output for given input rows, as the verifier needs it.
public struct LayerRun: Sendable {
    /// The rows passed on, `[B, N, d]` (the first N with ``LayerComposition/KeptRows/first``).
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

/// How a teacher-forced step is composed: where the input rows' positions start, how the causal
/// mask lines up queries with the past keys, and which rows of the block's output go on. The
/// defaults are prefix-tuning's composition; the verifier sets the others to test what a reference
/// may have computed instead.
public struct LayerComposition: Sendable, Hashable {
    /// Which rows of a hidden prefix's `Pn + N` block outputs go on.
    public enum KeptRows: Sendable, Hashable {
        /// The last `N`: the input rows (a key/value prefix has no rows of its own, so always these).
        case last
        /// The first `N`.
        case first
    }

    /// The first input row's position: `nil` for the checkpoint's convention.
    public var inputStart: Int?
    /// The rows that go on.
    public var keptRows: KeptRows
    /// How the causal mask aligns queries with the past (prefix) keys.
    public var causalAlignment: CausalAlignment

    /// A composition; the defaults are prefix-tuning's.
    public init(inputStart: Int? = nil, keptRows: KeptRows = .last, causalAlignment: CausalAlignment = .afterPast) {
        self.inputStart = inputStart
        self.keptRows = keptRows
        self.causalAlignment = causalAlignment
    }

    /// Prefix-tuning's composition: the checkpoint's positions, the last `N` rows, the mask offset
    /// by the past.
    public static let prefixTuning = LayerComposition()
}

extension PrefixStack {
    /// Runs block `layer` teacher-forced: on the given input rows `Hbar^l` (`[B, N, d]`, any
    /// float dtype) with `prefix` as that layer's prefix, composed as `composition` says.
    ///
    /// - Parameters:
    ///   - layer: the block index `l`.
    ///   - rows: `Hbar^l`, `[B, N, d]`.
    ///   - mask: `B x N`, true for real tokens.
    ///   - prefix: the layer's prefix (hidden or key/value); `nil` for a block without one (an
    ///     encoder under PEFT's encoder-decoder layout).
    ///   - context: for an encoder-decoder, the stack and the cross-attention's input.
    ///   - composition: positions, mask alignment and kept rows (by default prefix-tuning's).
    ///   - prefixOutputs: also return the prefix rows' outputs (hidden prefix).
    ///   - type: the compute precision.
    /// - Returns: the rows passed on and, when asked, the prefix rows' outputs.
    /// - Throws: ``ComputeError`` `.invalidInput` for rows of the wrong width or a decoder block
    ///   without encoder rows, `.prefixShape`.
    public func runLayer<T: ComputeScalar>(
        _ layer: Int, rows: Tensor, mask: [[Bool]], prefix: LayerPrefix?, context: LayerContext? = nil,
        composition: LayerComposition = .prefixTuning, prefixOutputs: Bool = false, as type: T.Type
    ) throws(ComputeError) -> LayerRun {
        guard rows.shape.rank == 3, rows.shape[2] == config.hiddenSize, rows.shape[0] == mask.count,
            mask.allSatisfy({ $0.count == rows.shape[1] })
        else {
            throw ComputeError(
                .invalidInput, "layer input rows must be [B, N, d] with a B x N mask",
                tensor: layerLabel(layer, layerCount: config.numLayers),
                expected: "[\(mask.count), \(mask.first?.count ?? 0), \(config.hiddenSize)]", actual: "\(rows.shape)")
        }
        if T.self == Float.self { return try runLayerFamily(layer, rows, mask, prefix, context, composition, prefixOutputs, Float.self) }
        if T.self == Double.self {
            return try runLayerFamily(layer, rows, mask, prefix, context, composition, prefixOutputs, Double.self)
        }
        return try runLayerFamily(layer, rows, mask, prefix, context, composition, prefixOutputs, T.self)
    }

    private func runLayerFamily<T: ComputeScalar>(
        _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix?, _ context: LayerContext?,
        _ composition: LayerComposition, _ prefixOutputs: Bool, _: T.Type
    ) throws(ComputeError) -> LayerRun {
        let (stack, positions) = try section(of: layer, context)
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
            let (batch, s, d) = (states.shape[0], states.shape[1], states.shape[2])
            let values = T.elements(of: states)
            let load: (@Sendable (Int) throws -> LayerPrefix)? = context.crossPrefix.map { prefix in { @Sendable _ in prefix } }
            let source = CrossSource<T>(
                states: (0..<batch).map { b in Matrix(rows: s, cols: d, values: Array(values[(b * s * d)..<((b + 1) * s * d)])) },
                mask: context.encoderMask, load: load, layers: config.numLayers)
            contexts = try crossContexts(source, block: block, layer: layer)
        }
        return try runLayer(block, layer, rows, mask, prefix, composition, prefixOutputs, rule: stack.inputPositions, positions, contexts)
    }

    /// The recipe and position convention of the stack block `layer` belongs to.
    private func section(of layer: Int, _ context: LayerContext?) throws(ComputeError) -> (ModelRecipe, PositionConvention) {
        guard context?.section == .encoder else { return (recipe, prefix.positions) }
        guard let encoder = recipe.encoder, layer < encoder.layers else {
            throw ComputeError(.invalidInput, "the \(config.family) model has no encoder block \(layer)")
        }
        return (encoder.recipe, prefix.encoderPositions)
    }

    /// The keys and values block `layer` attends to for `prefix`: a hidden prefix projected by
    /// the block (norm, key/value maps, RoPE at the prefix positions) in precision `T`; a
    /// key/value prefix as it is. `[Hkv, Pn, hd]` each.
    ///
    /// - Throws: ``ComputeError`` for a block that cannot be loaded.
    public func prefixKeysValues<T: ComputeScalar>(
        _ prefix: LayerPrefix, layer: Int, context: LayerContext? = nil, as _: T.Type
    ) throws(ComputeError) -> (key: Tensor, value: Tensor) {
        switch prefix {
        case .kv(let key, let value):
            return (key, value)
        case .hidden(let p):
            let (stack, positions) = try section(of: layer, context)
            let block = try attentionInput(layer, of: stack, T.self)
            let rows = Matrix<T>(rows: p.shape[0], cols: config.hiddenSize, values: T.elements(of: p))
            let (k, v) = block.keysValues(rows, positions: Array(positions.prefixStart..<(positions.prefixStart + p.shape[0])))
            return (
                PrefixStack.keyValueTensor(k, heads: block.kvHeads, headDim: block.headDim),
                PrefixStack.keyValueTensor(v, heads: block.kvHeads, headDim: block.headDim)
            )
        }
    }

    /// Prefix keys `[Hkv, Pn, hd]` rotated back from the prefix positions of `context`'s stack
    /// (RoPE undone, computing in `T`; unchanged for a model without rotary positions), with the
    /// rotation of heads of `hd` (block `layer`'s own when its heads are another size).
    public func unrotatedPrefixKeys<T: ComputeScalar>(_ key: Tensor, context: LayerContext? = nil, as _: T.Type) -> Tensor {
        guard var rope, key.shape.rank == 3 else { return key }
        if rope.headDim != key.shape[2] { rope = rope.resized(headDim: key.shape[2]) }
        let positions = context?.section == .encoder ? prefix.encoderPositions : prefix.positions
        let pn = key.shape[1]
        var m: Matrix<T> = PrefixStack.keyValueMatrix(key)
        rope.undo(&m, heads: key.shape[0], positions: Array(positions.prefixStart..<(positions.prefixStart + pn)))
        return PrefixStack.keyValueTensor(m, heads: key.shape[0], headDim: key.shape[2])
    }

    private func runLayer<T: ComputeScalar>(
        _ block: ComposedBlock<T>, _ layer: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix?,
        _ composition: LayerComposition, _ wantPrefixOutputs: Bool, rule: InputPositionRule, _ convention: PositionConvention,
        _ contexts: [CrossContext<T>]?
    ) throws(ComputeError) -> LayerRun {
        let (batch, n, d) = (rows.shape[0], rows.shape[1], rows.shape[2])
        let pn = prefix?.prefixLength ?? 0
        let values = T.elements(of: rows)
        // Learned positions (the padding-skipping rule) were added before the first block: inside
        // a block only their order matters.
        let positions = Self.inputPositions(mask: mask, ids: nil, rule: rule, start: composition.inputStart ?? convention.inputStart)
        let step = run(
            block,
            LayerStep(
                rows: (0..<batch).map { b in Matrix<T>(rows: n, cols: d, values: Array(values[(b * n * d)..<((b + 1) * n * d)])) },
                positions: positions, mask: mask, prefix: prefix,
                prefixPositions: Array(convention.prefixStart..<(convention.prefixStart + pn)), cross: contexts,
                keptRows: composition.keptRows, alignment: composition.causalAlignment, prefixRows: wantPrefixOutputs))
        return LayerRun(
            output: T.tensor(step.kept.flatMap(\.values), shape: [batch, n, d]),
            prefixOutputs: wantPrefixOutputs ? step.prefixOutputs.map { T.tensor($0.flatMap(\.values), shape: [batch, pn, d]) } : nil)
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
