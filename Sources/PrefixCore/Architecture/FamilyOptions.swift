/// What one family's configuration holds beyond ``ModelConfig``'s common fields: its own knobs,
/// read from its `config.json` by its description and read back by its recipe.
///
/// A family's options are a Codable value owned by the family's file (``ModelArchitecture/optionsType``
/// names the type). They are encoded flat beside the common fields, each under its own key, and
/// unset (`nil`) options are left out, so adding an option changes no existing configuration's
/// canonical text and so no base's fingerprint.
public protocol FamilyOptions: Codable, Sendable, Hashable {
    /// The options of a configuration that sets none.
    init()
}

/// The options of a family that has none.
public struct NoFamilyOptions: FamilyOptions {
    /// No options.
    public init() {}
    /// Nothing to decode.
    public init(from decoder: any Decoder) throws {}
    /// Nothing to encode.
    public func encode(to encoder: any Encoder) throws {}
}

/// How a block whose attention and MLP read the same input normalises it.
public enum ParallelResidual: String, Codable, Sendable, Hashable {
    /// One norm feeds both (GPT-J, Phi, Falcon).
    case shared
    /// Two norms of the same input (GPT-NeoX).
    case separate
}
