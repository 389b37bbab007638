/// The task a checkpoint was trained for, in HF PEFT's `task_type` spelling.
public struct TaskType: RawRepresentable, Sendable, Codable, Hashable, CustomStringConvertible {
    /// The PEFT spelling (`SEQ_CLS`).
    public var rawValue: String

    /// A task type from its PEFT spelling.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Next-token prediction with the LM head (decoders).
    public static let causalLM = TaskType(rawValue: "CAUSAL_LM")
    /// The last hidden state (and an encoder's pooler output); no head.
    public static let featureExtraction = TaskType(rawValue: "FEATURE_EXTRACTION")
    /// One label distribution per sequence, from a task head.
    public static let sequenceClassification = TaskType(rawValue: "SEQ_CLS")
    /// One label distribution per token, from a task head.
    public static let tokenClassification = TaskType(rawValue: "TOKEN_CLS")
    /// An encoder-decoder's next-token prediction on the decoder's rows, with the LM head.
    public static let seq2seqLM = TaskType(rawValue: "SEQ_2_SEQ_LM")

    /// Whether the task has a head the checkpoint carries.
    public var hasHead: Bool { self == .sequenceClassification || self == .tokenClassification }

    /// The PEFT spelling.
    public var description: String { rawValue }
}

/// A task head: the rows it reads and the maps it applies, as the family's Hugging Face class
/// computes them. Tensor names are canonical (as PEFT saves them, without `base_model.`).
public struct TaskHeadRecipe: Sendable, Hashable {
    /// Which rows of the encoder's output the head reads.
    public enum Input: Sendable, Hashable {
        /// The pooler's output (BERT: `tanh(dense(row 0))`).
        case pooler
        /// Row 0 of the last hidden state (RoBERTa's and ELECTRA's classification heads).
        case firstRow
        /// Every row (token classification).
        case everyRow
    }

    /// An activation between the head's maps.
    public enum Activation: String, Sendable, Hashable {
        case tanh, gelu, relu
    }

    /// One affine map and the activation after it, if any.
    public struct Step: Sendable, Hashable {
        /// The map.
        public var linear: LinearPart
        /// The activation applied to its output.
        public var activation: Activation?

        /// Creates a step.
        public init(_ linear: LinearPart, then activation: Activation? = nil) {
            self.linear = linear
            self.activation = activation
        }
    }

    /// The task.
    public var task: TaskType
    /// The rows read.
    public var input: Input
    /// The maps, in order; the last one gives the labels.
    public var steps: [Step]

    /// Creates a head recipe.
    public init(task: TaskType, input: Input, steps: [Step]) {
        self.task = task
        self.input = input
        self.steps = steps
    }

    /// The shape every encoder class's head takes: an optional `width -> width` map named
    /// `hidden.name` followed by its activation, then `output` (`width -> labels`), all biased.
    public static func classifier(
        _ task: TaskType, reading input: Input, width: Int, labels: Int, output: String = "classifier",
        through hidden: (name: String, activation: Activation)? = nil
    ) -> TaskHeadRecipe {
        var steps: [Step] = []
        if let hidden { steps.append(Step(LinearPart(hidden.name, inputs: width, outputs: width, bias: true), then: hidden.activation)) }
        steps.append(Step(LinearPart(output, inputs: width, outputs: labels, bias: true)))
        return TaskHeadRecipe(task: task, input: input, steps: steps)
    }

    /// Every tensor the head reads: canonical name -> shape.
    public var tensors: [(String, [Int])] { steps.flatMap(\.linear.tensors) }

    /// The number of labels.
    public var labels: Int { steps.last?.linear.outputs ?? 0 }

    /// Checks that `heads` are exactly the tensors this head reads, with their shapes.
    ///
    /// - Throws: ``ConfigError`` `.inconsistent` naming the first missing, unknown or mis-shaped tensor.
    public func check(_ head: [NamedTensor]) throws(ConfigError) {
        let expected = Dictionary(tensors, uniquingKeysWith: { a, _ in a })
        for item in head {
            guard let shape = expected[item.name] else {
                throw ConfigError(
                    .inconsistent,
                    "the \(task) head has no tensor '\(item.name)' (it reads \(tensors.map(\.0).joined(separator: ", ")))",
                    field: item.name)
            }
            guard item.tensor.shape.dimensions == shape, item.tensor.dtype.isFloatingPoint else {
                throw ConfigError(
                    .inconsistent, "head tensor '\(item.name)' is \(item.tensor.dtype) \(item.tensor.shape), expected a float \(shape)",
                    field: item.name)
            }
        }
        for (name, _) in tensors where !head.contains(where: { $0.name == name }) {
            throw ConfigError(.inconsistent, "the \(task) head lacks '\(name)'", field: name)
        }
    }
}

extension ModelArchitecture {
    /// The number of labels a head's tensors imply: the rows of the last map's weight among them.
    public static func labels(of head: [NamedTensor], finalWeight: String) -> Int? {
        head.first { $0.name == finalWeight }.flatMap { $0.tensor.shape.rank == 2 ? $0.tensor.shape[0] : nil }
    }
}
