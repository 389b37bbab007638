/// The name of a Transformer family (`gpt2`, `llama`, ...): the key of its description in
/// ``Architectures``.
///
/// An open set: a store may hold a family this version does not know, which then fails by name
/// when it is computed, never when it is listed. Encoded as its bare string.
public struct ArchitectureFamily: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    /// The family's name as the catalog and `config.json`-independent code spell it.
    public var rawValue: String

    /// Creates a family name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Creates a family name from a literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// Decodes the bare string.
    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the bare string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The name.
    public var description: String { rawValue }
}
