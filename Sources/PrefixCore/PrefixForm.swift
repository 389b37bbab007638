/// How a checkpoint stores its per-layer prefix.
public enum PrefixForm: String, Sendable, Codable, Hashable, CaseIterable {
    /// `P^l` with shape `[Pn, d]`: the vectors prepended to each block's input rows.
    case hidden
    /// `K^l`, `V^l` with shape `[Hkv, Pn, hd]`: the keys and values each block computes from
    /// its prefix (HF PEFT's form).
    case kv
}

/// Where the prefix rows and the input rows sit in the position sequence.
///
/// The default is HF/PEFT's: prefix rows at `0 ..< Pn`, inputs at `Pn ..< Pn + N`.
public struct PositionConvention: Sendable, Codable, Hashable {
    /// The position of the first prefix row.
    public var prefixStart: Int
    /// The position of the first input row.
    public var inputStart: Int

    /// Creates a convention.
    public init(prefixStart: Int, inputStart: Int) {
        self.prefixStart = prefixStart
        self.inputStart = inputStart
    }

    /// HF/PEFT's convention for a prefix of length `prefixLength`.
    public static func standard(prefixLength: Int) -> PositionConvention {
        PositionConvention(prefixStart: 0, inputStart: prefixLength)
    }
}
