public import PrefixCore

/// How the stack obtains the checkpoint's prefix: its form, length, position convention, and a
/// loader for one layer at a time.
public struct PrefixSource: Sendable {
    /// The prefix form.
    public var form: PrefixForm
    /// `Pn`.
    public var prefixLength: Int
    /// Where prefix and input rows sit.
    public var positions: PositionConvention
    /// Loads layer `l`'s prefix.
    public var layer: @Sendable (Int) throws -> LayerPrefix
    /// The task it was trained for, if known.
    public var task: TaskType?
    /// Loads the task head's tensors (empty when there is none).
    public var head: @Sendable () throws -> [NamedTensor] = { [] }
    /// Which stored layers reach which decoder blocks.
    public var layout: PrefixLayout = .direct
    /// The number of stored decoder-section layers (the blocks' count unless a PEFT
    /// encoder-decoder layout, whose `L` may differ).
    public var storedLayers: Int?
    /// Loads encoder layer `l`'s prefix, when the checkpoint has an encoder section.
    public var encoderLayer: (@Sendable (Int) throws -> LayerPrefix)?
    /// Loads decoder block `l`'s cross-attention prefix, when the checkpoint has a cross section.
    public var crossLayer: (@Sendable (Int) throws -> LayerPrefix)?
    /// Where the encoder's prefix and input rows sit.
    public var encoderPositions = PositionConvention(prefixStart: 0, inputStart: 0)

    /// Creates a source.
    public init(form: PrefixForm, prefixLength: Int, positions: PositionConvention, layer: @escaping @Sendable (Int) throws -> LayerPrefix)
    {
        self.form = form
        self.prefixLength = prefixLength
        self.positions = positions
        self.layer = layer
    }

    /// A source over content held in memory.
    public init(_ content: CheckpointContent) {
        let layers = content.layers, head = content.head
        self.init(form: content.form, prefixLength: content.prefixLength, positions: content.positions) { l in
            guard layers.indices.contains(l) else { throw ComputeError(.prefixShape, "no prefix for layer \(l)") }
            return layers[l]
        }
        task = content.task
        self.head = { head }
        layout = content.layout
        storedLayers = layers.count
        encoderPositions = content.encoderPositions
        func loader(_ layers: [LayerPrefix], _ section: PrefixSection) -> (@Sendable (Int) throws -> LayerPrefix)? {
            guard !layers.isEmpty else { return nil }
            return { l in
                guard layers.indices.contains(l) else { throw ComputeError(.prefixShape, "no \(section) prefix for layer \(l)") }
                return layers[l]
            }
        }
        encoderLayer = loader(content.encoderLayers, .encoder)
        crossLayer = loader(content.crossLayers, .cross)
    }
}

/// The multi-layer prefix-tuned stack of a base model and a checkpoint's prefix.
///
/// Composes, exactly as prefix-tuning defines it,
/// `H^l = [P^l ; Hbar^l]`, `Hbar^{l+1} = Block_l(H^l)[Pn ..< Pn+N]`, then the final norm; in KV
/// form every block attends to the stored `K^l`, `V^l` before its own rows. Weights stream from
/// the source one layer at a time, so memory holds about one layer plus the activations.
///
/// ```swift
/// let stack = try PrefixStack(config: config, weights: InMemoryTensors(base.tensors), prefix: PrefixSource(content))
/// let result = try stack.forward(try ForwardInput(ids: ids), as: Float.self)
/// print(result.summaries[3])   // layer 3: 148 rows in -> kept last 128 ...
/// ```
public final class PrefixStack: Sendable {
    /// The model configuration.
    public let config: ModelConfig
    /// The prefix.
    public let prefix: PrefixSource
    /// Source tensors skipped as known buffers or a tied head.
    public var skippedWeights: [String] { layout.skipped }
    let weights: any TensorSource
    let layout: WeightLayout
    /// The family's recipe: what every block is composed of.
    let recipe: ModelRecipe
    /// The rotary embedding, when the model rotates queries and keys.
    let rope: RotaryEmbedding?

    /// Binds a model's weights and a prefix, checking every name and shape up front.
    ///
    /// - Throws: ``ComputeError``: `.unsupported` for config features the engine does not
    ///   compute, `.unknownWeight`, `.missingWeight`, `.weightShape` naming the tensor, `.source`
    ///   when the source cannot list its tensors.
    public init(config: ModelConfig, weights: any TensorSource, prefix: PrefixSource) throws(ComputeError) {
        let recipe = try Self.recipe(config)
        guard prefix.prefixLength > 0 else { throw ComputeError(.prefixShape, "prefix length must be positive") }
        var layout = WeightLayout(config, recipe: recipe)
        let infos: [String: TensorInfo]
        do { infos = try weights.tensorInfos() } catch {
            throw ComputeError(.source, "cannot list the model's tensors", underlying: "\(error)", cause: error)
        }
        try layout.bind(infos)
        self.config = config
        self.weights = weights
        self.prefix = prefix
        self.layout = layout
        self.recipe = recipe
        if case .rotary(let rotary) = recipe.positions {
            rope = RotaryEmbedding(headDim: recipe.headDim, recipe: rotary)
        } else {
            rope = nil
        }
    }

    /// `config`'s checked recipe.
    private static func recipe(_ config: ModelConfig) throws(ComputeError) -> ModelRecipe {
        do { try config.validate() } catch { throw ComputeError(.unsupported, error.description) }
        do { return try Architectures.recipe(for: config) } catch { throw ComputeError(.unsupported, error.message) }
    }

    /// Checks that tensors named and shaped as in `infos` are exactly what `config`'s
    /// architecture needs, without reading any bytes.
    ///
    /// - Returns: the tensors that would be skipped (known buffers, a tied head).
    /// - Throws: ``ComputeError`` `.unknownWeight`, `.missingWeight`, `.weightShape`.
    public static func checkWeights(config: ModelConfig, infos: [String: TensorInfo]) throws(ComputeError) -> [String] {
        var layout = WeightLayout(config, recipe: try recipe(config))
        try layout.bind(infos)
        return layout.skipped
    }

    /// Loads canonical weight `key` (`sparse`: only a few rows will be read).
    func load(_ key: String, sparse: Bool = false) throws(ComputeError) -> Tensor {
        guard let name = layout.name(key) else { throw ComputeError(.missingWeight, "weight is missing", tensor: key) }
        do { return sparse ? try weights.loadSparse(name) : try weights.load(name) } catch let error as ComputeError { throw error } catch {
            throw ComputeError(.source, "cannot read weight", tensor: name, underlying: "\(error)", cause: error)
        }
    }

    func has(_ key: String) -> Bool { layout.name(key) != nil }

    /// Runs a block loader, mapping its failures to ``ComputeError``.
    func loading<B>(_ layer: Int, _ body: () throws -> B) throws(ComputeError) -> B {
        do {
            return try body()
        } catch let error as ComputeError {
            throw error
        } catch {
            throw ComputeError(.source, "cannot read layer \(layer)", underlying: "\(error)", cause: error)
        }
    }

    /// Loads block `layer` in precision `T`.
    func block<T: ComputeScalar>(_ layer: Int, _: T.Type) throws(ComputeError) -> ComposedBlock<T> {
        try block(layer, of: recipe, T.self)
    }

    /// Loads block `layer` of the stack `stack` describes (the model's, or its encoder's) in precision `T`.
    func block<T: ComputeScalar>(_ layer: Int, of stack: ModelRecipe, _: T.Type) throws(ComputeError) -> ComposedBlock<T> {
        try loading(layer) { try ComposedBlock<T>(stack.layer(layer), model: stack, rope: rope) { try load($0) } }
    }

    /// Loads only what block `layer` of `stack` makes its queries, keys and values with, in
    /// precision `T` (a key/value conversion needs no more).
    func attentionInput<T: ComputeScalar>(_ layer: Int, of stack: ModelRecipe, _: T.Type) throws(ComputeError) -> AttentionInput<T> {
        try loading(layer) { try AttentionInput<T>(stack.layer(layer), model: stack, rope: rope) { try load($0) } }
    }

    /// Loads and checks layer `l`'s prefix.
    func prefixLayer(_ l: Int) throws(ComputeError) -> LayerPrefix {
        try prefixLayer(l, section: nil, count: config.numLayers, load: prefix.layer)
    }

    /// Loads and checks layer `l` of `count` with `load`, labelled by its section (`nil`: unsectioned).
    func prefixLayer(_ l: Int, section: PrefixSection?, count: Int, load: (Int) throws -> LayerPrefix) throws(ComputeError) -> LayerPrefix {
        let label = (section.map { $0.rawValue + "." } ?? "") + layerLabel(l, layerCount: count)
        let layer: LayerPrefix
        do { layer = try load(l) } catch let error as ComputeError { throw error } catch {
            throw ComputeError(.source, "cannot read the prefix of \(label)", underlying: "\(error)", cause: error)
        }
        let pn = prefix.prefixLength
        guard layer.form == prefix.form else {
            throw ComputeError(.prefixShape, "prefix is in \(layer.form) form, expected \(prefix.form)", tensor: label)
        }
        var expected = config.prefixShape(layer.form, prefixLength: pn)
        // A block with heads of its own takes keys and values of its own shape.
        if layer.form == .kv, section == nil, let own = recipe.layer(l).shape { expected = [own.kvHeads, pn, own.headDim] }
        for part in layer.parts {
            let name = part.suffix.isEmpty ? label : "\(label).\(part.suffix)"
            guard part.tensor.shape.dimensions == expected else {
                throw ComputeError(
                    .prefixShape, "prefix has the wrong shape", tensor: name, expected: "\(expected)", actual: "\(part.tensor.shape)")
            }
            guard part.tensor.dtype.isFloatingPoint else {
                throw ComputeError(
                    .prefixShape, "prefix is not floating point", tensor: name, expected: "a float dtype",
                    actual: part.tensor.dtype.rawValue)
            }
        }
        return layer
    }
}

extension PrefixStack {
    /// `[Hkv, Pn, hd]` -> `[Pn, Hkv*hd]`.
    static func keyValueMatrix<T: ComputeScalar>(_ tensor: Tensor) -> Matrix<T> {
        let (heads, pn, hd) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
        let values = T.elements(of: tensor)
        var out = Matrix<T>(zeros: pn, heads * hd)
        for h in 0..<heads {
            for p in 0..<pn { for e in 0..<hd { out.values[p * heads * hd + h * hd + e] = values[(h * pn + p) * hd + e] } }
        }
        return out
    }

    /// `[Pn, Hkv*hd]` -> `[Hkv, Pn, hd]`.
    static func keyValueTensor<T: ComputeScalar>(_ m: Matrix<T>, heads: Int, headDim: Int) -> Tensor {
        let pn = m.rows
        var values = [T](repeating: 0, count: m.values.count)
        for h in 0..<heads {
            for p in 0..<pn {
                for e in 0..<headDim { values[(h * pn + p) * headDim + e] = m.values[p * heads * headDim + h * headDim + e] }
            }
        }
        return T.tensor(values, shape: [heads, pn, headDim])
    }

    /// Rows `indices` of an embedding table `[V, d]` (only those rows are read).
    static func embeddingRows<T: ComputeScalar>(_ table: Tensor, _ indices: [Int]) -> Matrix<T> {
        let d = table.shape[1]
        var out = Matrix<T>(zeros: indices.count, d)
        table.withUnsafeBytes { raw in
            for (r, index) in indices.enumerated() {
                let row = try? Tensor(
                    dtype: table.dtype, shape: Shape([d]),
                    bytes: UnsafeRawBufferPointer(
                        rebasing: raw[(index * d * table.dtype.byteWidth)..<((index + 1) * d * table.dtype.byteWidth)]))
                if let row { for (c, value) in T.elements(of: row).enumerated() { out.values[r * d + c] = value } }
            }
        }
        return out
    }
}
