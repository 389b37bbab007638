import Foundation

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

    /// Block `layer`'s heads and head size: its own (``LayerRecipe/shape``), else the model's.
    public func attentionShape(ofLayer layer: Int) -> AttentionShape {
        self.layer(layer).shape ?? AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim)
    }
    /// The token embedding table `[V, d]`.
    public var tokenEmbedding: String
    /// How positions enter the model.
    public var positions: PositionRecipe
    /// Multiplies the token embeddings (Gemma `sqrt(d)`, Granite `embedding_multiplier`), if set.
    public var embeddingScale: Double?
    /// Whether the scale applies only to embeddings looked up from ids (Gemma's scaled embedding
    /// module), not to `inputs_embeds` the caller gives (Granite scales both).
    public var embeddingScaleOnIDsOnly = false
    /// A norm on the embeddings before the first block (BLOOM), if set.
    public var embeddingNorm: NormPart?
    /// Block `l`'s parts.
    public var layer: @Sendable (Int) -> LayerRecipe
    /// The norm after the last block (`nil` for post-LN encoders, whose blocks end in a norm).
    public var finalNorm: NormPart?
    /// Which positions the input rows take (decoders count real tokens; encoders follow the
    /// column or skip padding ids).
    public var inputPositions: InputPositionRule = .realTokens
    /// A token-type table `[count, width]` added to the embeddings (BERT's segment embedding):
    /// row 0 unless the input says otherwise.
    public var tokenTypes: (table: String, count: Int)?
    /// The width of the embedding tables when it differs from the model width (ELECTRA's
    /// `embedding_size`), with the map from it to the model width applied after the embedding norm.
    public var embeddingProjection: LinearPart?
    /// The pooler of an encoder: `tanh(dense(row 0))` of the last hidden state (BERT), if the
    /// model has one; its tensors may be absent (models saved without a pooling layer).
    public var pooler: LinearPart?
    /// Canonical-name prefixes of tensors the base keeps and exports but the engine does not
    /// compute (an encoder's pre-training heads, a task head saved in the base).
    public var keptUnusedPrefixes: [String] = []
    /// The LM head `[V, d]`.
    public var head: LinearPart
    /// Whether the head is its own tensor, and whether it must be present.
    public var headUse: HeadUse
    /// Multiplies the logits (Granite: `1 / logits_scaling`), if set.
    public var logitScale: Double?
    /// `softcap * tanh(logits / softcap)`, if set (Gemma2).
    public var logitSoftcap: Double?
    /// Multiplies the final rows before the LM head (T5 v1.0: `d_model^-0.5`), if set.
    public var headInputScale: Double?
    /// A tensor `[1, V]` added to the logits (BART's `final_logits_bias`), if set.
    public var logitBias: String?
    /// Canonical names of tensors a checkpoint may hold as copies of the token embedding (T5's
    /// and BART's per-stack `embed_tokens`): skipped, as the embedding is what the engine reads.
    public var tiedCopies: [String] = []
    /// The encoder stack of an encoder-decoder (T5, BART), whose output every block's
    /// cross-attention reads; `nil` for decoders and encoders, whose one stack is this recipe.
    public var encoder: EncoderStack?
    /// Prefixes of the checkpoint's names that are removed to get canonical names.
    public var namePrefixes: [String]
    /// Canonical-name suffixes of non-parameter buffers, skipped on import.
    public var bufferSuffixes: [String]

    /// Creates a recipe.
    public init(
        family: ArchitectureFamily, heads: Int, kvHeads: Int, headDim: Int, tokenEmbedding: String,
        positions: PositionRecipe, layer: @escaping @Sendable (Int) -> LayerRecipe, finalNorm: NormPart?,
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

    /// Every tensor outside the blocks: canonical name -> shape (the head's when it is its own).
    public func outerTensors(vocabSize: Int, width: Int, maxPositions: Int) -> [(String, [Int])] {
        let tableWidth = embeddingProjection?.inputs ?? width
        var list: [(String, [Int])] = [(tokenEmbedding, [vocabSize, tableWidth])]
        if case .learned(let table, let offset) = positions { list.append((table, [maxPositions + offset, tableWidth])) }
        if case .relativeBias(let bias) = positions { list.append((bias.table, [bias.buckets, heads])) }
        if let tokenTypes { list.append((tokenTypes.table, [tokenTypes.count, tableWidth])) }
        if let logitBias { list.append((logitBias, [1, vocabSize])) }
        let own = list + (embeddingNorm?.tensors ?? []) + (embeddingProjection?.tensors ?? []) + (finalNorm?.tensors ?? [])
        return own + (encoder?.recipe.outerTensors(vocabSize: vocabSize, width: width, maxPositions: maxPositions) ?? [])
    }

    /// Whether the model is an encoder-decoder (its blocks read an encoder's output).
    public var isEncoderDecoder: Bool { encoder != nil }

    /// The width of `inputs_embeds` (the embedding tables' width).
    public func embeddingWidth(modelWidth: Int) -> Int { embeddingProjection?.inputs ?? modelWidth }

    /// Whether blocks attend in both directions (encoders).
    public var isBidirectional: Bool { !layer(0).attention.causal }

    /// Whether blocks rotate keys by position, so that un-rotated prefix keys are a possible bug.
    public var rotatesKeys: Bool {
        if case .rotary = positions { return true }
        return false
    }
}

/// Which positions the input rows take, given the checkpoint's first input position `s`
/// (`Pn` by HF/PEFT's convention) and the rows' attention mask.
public enum InputPositionRule: Sendable, Hashable {
    /// The `k`-th real token of a row takes `s + k`; padding reuses `s` (decoders: a left-padded
    /// row starts at `s`).
    case realTokens
    /// Column `j` takes `s + j` whatever the mask (BERT, ELECTRA, DistilBERT: padding is only
    /// masked, never skipped).
    case column
    /// The `k`-th token whose id is not `paddingID` takes `s + k`, and padding ids take the
    /// table's padding row (RoBERTa's fairseq rule, which transformers applies to `input_ids`;
    /// `inputs_embeds` take columns `0, 1, ...`, as transformers ignores the prefix there).
    case skippingPaddingIDs(paddingID: Int)

    /// The name recorded in an exchange file's `meta` (`position_rule`).
    public var name: String {
        switch self {
        case .realTokens: "real-tokens"
        case .column: "column"
        case .skippingPaddingIDs: "skip-padding-ids"
        }
    }
}

/// How the LM head relates to the token embedding.
public enum HeadUse: Sendable, Hashable {
    /// The model has no LM head the engine computes (encoders: logits come from a task head).
    case none
    /// The head is the embedding: a head tensor that is present anyway is skipped.
    case tied
    /// The head is its own tensor, which must be present.
    case required
    /// The head is its own tensor if present, else the embedding.
    case optional
}

/// How positions enter the model.
public enum PositionRecipe: Sendable, Hashable {
    /// A learned table `[positions + offset, d]` added to the token embeddings once; row
    /// `p + offset` holds position `p` (OPT's offset is 2).
    case learned(table: String, offset: Int)
    /// Rotary embeddings applied to queries and keys inside every block.
    case rotary(RotaryRecipe)
    /// ALiBi: head `h`'s score for a key gets `slopes[h] * keyPosition`, where a key's position
    /// counts real tokens (BLOOM, from the attention mask) or is its column (MPT, `byColumn`).
    case alibi(slopes: [Double], byColumn: Bool)
    /// T5's bucketed relative bias: head `h`'s score for key position `k` from query position `q`
    /// gets `table[bucket(k - q), h]`, one table per stack (held by its first block).
    case relativeBias(RelativeBiasRecipe)
}

/// Rotary position embeddings: the inverse frequencies and how they are applied.
public struct RotaryRecipe: Sendable, Hashable {
    /// The base frequency.
    public var theta: Double
    /// How many leading dimensions of each head rotate (`hd` unless partial rotary).
    public var rotatedDims: Int
    /// Pairs `(2i, 2i+1)` (GPT-J's `rotate_every_two`) instead of `(i, i + rotated/2)`.
    public var interleaved: Bool
    /// The scaling of the frequencies.
    public var scaling: RopeScaling?

    /// Creates a rotary recipe.
    public init(theta: Double, rotatedDims: Int, interleaved: Bool = false, scaling: RopeScaling? = nil) {
        self.theta = theta
        self.rotatedDims = rotatedDims
        self.interleaved = interleaved
        self.scaling = scaling
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
    /// `x / sqrt(mean(x²) + eps) * (1 + w)` (Gemma).
    case rmsNormPlusOne = "rmsnorm_plus_one"
    /// LayerNorm without weight or bias (OLMo).
    case layerNormNonParametric = "layernorm_nonparametric"
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
    /// The number of equal chunks each row is normalised in, each with its own weights (`[groups,
    /// width / groups]`): Cohere's q/k norm normalises every head apart, with per-head weights.
    /// 1: the whole row.
    public var groups: Int

    /// Creates a part.
    public init(_ name: String, kind: NormKind, width: Int, bias: Bool, eps: Double, groups: Int = 1) {
        self.name = name
        self.kind = kind
        self.width = width
        self.hasBias = bias
        self.eps = eps
        self.groups = groups
    }

    /// The tensors it reads: name -> shape.
    public var tensors: [(String, [Int])] {
        guard kind != .layerNormNonParametric else { return [] }
        let shape = groups > 1 ? [groups, width / groups] : [width]
        return [(name + ".weight", shape)] + (hasBias ? [(name + ".bias", shape)] : [])
    }
}

/// How queries, keys and values are projected.
public enum QKVPart: Sendable, Hashable {
    /// Three maps.
    case separate(q: LinearPart, k: LinearPart, v: LinearPart)
    /// One map whose output columns are `[q | k | v]` (`H*hd`, `Hkv*hd`, `Hkv*hd` wide).
    case fused(LinearPart)
    /// One map whose output columns are `[q_h | k_h | v_h]` per head `h` (GPT-NeoX, BLOOM:
    /// `view(H, 3*hd)`; needs `H == Hkv`).
    case fusedPerHead(LinearPart)
    /// One map whose columns are, per group of `H/groups` query heads, those query heads and then
    /// one key and one value head shared by the group (Falcon's new decoder architecture); the
    /// keys and values are expanded to every query head, as that family's cache holds them.
    case fusedGrouped(LinearPart, groups: Int)

    /// The parts it reads.
    public var parts: [LinearPart] {
        switch self {
        case .separate(let q, let k, let v): [q, k, v]
        case .fused(let qkv), .fusedPerHead(let qkv), .fusedGrouped(let qkv, _): [qkv]
        }
    }
}

/// An elementwise activation, in the spellings Hugging Face configs use for it.
public enum Activation: String, Sendable, Hashable {
    /// GELU, tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    case geluTanh
    /// GELU, exact (`gelu`).
    case gelu
    /// BLOOM's GELU: the tanh approximation with `sqrt(2/pi)` written as `0.79788456` (a
    /// difference of 1e-10 relative, visible in float64; in float32 it is the same number).
    case geluTanhBloom
    /// SiLU / swish.
    case silu
    /// ReLU.
    case relu

    /// The Hugging Face names the engine computes.
    public static let huggingFaceNames = ["gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "silu", "swish", "relu"]

    /// The activation `name` means, refused by name when the engine does not compute it.
    ///
    /// - Throws: ``ConfigError`` `.unsupported` naming the activation, the family and `field`.
    public static func named(_ name: String, family: ArchitectureFamily, field: String) throws(ConfigError) -> Activation {
        guard let activation = Activation(huggingFace: name) else {
            throw ConfigError(
                .unsupported, "activation '\(name)' is not implemented for \(family) (\(huggingFaceNames.joined(separator: ", ")))",
                field: field)
        }
        return activation
    }

    /// The activation a Hugging Face config names, if the engine computes it.
    public init?(huggingFace name: String) {
        switch name {
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "gelu": self = .gelu
        case "silu", "swish": self = .silu
        case "relu": self = .relu
        default: return nil
        }
    }
}

/// The feed-forward part.
public enum MLPPart: Sendable, Hashable {
    /// `down(act(up(x)))`.
    case plain(up: LinearPart, down: LinearPart, activation: Activation)
    /// `down(act(gate(x)) ⊙ up(x))`.
    case gated(gate: LinearPart, up: LinearPart, down: LinearPart, activation: Activation)
    /// As `gated`, with gate and up in one map whose output columns are `[gate | up]` (Phi-3).
    case gatedFused(gateUp: LinearPart, down: LinearPart, activation: Activation)

    /// The parts it reads.
    public var parts: [LinearPart] {
        switch self {
        case .plain(let up, let down, _): [up, down]
        case .gated(let gate, let up, let down, _): [gate, up, down]
        case .gatedFused(let gateUp, let down, _): [gateUp, down]
        }
    }
}

/// How a block's two sublayers combine with its input.
public enum ResidualKind: Sendable, Hashable {
    /// `h = x + Attn(x)`, `y = h + MLP(h)`.
    case sequential
    /// `y = x + Attn(x) + MLP(x)`: both read the block input (GPT-NeoX `use_parallel_residual`,
    /// GPT-J, Phi, Falcon); the MLP's own norm, if any, applies to `x`.
    case parallel
}

/// Attention details beyond the projections.
public struct AttentionRecipe: Sendable, Hashable {
    /// Multiplies `q·k` (`1/sqrt(hd)` unless the family says otherwise).
    public var scale: Double
    /// Keys more than this many columns before the query are hidden (sliding window), if set.
    public var window: Int?
    /// `softcap * tanh(score / softcap)` before the softmax, if set (Gemma2).
    public var softcap: Double?
    /// q, k and v are clamped to `[-clip, clip]` after projection, if set (OLMo `clip_qkv`).
    public var clip: Double?
    /// A norm applied to the queries and one to the keys after projection (Qwen3: per head over
    /// `hd`; OLMo2: over all heads), before rotation.
    public var queryNorm: NormPart?, keyNorm: NormPart?
    /// Whether a row sees only keys at or before its column (decoders); encoders see every
    /// unmasked key, prefix keys included.
    public var causal: Bool

    /// Creates an attention recipe.
    public init(
        scale: Double, window: Int? = nil, softcap: Double? = nil, clip: Double? = nil,
        queryNorm: NormPart? = nil, keyNorm: NormPart? = nil, causal: Bool = true
    ) {
        self.causal = causal
        self.scale = scale
        self.window = window
        self.softcap = softcap
        self.clip = clip
        self.queryNorm = queryNorm
        self.keyNorm = keyNorm
    }
}

/// How many query and key/value heads a block has, and their size.
public struct AttentionShape: Sendable, Hashable {
    /// `H`, `Hkv` and `hd`.
    public var heads: Int, kvHeads: Int, headDim: Int

    /// A shape of `heads` query heads and `kvHeads` key/value heads of `headDim` each.
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }
}

/// One block:
///
/// ```
/// a = InputNorm(x);  q, k, v = QKV(a)  (q/k norms, clipping, rotation as the attention says)
/// o = AttentionOutputNorm(Out(Attn(q, k, v)))
/// sequential: h = AttentionResidualNorm(x + m·o)
///             y = MLPResidualNorm(h + m·MLPOutputNorm(MLP(MLPNorm(h))))
/// parallel:   y = x + o + MLP(MLPNorm(x))        (MLPNorm absent: the MLP reads a)
/// ```
/// where `m` is the residual multiplier (1 unless Granite) and an absent norm is the identity.
/// Post-LN blocks (BERT and its descendants) have only the two residual norms: their prefix
/// keys and values come from `P^l` with no norm before the projection.
public struct LayerRecipe: Sendable, Hashable {
    /// The norm before attention.
    public var inputNorm: NormPart?
    /// The q/k/v projection.
    public var qkv: QKVPart
    /// Scores, windows and q/k norms.
    public var attention: AttentionRecipe
    /// The attention output projection.
    public var output: LinearPart
    /// A norm on the attention output before the residual add (OLMo2, Gemma2).
    public var attentionOutputNorm: NormPart?
    /// The norm before the MLP.
    public var mlpNorm: NormPart?
    /// The MLP.
    public var mlp: MLPPart
    /// A norm on the MLP output before the residual add (OLMo2, Gemma2).
    public var mlpOutputNorm: NormPart?
    /// The norm of `x + attention` (post-LN), if any.
    public var attentionResidualNorm: NormPart?
    /// The norm of `h + MLP` (post-LN), if any.
    public var mlpResidualNorm: NormPart?
    /// The attention over the encoder's output, between self-attention and the MLP
    /// (encoder-decoders' decoder blocks), if any.
    public var crossAttention: CrossAttentionPart?
    /// How the sublayers combine.
    public var residual: ResidualKind
    /// Multiplies each sublayer's output before it is added (Granite `residual_multiplier`).
    public var residualMultiplier: Double
    /// The block's own head counts and head size, for a family whose layers differ (`nil`: the
    /// model's, ``ModelRecipe/heads`` etc.). Its prefix keys and values are `[kvHeads, Pn, headDim]`.
    public var shape: AttentionShape?

    /// Creates a block recipe.
    public init(
        inputNorm: NormPart?, qkv: QKVPart, attention: AttentionRecipe, output: LinearPart,
        attentionOutputNorm: NormPart? = nil, mlpNorm: NormPart?, mlp: MLPPart, mlpOutputNorm: NormPart? = nil,
        residual: ResidualKind = .sequential, residualMultiplier: Double = 1,
        attentionResidualNorm: NormPart? = nil, mlpResidualNorm: NormPart? = nil
    ) {
        self.attentionResidualNorm = attentionResidualNorm
        self.mlpResidualNorm = mlpResidualNorm
        self.inputNorm = inputNorm
        self.qkv = qkv
        self.attention = attention
        self.output = output
        self.attentionOutputNorm = attentionOutputNorm
        self.mlpNorm = mlpNorm
        self.mlp = mlp
        self.mlpOutputNorm = mlpOutputNorm
        self.residual = residual
        self.residualMultiplier = residualMultiplier
    }

    /// Every tensor the block reads: canonical name -> shape.
    public var tensors: [(String, [Int])] {
        let norms = [
            inputNorm, attention.queryNorm, attention.keyNorm, attentionOutputNorm, attentionResidualNorm, mlpNorm, mlpOutputNorm,
            mlpResidualNorm,
        ]
        return norms.compactMap { $0 }.flatMap(\.tensors) + (qkv.parts + [output] + mlp.parts).flatMap(\.tensors)
            + (crossAttention?.tensors ?? [])
    }
}
