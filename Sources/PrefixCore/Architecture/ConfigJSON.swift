import Foundation

/// A `config.json` object as a family writes one (for synthetic models and their exports):
/// encoded with `JSONEncoder`, keys sorted, so strings are escaped and numbers spelled as JSON
/// spells them. Entries whose value is `nil` are left out.
///
/// ```swift
/// ConfigJSON(["model_type": .string("gpt2"), "n_layer": .int(12), "rope_scaling": nil]).text
/// ```
public struct ConfigJSON: Encodable, Sendable {
    /// One JSON value.
    public enum Value: Encodable, Sendable {
        case int(Int), double(Double), string(String), bool(Bool), strings([String]), object([String: Value])

        /// Encodes the value as itself.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .int(let v): try c.encode(v)
            // JSON has no spelling for a non-finite number.
            case .double(let v): if v.isFinite { try c.encode(v) } else { try c.encodeNil() }
            case .string(let v): try c.encode(v)
            case .bool(let v): try c.encode(v)
            case .strings(let v): try c.encode(v)
            case .object(let v): try c.encode(v)
            }
        }
    }

    /// The entries written.
    public var entries: [String: Value]

    /// An object of `entries`, leaving out those that are `nil`.
    public init(_ entries: [String: Value?]) {
        self.entries = entries.compactMapValues { $0 }
    }

    /// Encodes the entries as one object.
    public func encode(to encoder: any Encoder) throws {
        try entries.encode(to: encoder)
    }

    /// The JSON text.
    public var text: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value encodes (a non-finite number as null): encoding a string-keyed object of
        // them cannot fail.
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
