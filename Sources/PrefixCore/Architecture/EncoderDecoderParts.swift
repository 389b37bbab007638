import Foundation

// The recipe parts only encoder-decoders use: T5's relative bias, the encoder stack a decoder
// recipe holds, and the decoder blocks' cross-attention.

/// T5's relative position bias: a learned `[buckets, H]` table indexed by a bucket of the
/// distance `key position - query position` (exact for small distances, logarithmic up to
/// `maxDistance`, one bucket beyond); a bidirectional stack (the encoder) spends half the
/// buckets on keys after the query, a causal one (the decoder) only looks back.
///
/// With a prefix, as transformers computes it from a cache of `Pn` entries: the prefix keys sit
/// at positions `0 ..< Pn` and query row `i` at `Pn + i` (the checkpoint's position convention).
public struct RelativeBiasRecipe: Sendable, Hashable {
    /// The canonical name of the `[buckets, H]` table.
    public var table: String
    /// `relative_attention_num_buckets`.
    public var buckets: Int
    /// `relative_attention_max_distance`.
    public var maxDistance: Int
    /// Whether keys after the query have their own buckets (encoders).
    public var bidirectional: Bool

    /// Creates a recipe.
    public init(table: String, buckets: Int, maxDistance: Int, bidirectional: Bool) {
        self.table = table
        self.buckets = buckets
        self.maxDistance = maxDistance
        self.bidirectional = bidirectional
    }

    /// The bucket of `relative = keyPosition - queryPosition`, as transformers computes it (the
    /// logarithmic part in float32, truncated toward zero).
    public func bucket(_ relative: Int) -> Int {
        var buckets = self.buckets, result = 0, distance: Int
        if bidirectional {
            buckets /= 2
            if relative > 0 { result += buckets }
            distance = abs(relative)
        } else {
            distance = -min(relative, 0)
        }
        let maxExact = buckets / 2
        guard distance >= maxExact else { return result + distance }
        let ratio = Float(distance) / Float(maxExact)
        let scaled = Float(log(Double(ratio))) / Float(log(Double(maxDistance) / Double(maxExact))) * Float(buckets - maxExact)
        // A configuration that passed validation keeps `scaled` finite and non-negative.
        guard scaled.isFinite, scaled >= 0, scaled < Float(buckets) else { return result + buckets - 1 }
        return result + min(maxExact + Int(scaled), buckets - 1)
    }
}

/// The encoder stack of an encoder-decoder: its own recipe (embedding, positions, blocks, final
/// norm; no head) and block count. A class only so that a recipe can hold another.
public final class EncoderStack: Sendable {
    /// The encoder's recipe.
    public let recipe: ModelRecipe
    /// Its number of blocks.
    public let layers: Int

    /// Creates an encoder stack.
    public init(recipe: ModelRecipe, layers: Int) {
        self.recipe = recipe
        self.layers = layers
    }
}

/// A decoder block's attention over the encoder's output:
///
/// ```
/// c = h + Out(Attn(Q(Norm(h)), K(E), V(E)))      E: the encoder's final rows
/// h' = ResidualNorm(c)
/// ```
/// with every unmasked encoder row visible (no causal rule, no positions), an absent norm being
/// the identity (T5 normalises before, BART after).
public struct CrossAttentionPart: Sendable, Hashable {
    /// The norm of the block's rows before the query projection (pre-LN), if any.
    public var norm: NormPart?
    /// The projections: queries from the decoder rows, keys and values from the encoder's.
    public var q: LinearPart, k: LinearPart, v: LinearPart
    /// The output projection.
    public var output: LinearPart
    /// Multiplies `q·k`.
    public var scale: Double
    /// The norm of `h + cross-attention` (post-LN), if any.
    public var residualNorm: NormPart?

    /// Creates a cross-attention part.
    public init(norm: NormPart?, q: LinearPart, k: LinearPart, v: LinearPart, output: LinearPart, scale: Double, residualNorm: NormPart?) {
        self.norm = norm
        self.q = q
        self.k = k
        self.v = v
        self.output = output
        self.scale = scale
        self.residualNorm = residualNorm
    }

    /// The tensors it reads: name -> shape.
    public var tensors: [(String, [Int])] {
        [norm, residualNorm].compactMap { $0 }.flatMap(\.tensors) + [q, k, v, output].flatMap(\.tensors)
    }
}
