/// A way of composing one layer: the correct one, or a known wrong one the verifier uses to
/// explain a failed check (semantics' table of wrong compositions, plus key/value mistakes).
public enum BlockVariant: String, Sendable, CaseIterable, Codable {
    /// `Block_l(rowcat(P^l, Hbar^l))[Pn ..< Pn+N]`.
    case correct
    /// The first N rows kept instead of the last N.
    case keptFirstN
    /// The block applied to `Hbar^l` alone (equal to appending the prefix, in a causal model).
    case prefixIgnored
    /// As `prefixIgnored`, with the inputs at positions `0 ..< N` (what appending gives).
    case prefixIgnoredAtZero
    /// The prefix's keys and values exchanged.
    case keyValueSwapped
    /// The prefix keys not rotated (RoPE models).
    case unrotatedKeys
    /// The inputs at positions `0 ..< N` instead of the checkpoint's convention.
    case inputsAtZero
    /// The causal mask not offset by the prefix: query `i` sees keys `0 ... i` of the `Pn + N`
    /// (aligned top-left, as PyTorch's `scaled_dot_product_attention(is_causal=True)` aligns it
    /// when queries and keys differ in length), not the whole prefix and inputs `0 ... i`.
    case causalTopLeft
}
