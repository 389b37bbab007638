/// A model's computation as choices along the axes every family picks from (mask, positions,
/// q/k/v layout, norm, residual, MLP, embedding and head), with the tensors each part reads.
///
/// A family's description builds one from a ``ModelConfig``; the engine composes its blocks from
/// shared parts as the recipe says and never asks which family it runs. Weight names are
/// canonical: without the `transformer.` / `model.` prefixes of the checkpoint's own names.
public struct ModelRecipe: Sendable {
    /// The family it was built for (for messages).
    public var family: ArchitectureFamily
    /// `H`, `Hkv`, `hd` of the attention.
    public var heads: Int, kvHeads: Int, headDim: Int
    /// The token embedding table `[V, d]`.
    public var tokenEmbedding: String
    /// How positions enter the model.
    public var positions: PositionRecipe
    /// Block `l`'s parts.
    public var layer: @Sendable (Int) -> LayerRecipe
    /// The norm after the last block.
    public var finalNorm: NormPart
    /// The LM head `[V, d]`.
    public var head: LinearPart
    /// Whether the head is its own tensor, and whether it must be present.
    public var headUse: HeadUse
    /// Prefixes of the checkpoint's names that are removed to get canonical names.
    public var namePrefixes: [String]
    /// Canonical-name suffixes of non-parameter buffers, skipped on import.
    public var bufferSuffixes: [String]

    /// Creates a recipe.
    public init(
        family: ArchitectureFamily, heads: Int, kvHeads: Int, headDim: Int, tokenEmbedding: String,
        positions: PositionRecipe, layer: @escaping @Sendable (Int) -> LayerRecipe, finalNorm: NormPart,
        head: LinearPart, headUse: HeadUse, namePrefixes: [String], bufferSuffixes: [String]
    ) {
        self.family = family
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.tokenEmbedding = tokenEmbedding
        self.positions = positions
        self.layer = layer
        self.finalNorm = finalNorm
        self.head = head
        self.headUse = headUse
        self.namePrefixes = namePrefixes
        self.bufferSuffixes = bufferSuffixes
    }

    /// Whether blocks rotate keys by position, so that un-rotated prefix keys are a possible bug.
    public var rotatesKeys: Bool {
        if case .rotary = positions { return true }
        return false
    }
}

/// How the LM head relates to the token embedding.
public enum HeadUse: Sendable, Hashable {
    /// The head is the embedding: a head tensor that is present anyway is skipped.
    case tied
    /// The head is its own tensor, which must be present.
    case required
    /// The head is its own tensor if present, else the embedding.
    case optional
}

/// How positions enter the model.
public enum PositionRecipe: Sendable, Hashable {
    /// A learned table `[positions, d]` added to the token embeddings once; row `p + offset`
    /// holds position `p`.
    case learned(table: String, offset: Int)
    /// Rotary embeddings applied to queries and keys inside every block.
    case rotary(RotaryRecipe)
}

/// Rotary position embeddings.
public struct RotaryRecipe: Sendable, Hashable {
    /// The base frequency.
    public var theta: Double
    /// Positions are divided by this factor (linear scaling; 1 for none).
    public var linearFactor: Double

    /// Creates a rotary recipe.
    public init(theta: Double, linearFactor: Double) {
        self.theta = theta
        self.linearFactor = linearFactor
    }
}

/// How a linear map's weight is stored.
public enum WeightOrientation: String, Sendable, Hashable {
    /// `[out, in]`, applied as `x · Wᵀ` (torch `Linear`).
    case outIn
    /// `[in, out]`, applied as `x · W` (GPT-2's `Conv1D`).
    case inOut
}

/// One affine map `in -> out`: `NAME.weight` and, when it has one, `NAME.bias`.
public struct LinearPart: Sendable, Hashable {
    /// The canonical name without `.weight` / `.bias`.
    public var name: String
    /// Input and output widths.
    public var inputs: Int, outputs: Int
    /// How the weight is stored.
    public var orientation: WeightOrientation
    /// Whether `NAME.bias [out]` exists.
    public var hasBias: Bool

    /// Creates a part.
    public init(_ name: String, inputs: Int, outputs: Int, orientation: WeightOrientation = .outIn, bias: Bool) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.orientation = orientation
        self.hasBias = bias
    }

    /// The weight's stored shape.
    public var weightShape: [Int] { orientation == .outIn ? [outputs, inputs] : [inputs, outputs] }

    /// The tensors it reads: name -> shape.
    public var tensors: [(String, [Int])] {
        [(name + ".weight", weightShape)] + (hasBias ? [(name + ".bias", [outputs])] : [])
    }
}

/// How a block normalises its input.
public enum NormKind: String, Sendable, Codable, Hashable {
    /// `(x - mean) / sqrt(var + eps) * w (+ b)`.
    case layerNorm = "layernorm"
    /// `x / sqrt(mean(x²) + eps) * w`.
    case rmsNorm = "rmsnorm"
}

/// One normalisation: `NAME.weight [width]` and, for a LayerNorm with a bias, `NAME.bias`.
public struct NormPart: Sendable, Hashable {
    /// The canonical name without `.weight`.
    public var name: String
    /// The kind.
    public var kind: NormKind
    /// The normalised width.
    public var width: Int
    /// Whether `NAME.bias` exists.
    public var hasBias: Bool
    /// The epsilon.
    public var eps: Double

    /// Creates a part.
    public init(_ name: String, kind: NormKind, width: Int, bias: Bool, eps: Double) {
        self.name = name
        self.kind = kind
        self.width = width
        self.hasBias = bias
        self.eps = eps
    }

    /// The tensors it reads: name -> shape.
    public var tensors: [(String, [Int])] {
        [(name + ".weight", [width])] + (hasBias ? [(name + ".bias", [width])] : [])
    }
}

/// How queries, keys and values are projected.
public enum QKVPart: Sendable, Hashable {
    /// Three maps.
    case separate(q: LinearPart, k: LinearPart, v: LinearPart)
    /// One map whose output columns are `[q | k | v]` (`H*hd`, `Hkv*hd`, `Hkv*hd` wide).
    case fused(LinearPart)

    /// The parts it reads.
    public var parts: [LinearPart] {
        switch self {
        case .separate(let q, let k, let v): [q, k, v]
        case .fused(let qkv): [qkv]
        }
    }
}

/// An elementwise activation, in the spellings Hugging Face configs use for it.
public enum Activation: String, Sendable, Hashable {
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
    /// SiLU / swish.
    case silu
}

/// The feed-forward part.
public enum MLPPart: Sendable, Hashable {
    /// `down(act(up(x)))`.
    case plain(up: LinearPart, down: LinearPart, activation: Activation)
    /// `down(act(gate(x)) ⊙ up(x))`.
    case gated(gate: LinearPart, up: LinearPart, down: LinearPart, activation: Activation)

    /// The parts it reads.
    public var parts: [LinearPart] {
        switch self {
        case .plain(let up, let down, _): [up, down]
        case .gated(let gate, let up, let down, _): [gate, up, down]
        }
    }
}

/// One block: pre-norm attention with a residual, then pre-norm MLP with a residual.
public struct LayerRecipe: Sendable, Hashable {
    /// The norm before attention.
    public var inputNorm: NormPart
    /// The q/k/v projection.
    public var qkv: QKVPart
    /// The attention output projection.
    public var output: LinearPart
    /// The norm before the MLP.
    public var postNorm: NormPart
    /// The MLP.
    public var mlp: MLPPart

    /// Creates a block recipe.
    public init(inputNorm: NormPart, qkv: QKVPart, output: LinearPart, postNorm: NormPart, mlp: MLPPart) {
        self.inputNorm = inputNorm
        self.qkv = qkv
        self.output = output
        self.postNorm = postNorm
        self.mlp = mlp
    }

    /// Every tensor the block reads: canonical name -> shape.
    public var tensors: [(String, [Int])] {
        inputNorm.tensors + (qkv.parts + [output]).flatMap(\.tensors) + postNorm.tensors + mlp.parts.flatMap(\.tensors)
    }
}
