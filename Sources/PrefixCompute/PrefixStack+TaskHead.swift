public import PrefixCore

extension PrefixStack {
    /// The checkpoint's task head, checked against its base's family: the recipe and its tensors
    /// by name; `nil` when the checkpoint carries none.
    ///
    /// - Throws: ``ComputeError`` `.source` when the head cannot be read, `.unsupported` when it
    ///   does not fit the family.
    public func taskHead() throws(ComputeError) -> (recipe: TaskHeadRecipe, tensors: [String: Tensor])? {
        let tensors: [NamedTensor]
        do { tensors = try prefix.head() } catch {
            throw ComputeError(.source, "cannot read the task head", underlying: "\(error)", cause: error)
        }
        guard !tensors.isEmpty else { return nil }
        guard let task = prefix.task, task.hasHead else {
            throw ComputeError(.unsupported, "the checkpoint holds a task head but no task with one (\(prefix.task?.rawValue ?? "none"))")
        }
        do {
            let recipe = try Architectures.named(config.family).checkedHead(task, config: config, tensors: tensors)
            return (recipe, Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }))
        } catch {
            throw ComputeError(.unsupported, error.message)
        }
    }

    /// Whether the base has a pooler (and so gives `pooler_output`).
    public var hasPooler: Bool { recipe.pooler.map { has($0.name + ".weight") } ?? false }

    /// Whether `forward` can give logits: the checkpoint carries a task head or the base has an
    /// LM head.
    public var computesLogits: Bool {
        recipe.headUse != .none || ((try? prefix.head())?.isEmpty == false)
    }

    /// The task head on the final rows: `[B, labels]` for a sequence classifier, `[B, N, labels]`
    /// for a token classifier.
    func taskLogits<T: ComputeScalar>(
        _ head: (recipe: TaskHeadRecipe, tensors: [String: Tensor]), finals: [Matrix<T>], pooled: Tensor?
    ) throws(ComputeError) -> Tensor {
        let d = config.hiddenSize, batch = finals.count, n = finals.first?.rows ?? 0
        var x: Matrix<T>
        switch head.recipe.input {
        case .pooler:
            guard let pooled else {
                throw ComputeError(
                    .missingWeight, "the \(head.recipe.task) head reads the pooler, which this base lacks", tensor: "pooler.dense.weight")
            }
            x = Matrix(rows: batch, cols: d, values: T.elements(of: pooled))
        case .firstRow:
            x = Matrix(rows: batch, cols: d, values: finals.flatMap { $0.rows(0..<1).values })
        case .everyRow:
            x = Matrix(rows: batch * n, cols: d, values: finals.flatMap(\.values))
        }
        for step in head.recipe.steps {
            let linear = try loading(config.numLayers) {
                try LoadedLinear<T>(step.linear) { name in
                    guard let tensor = head.tensors[name] else {
                        throw ComputeError(.missingWeight, "the task head lacks a tensor", tensor: name)
                    }
                    return tensor
                }
            }
            x = linear(x)
            switch step.activation {
            case .tanh?: for i in x.values.indices { x.values[i] = T.tanh(x.values[i]) }
            case .gelu?: x.values.withUnsafeMutableBufferPointer { T.activateInPlace(.gelu, $0) }
            case .relu?: x.values.withUnsafeMutableBufferPointer { T.activateInPlace(.relu, $0) }
            case nil: break
            }
        }
        let labels = head.recipe.labels
        return head.recipe.input == .everyRow ? T.tensor(x.values, shape: [batch, n, labels]) : T.tensor(x.values, shape: [batch, labels])
    }
}
