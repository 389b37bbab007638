/// A base model's weights, as a store saves and loads them.
public struct BaseWeights: Sendable {
    /// The compute-relevant configuration.
    public var config: ModelConfig
    /// The original `config.json` text, kept verbatim.
    public var configJSON: String
    /// The tensors, by Hugging Face name.
    public var tensors: [NamedTensor]

    /// Creates a base weight set.
    public init(config: ModelConfig, configJSON: String, tensors: [NamedTensor]) {
        self.config = config
        self.configJSON = configJSON
        self.tensors = tensors
    }
}

/// One layer's prefix.
public enum LayerPrefix: Sendable, Equatable {
    /// `P^l`, shape `[Pn, d]`.
    case hidden(Tensor)
    /// `K^l` and `V^l`, each of shape `[Hkv, Pn, hd]`.
    case kv(key: Tensor, value: Tensor)

    /// The prefix form this layer is in.
    public var form: PrefixForm {
        switch self {
        case .hidden: .hidden
        case .kv: .kv
        }
    }

    /// The layer's tensors with their names relative to the layer (`""`, `key`, `value`).
    public var parts: [(suffix: String, tensor: Tensor)] {
        switch self {
        case .hidden(let p): [("", p)]
        case .kv(let k, let v): [("key", k), ("value", v)]
        }
    }

    /// `Pn` as the tensors' shape says: rows of a hidden prefix, the middle axis of a key
    /// (0 for a key that is not rank 3).
    public var prefixLength: Int {
        switch self {
        case .hidden(let p): p.shape.dimensions.first ?? 0
        case .kv(let k, _): k.shape.rank == 3 ? k.shape[1] : 0
        }
    }
}

/// Everything a checkpoint holds besides its identity: the per-layer prefix, its form and
/// length, the position convention, and optionally the reparameterisation MLP and a probe.
public struct CheckpointContent: Sendable, Equatable {
    /// The prefix form (every layer must be in it).
    public var form: PrefixForm
    /// `Pn`, the number of prefix rows.
    public var prefixLength: Int
    /// Where prefix and input rows sit in the position sequence.
    public var positions: PositionConvention
    /// One prefix per layer, layer 0 first.
    public var layers: [LayerPrefix]
    /// The reparameterisation MLP (`embedding.weight`, `transform.0.weight`, ...), if stored.
    public var mlp: [NamedTensor]
    /// Reference inputs and activations under exchange-format keys, if stored.
    public var probe: [NamedTensor]
    /// The probe's `meta` JSON, if any.
    public var probeMeta: String?
    /// The task it was trained for (PEFT's `task_type`), if known.
    public var task: TaskType?
    /// The task head's tensors (`classifier.weight`, ...), for tasks that have one.
    public var head: [NamedTensor]
    /// Which stored layers reach which blocks (``PrefixLayout/direct`` unless a PEFT
    /// encoder-decoder adapter).
    public var layout: PrefixLayout = .direct
    /// The encoder section's layers, one per encoder block (the paper's layout; empty otherwise).
    public var encoderLayers: [LayerPrefix] = []
    /// The cross-attention section's layers, one per decoder block (the paper's layout; empty
    /// otherwise).
    public var crossLayers: [LayerPrefix] = []
    /// Where the encoder's prefix and input rows sit (inputs from 0 unless the checkpoint says).
    public var encoderPositions = PositionConvention(prefixStart: 0, inputStart: 0)

    /// The layers of `section` (``layers`` for the decoder).
    public func layers(_ section: PrefixSection) -> [LayerPrefix] {
        switch section {
        case .encoder: encoderLayers
        case .decoder: layers
        case .cross: crossLayers
        }
    }

    /// Whether the checkpoint names its sections (an encoder-decoder's: a PEFT layout or
    /// encoder or cross layers); a decoder's or an encoder's one section keeps its plain names.
    public var hasSections: Bool { layout != .direct || !encoderLayers.isEmpty || !crossLayers.isEmpty }

    /// Creates checkpoint content; positions default to HF/PEFT's convention.
    public init(
        form: PrefixForm, prefixLength: Int, positions: PositionConvention? = nil,
        layers: [LayerPrefix], mlp: [NamedTensor] = [], probe: [NamedTensor] = [], probeMeta: String? = nil,
        task: TaskType? = nil, head: [NamedTensor] = []
    ) {
        self.task = task
        self.head = head
        self.form = form
        self.prefixLength = prefixLength
        self.positions = positions ?? .standard(prefixLength: prefixLength)
        self.layers = layers
        self.mlp = mlp
        self.probe = probe
        self.probeMeta = probeMeta
    }
}
