import PrefixCore

extension PrefixStack {
    /// Runs the stack on `input`, computing in `T` (`Float` over sgemm, `Double` as the reference).
    ///
    /// Hidden form: `H^l = rowcat(P^l, Hbar^l)`, causal over all `Pn + N` rows, keep the last `N`.
    /// Unless ``ForwardOptions/computePrefixRows`` is set, the prefix rows only go through the
    /// norm and key/value projections: their outputs are discarded, and causal attention means
    /// the kept rows depend on them only through those keys and values, so the kept rows are the
    /// same (to rounding) and about 11% of the work is saved. KV form: each block attends to the
    /// stored keys and values, then to its own rows.
    ///
    /// - Parameters:
    ///   - input: ids or embeddings, with the attention mask.
    ///   - type: the compute precision.
    ///   - options: prefix rows and logits.
    /// - Returns: every `H^l` and `Hbar^{l+1}`, the final output and optionally the logits.
    /// - Throws: ``ComputeError``: `.invalidInput` (dtype, width, token ids out of range),
    ///   `.positionsExceeded`, `.prefixShape`, `.source`.
    /// - Complexity: one pass over the weights, one layer resident at a time.
    public func forward<T: ComputeScalar>(_ input: ForwardInput, as type: T.Type, options: ForwardOptions = ForwardOptions())
        throws(ComputeError) -> ForwardResult
    {
        // Callers in other modules reach this generic entry unspecialized: hand over to concrete
        // instantiations so that every kernel below is compiled for Float or Double.
        if T.self == Float.self { return try forwardFamily(input, Float.self, options) }
        if T.self == Double.self { return try forwardFamily(input, Double.self, options) }
        return try forwardFamily(input, T.self, options)
    }

    /// Runs the layer loop specialised for `T`.
    private func forwardFamily<T: ComputeScalar>(_ input: ForwardInput, _: T.Type, _ options: ForwardOptions) throws(ComputeError)
        -> ForwardResult
    {
        try forwardLayers(input, options) { (stack: ModelRecipe, l: Int) throws(ComputeError) -> ComposedBlock<T> in
            try block(l, of: stack, T.self)
        }
    }

    private func forwardLayers<T: ComputeScalar>(
        _ input: ForwardInput, _ options: ForwardOptions,
        makeBlock: (ModelRecipe, Int) throws(ComputeError) -> ComposedBlock<T>
    ) throws(ComputeError) -> ForwardResult {
        let n = input.length, d = config.hiddenSize, pn = prefix.prefixLength
        let positions = prefix.positions
        try checkInput(input, recipe: recipe)
        var encoded: StackOutput<T>?
        var decoderInput = input
        if let encoder = recipe.encoder {
            // The encoder runs on the input, the decoder on its own ids, attending to the encoder's output.
            guard let decoderIDs = input.decoderIDs else {
                throw ComputeError(
                    .invalidInput, "an encoder-decoder needs decoder input ids besides the encoder's input", tensor: "decoder_input_ids")
            }
            let pass = StackPass(
                recipe: encoder.recipe, layers: encoder.layers, section: .encoder, prefixLength: prefix.encoderLayer == nil ? 0 : pn,
                positions: prefix.encoderPositions, load: prefix.encoderLayer, stored: encoder.layers)
            encoded = try runStack(pass, input, options, cross: nil, makeBlock: makeBlock)
            decoderInput = ForwardInput(decoderIDs: decoderIDs)
            try checkInput(decoderInput, recipe: recipe)
        }
        let stored = prefix.storedLayers ?? config.numLayers
        let layout = prefix.layout
        let pass = StackPass(
            recipe: recipe, layers: config.numLayers, section: recipe.encoder == nil ? nil : .decoder, prefixLength: pn,
            positions: positions, load: prefix.layer, stored: stored, layout: layout)
        let cross = encoded.map { CrossSource<T>(states: $0.finals, mask: input.mask, load: prefix.crossLayer, layers: config.numLayers) }
        let decoded = try runStack(pass, decoderInput, options, cross: cross, makeBlock: makeBlock)
        let finals = decoded.finals
        let pooled = try pool(finals)
        var logits: Tensor?
        if options.logits {
            // A checkpoint's task head, where it carries one; else the base's LM head.
            if let head = try taskHead() {
                logits = try taskLogits(head, finals: finals, pooled: pooled)
            } else {
                logits = try self.logits(finals)
            }
        }
        let rows = decoderInput.length
        var result = ForwardResult(
            form: prefix.form, prefixLength: pn, inputStart: positions.inputStart, dtype: T.dtype, mask: decoderInput.mask,
            layerInputs: decoded.layerInputs, layerOutputs: decoded.layerOutputs, prefixOutputs: decoded.prefixOutputs,
            final: T.tensor(finals.flatMap(\.values), shape: [finals.count, rows, d]), logits: logits,
            summaries: decoded.summaries, skippedWeights: skippedWeights, pooled: pooled, positionRule: recipe.inputPositions)
        if let encoded {
            result.encoder = EncoderResult(
                mask: input.mask, layerInputs: encoded.layerInputs, layerOutputs: encoded.layerOutputs,
                final: T.tensor(encoded.finals.flatMap(\.values), shape: [encoded.finals.count, n, d]), summaries: encoded.summaries,
                prefixed: prefix.encoderLayer != nil)
            result.decoderIDs = decoderInput.ids
            result.layout = layout
            result.storedLayers = stored
        }
        return result
    }

    /// Checks ids, embeddings and token types against the stack `recipe` describes.
    private func checkInput(_ input: ForwardInput, recipe: ModelRecipe) throws(ComputeError) {
        let embeddingWidth = recipe.embeddingWidth(modelWidth: config.hiddenSize)
        if let embeddings = input.embeddings, embeddings.shape[2] != embeddingWidth {
            throw ComputeError(
                .invalidInput, "embeddings have the wrong width", tensor: "inputs_embeds", expected: "[B, N, \(embeddingWidth)]",
                actual: "\(embeddings.shape)")
        }
        if let ids = input.ids, let bad = ids.joined().first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ComputeError(
                .invalidInput, "token id out of range", tensor: "input_ids", expected: "0 ..< \(config.vocabSize)", actual: "\(bad)")
        }
        if let ids = input.decoderIDs, let bad = ids.joined().first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ComputeError(
                .invalidInput, "token id out of range", tensor: "decoder_input_ids", expected: "0 ..< \(config.vocabSize)",
                actual: "\(bad)")
        }
        if let types = input.tokenTypes {
            let count = recipe.tokenTypes?.count ?? 1
            guard recipe.tokenTypes != nil || types.joined().allSatisfy({ $0 == 0 }) else {
                throw ComputeError(
                    .invalidInput, "the \(config.family) architecture has no token types", tensor: "token_type_ids", expected: "all 0")
            }
            if let bad = types.joined().first(where: { $0 < 0 || $0 >= count }) {
                throw ComputeError(
                    .invalidInput, "token type out of range", tensor: "token_type_ids", expected: "0 ..< \(count)", actual: "\(bad)")
            }
        }
    }

    /// Runs one stack (the model's, or an encoder-decoder's encoder or decoder) over `input`:
    /// embedding, every block with its prefix (and, for a decoder, its cross-attention), final norm.
    private func runStack<T: ComputeScalar>(
        _ pass: StackPass, _ input: ForwardInput, _ options: ForwardOptions, cross: CrossSource<T>?,
        makeBlock: (ModelRecipe, Int) throws(ComputeError) -> ComposedBlock<T>
    ) throws(ComputeError) -> StackOutput<T> {
        let batch = input.batch, n = input.length, d = config.hiddenSize, pn = pass.prefixLength
        let positions = pass.positions
        let lastPosition = max(positions.inputStart + n, positions.prefixStart + pn)
        guard lastPosition <= config.maxPositions else {
            throw ComputeError(
                .positionsExceeded, "Pn + N = \(pn) + \(n) needs positions up to \(lastPosition), beyond the model's maximum",
                expected: "<= \(config.maxPositions) positions", actual: "\(lastPosition)")
        }
        let inputPositions = Self.inputPositions(
            mask: input.mask, ids: input.ids, rule: pass.recipe.inputPositions, start: positions.inputStart)
        let prefixPositions = Array(positions.prefixStart..<(positions.prefixStart + pn))
        var states = try embed(input, inputPositions, recipe: pass.recipe, T.self)

        var output = StackOutput<T>()
        let computePrefixRows = options.computePrefixRows && prefix.form == .hidden && pn > 0
        for l in 0..<pass.layers {
            options.layerDone?(l, pass.layers)
            let block = try makeBlock(pass.recipe, l)
            var layerPrefix: LayerPrefix?
            if let load = pass.load {
                let stored = pass.layout.storedLayer(forBlock: l, stored: pass.stored)
                layerPrefix = try prefixLayer(stored, section: pass.section, count: pass.stored, load: load)
            }
            let contexts = try cross.map { cross throws(ComputeError) in try crossContexts(cross, block: block, layer: l) }
            // What block l reads: the prefix rows (hidden form) before each sequence's rows.
            var inputsRecord: [T] = []
            for b in 0..<batch {
                if case .hidden(let p)? = layerPrefix { inputsRecord += T.elements(of: p) }
                inputsRecord += states[b].values
            }
            let step = run(
                block,
                LayerStep(
                    rows: states, positions: inputPositions, mask: input.mask, prefix: layerPrefix, prefixPositions: prefixPositions,
                    cross: contexts, prefixRows: computePrefixRows))
            states = step.kept
            let prefixRecord = step.prefixOutputs?.flatMap(\.values) ?? []
            let form = layerPrefix?.form ?? prefix.form
            let rowsIn = form == .hidden && layerPrefix != nil ? pn + n : n
            output.layerInputs.append(T.tensor(inputsRecord, shape: [batch, rowsIn, d]))
            output.layerOutputs.append(T.tensor(states.flatMap(\.values), shape: [batch, n, d]))
            if computePrefixRows { output.prefixOutputs.append(T.tensor(prefixRecord, shape: [batch, pn, d])) }
            output.summaries.append(
                LayerSummary(
                    layer: l, rowsIn: rowsIn, prefixRows: layerPrefix == nil ? 0 : pn, rowsKept: n, form: form,
                    prefixRowsComputed: computePrefixRows))
        }
        output.finals = try states.map { state throws(ComputeError) in try finalNorm(state, recipe: pass.recipe, layers: pass.layers) }
        return output
    }

    /// Each sequence's cross-attention context for decoder block `layer`: the block's keys and
    /// values of the encoder's final rows (all sequences in one product), after the layer's
    /// cross-attention prefix if the checkpoint has one.
    func crossContexts<T: ComputeScalar>(_ cross: CrossSource<T>, block: ComposedBlock<T>, layer: Int) throws(ComputeError)
        -> [CrossContext<T>]
    {
        let stacked = cross.states.count == 1 ? cross.states[0] : Matrix(stacking: cross.states)
        guard let (keys, values) = block.crossKeysValues(stacked) else {
            throw ComputeError(.unsupported, "block \(layer) of the \(config.family) decoder has no cross-attention")
        }
        var prefixKV: (keys: Matrix<T>, values: Matrix<T>)?
        var crossPrefix: LayerPrefix?
        if let load = cross.load { crossPrefix = try prefixLayer(layer, section: .cross, count: cross.layers, load: load) }
        switch crossPrefix {
        case .kv(let key, let value):
            prefixKV = (PrefixStack.keyValueMatrix(key), PrefixStack.keyValueMatrix(value))
        case .hidden:
            throw ComputeError(.unsupported, "a cross-attention prefix is keys and values: a hidden-form one has no rows to project")
        case nil:
            prefixKV = nil
        }
        var start = 0
        return cross.states.enumerated().map { b, state in
            defer { start += state.rows }
            let range = start..<(start + state.rows)
            var k = cross.states.count == 1 ? keys : keys.rows(range), v = cross.states.count == 1 ? values : values.rows(range)
            var mask = cross.mask[b]
            if let prefixKV {
                k = prefixKV.keys.stacked(on: k)
                v = prefixKV.values.stacked(on: v)
                mask = Array(repeating: true, count: prefixKV.keys.rows) + mask
            }
            return CrossContext(keys: k, values: v, mask: mask)
        }
    }

    /// `Hbar^0`: token embeddings (plus learned positions, where the model has them).
    private func embed<T: ComputeScalar>(_ input: ForwardInput, _ positions: [[Int]], recipe: ModelRecipe, _: T.Type) throws(ComputeError)
        -> [Matrix<T>]
    {
        let d = config.hiddenSize
        var states: [Matrix<T>]
        if let ids = input.ids {
            let table = try load(recipe.tokenEmbedding, sparse: true)
            states = ids.map { PrefixStack.embeddingRows(table, $0) }
        } else if let embeddings = input.embeddings {
            let values = T.elements(of: embeddings)
            let n = embeddings.shape[1]
            states = (0..<embeddings.shape[0]).map { b in Matrix(rows: n, cols: d, values: Array(values[(b * n * d)..<((b + 1) * n * d)])) }
        } else {
            throw ComputeError(.invalidInput, "no inputs")
        }
        if let scale = recipe.embeddingScale, input.ids != nil || !recipe.embeddingScaleOnIDsOnly {
            // HF multiplies in the model's dtype: the factor is rounded to T first, as torch does.
            let factor = T(scale)
            for b in states.indices { states[b].scale(by: factor) }
        }
        if let tokenTypes = recipe.tokenTypes {
            let table = try load(tokenTypes.table, sparse: true)
            for b in states.indices {
                let types = input.tokenTypes?[b] ?? Array(repeating: 0, count: states[b].rows)
                states[b].add(PrefixStack.embeddingRows(table, types) as Matrix<T>)
            }
        }
        if case .learned(let name, let offset) = recipe.positions {
            let table = try load(name, sparse: true)
            for b in states.indices {
                let rows: Matrix<T> = PrefixStack.embeddingRows(table, positions[b].map { $0 + offset })
                states[b].add(rows)
            }
        }
        if let part = recipe.embeddingNorm {
            let norm = try loading(0) { try LoadedNorm<T>(part) { try load($0) } }
            states = states.map { norm($0) }
        }
        if let part = recipe.embeddingProjection {
            let projection = try loading(0) { try LoadedLinear<T>(part) { try load($0) } }
            states = states.map { projection($0) }
        }
        return states
    }

    /// The LM head on final rows: the head (or tied embedding) map, then the family's logit
    /// scale and soft cap.
    func logits<T: ComputeScalar>(_ finals: [Matrix<T>]) throws(ComputeError) -> Tensor {
        guard recipe.headUse != .none else {
            throw ComputeError(
                .unsupported, "the \(config.family) base has no LM head: logits come from a task head stored with the checkpoint")
        }
        let headKey = recipe.head.name + ".weight"
        let head = Weight<T>(try load(recipe.headUse == .tied || !has(headKey) ? recipe.tokenEmbedding : headKey))
        let bias: Weight<T>? = recipe.head.hasBias && has(recipe.head.name + ".bias") ? Weight(try load(recipe.head.name + ".bias")) : nil
        let rows = finals.first?.rows ?? 0, vocab = config.vocabSize
        let shape = try Self.shape([finals.count, rows, vocab], of: "logits")
        var finals = finals
        if let scale = recipe.headInputScale {
            // T5 v1.0 multiplies in the model's dtype: the factor is rounded to T first.
            let factor = T(scale)
            for b in finals.indices { finals[b].scale(by: factor) }
        }
        let logitBias: [T]? = try recipe.logitBias.map { name throws(ComputeError) in T.elements(of: try load(name)) }
        // The largest output of a forward (B x N x V): computed straight into the tensor's storage.
        return T.tensor(shape: shape) { out in
            for (b, final) in finals.enumerated() {
                let slice = UnsafeMutableBufferPointer(rebasing: out[(b * rows * vocab)..<((b + 1) * rows * vocab)])
                Linear.linear(final, head, bias, into: slice)
                if let logitBias {
                    for r in 0..<rows { for v in 0..<vocab { slice[r * vocab + v] += logitBias[v] } }
                }
            }
            if let scale = recipe.logitScale {
                let factor = T(scale)
                for i in out.indices { out[i] *= factor }
            }
            if let cap = recipe.logitSoftcap {
                let c = T(cap), inverse = T(1 / cap)
                for i in out.indices { out[i] = c * T.tanh(out[i] * inverse) }
            }
        }
    }

    private func finalNorm<T: ComputeScalar>(_ x: Matrix<T>, recipe: ModelRecipe, layers: Int) throws(ComputeError) -> Matrix<T> {
        guard let part = recipe.finalNorm else { return x }
        return try loading(layers) { try LoadedNorm<T>(part) { try load($0) } }(x)
    }

    /// The pooler's output `tanh(dense(final[0]))` per sequence, `[B, d]`, when the model has a
    /// pooler and its tensors are present.
    private func pool<T: ComputeScalar>(_ finals: [Matrix<T>]) throws(ComputeError) -> Tensor? {
        guard let part = recipe.pooler, has(part.name + ".weight") else { return nil }
        let dense = try loading(config.numLayers) { try LoadedLinear<T>(part) { try load($0) } }
        let first = Matrix<T>(rows: finals.count, cols: config.hiddenSize, values: finals.flatMap { $0.rows(0..<1).values })
        var pooled = dense(first)
        for i in pooled.values.indices { pooled.values[i] = T.tanh(pooled.values[i]) }
        return T.tensor(pooled.values, shape: [finals.count, config.hiddenSize])
    }
}

/// One stack's pass: its recipe and block count, which section its prefix is, and how each block's
/// prefix is loaded (`nil`: the stack has no prefix, as PEFT's encoders of encoder-decoders):
/// block `l` reads stored layer `layout.storedLayer(forBlock: l, stored:)` of `stored`.
struct StackPass {
    var recipe: ModelRecipe
    var layers: Int
    var section: PrefixSection?
    var prefixLength: Int
    var positions: PositionConvention
    var load: (@Sendable (Int) throws -> LayerPrefix)?
    var stored: Int
    var layout: PrefixLayout = .direct
}

/// What a decoder's cross-attention reads: the encoder's final rows and mask per sequence, and
/// each block's cross-attention prefix if the checkpoint has one.
struct CrossSource<T: ComputeScalar> {
    var states: [Matrix<T>]
    var mask: [[Bool]]
    var load: (@Sendable (Int) throws -> LayerPrefix)?
    var layers: Int
}

/// What one stack computed.
struct StackOutput<T: ComputeScalar> {
    var layerInputs: [Tensor] = [], layerOutputs: [Tensor] = [], prefixOutputs: [Tensor] = []
    var summaries: [LayerSummary] = []
    var finals: [Matrix<T>] = []
}

extension PrefixStack {
    /// The shape `dims` of the tensor `what` this computes.
    ///
    /// - Throws: ``ComputeError`` `.invalidInput` for dimensions no tensor can have (inputs so
    ///   large their product overflows).
    static func shape(_ dims: [Int], of what: String) throws(ComputeError) -> Shape {
        do { return try Shape(dims) } catch {
            throw ComputeError(.invalidInput, "the \(what) would be \(dims): \(error.message)")
        }
    }
}
