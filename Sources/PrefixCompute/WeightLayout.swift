import PrefixCore

/// The tensors an architecture needs: canonical names (without `transformer.` / `model.`
/// prefixes), their shapes, and the known non-parameter buffers that are skipped.
///
/// Matching a source's names against this layout refuses anything missing, mis-shaped or unknown
/// by name, and reports the buffers it skipped.
struct WeightLayout: Sendable {
    let recipe: ModelRecipe
    /// Canonical name -> expected shape, for every required tensor.
    private(set) var required: [String: [Int]] = [:]
    /// Canonical name -> expected shape, for tensors that may be absent.
    private(set) var optional: [String: [Int]] = [:]
    /// Canonical name -> the source's actual name, after ``bind(_:)``.
    private(set) var actualNames: [String: String] = [:]
    /// Source tensors skipped as known buffers (or an unused tied head).
    private(set) var skipped: [String] = []
    /// Source tensors the base keeps but the engine does not compute (an encoder's pre-training
    /// heads), matched by the recipe's ``PrefixCore/ModelRecipe/keptUnusedPrefixes``.
    private(set) var unused: [String] = []

    /// The layout of `config`'s model, as its family's recipe describes it.
    init(_ config: ModelConfig, recipe: ModelRecipe) {
        self.recipe = recipe
        for (name, shape) in recipe.outerTensors(vocabSize: config.vocabSize, width: config.hiddenSize, maxPositions: config.maxPositions) {
            required[name] = shape
        }
        if recipe.headUse != .none {
            for (name, shape) in recipe.head.tensors {
                if recipe.headUse == .required { required[name] = shape } else { optional[name] = shape }
            }
        }
        for (name, shape) in recipe.pooler?.tensors ?? [] { optional[name] = shape }
        for l in 0..<config.numLayers {
            for (name, shape) in recipe.layer(l).tensors { required[name] = shape }
        }
        if let encoder = recipe.encoder {
            for l in 0..<encoder.layers {
                for (name, shape) in encoder.recipe.layer(l).tensors { required[name] = shape }
            }
        }
        let tableWidth = recipe.embeddingWidth(modelWidth: config.hiddenSize)
        for name in recipe.tiedCopies { optional[name] = [config.vocabSize, tableWidth] }
    }

    /// The canonical form of a source name: the family's name prefixes (`transformer.`,
    /// `model.`) removed; the head's own name kept as it is.
    private func canonical(_ name: String) -> String {
        let head = recipe.head.name + ".weight"
        for prefix in recipe.namePrefixes where name.hasPrefix(prefix) && name != head {
            return String(name.dropFirst(prefix.count))
        }
        return name
    }

    /// Whether a canonical name is a known non-parameter buffer.
    private func isKnownBuffer(_ name: String) -> Bool {
        recipe.bufferSuffixes.contains { name.hasSuffix($0) } && required[name] == nil && optional[name] == nil
    }

    /// Matches the source's tensors against the layout.
    ///
    /// - Throws: ``ComputeError`` `.unknownWeight`, `.missingWeight` or `.weightShape`, naming
    ///   the tensor and the expected and actual shape.
    mutating func bind(_ infos: [String: TensorInfo]) throws(ComputeError) {
        for name in infos.keys.sorted() {
            guard let info = infos[name] else { continue }
            let key = canonical(name)
            if isKnownBuffer(key) {
                skipped.append(name)
                continue
            }
            if required[key] == nil, optional[key] == nil, recipe.keptUnusedPrefixes.contains(where: { key.hasPrefix($0) }) {
                unused.append(name)
                continue
            }
            guard let expected = required[key] ?? optional[key] else {
                throw ComputeError(.unknownWeight, "the \(recipe.family) architecture does not use this tensor", tensor: name)
            }
            guard info.shape == expected else {
                throw ComputeError(
                    .weightShape, "weight has the wrong shape", tensor: name,
                    expected: "\(expected)", actual: "\(info.shape)")
            }
            guard info.dtype.isFloatingPoint else {
                throw ComputeError(
                    .weightShape, "weight is not floating point", tensor: name, expected: "a float dtype", actual: info.dtype.rawValue)
            }
            if actualNames[key] != nil {
                throw ComputeError(.unknownWeight, "two tensors map to the same weight '\(key)'", tensor: name)
            }
            actualNames[key] = name
        }
        for key in required.keys.sorted() where actualNames[key] == nil {
            throw ComputeError(
                .missingWeight, "a weight the model needs is missing", tensor: key,
                expected: "\(required[key] ?? [])", actual: "nothing")
        }
        for copy in recipe.tiedCopies {
            // A per-stack copy of the token embedding: the embedding is what the engine reads.
            if let name = actualNames[copy] {
                skipped.append(name)
                actualNames[copy] = nil
            }
        }
        let headKey = recipe.head.name + ".weight"
        if recipe.headUse == .tied, let head = actualNames[headKey] {
            // A tied head equals the embedding; the embedding is what the engine reads.
            skipped.append(head)
            actualNames[headKey] = nil
        }
    }

    /// The source name of canonical weight `key`, if present.
    func name(_ key: String) -> String? { actualNames[key] }
}
