import PrefixCore

/// An error raised by the engine: weights, prefixes or inputs that do not fit the model.
///
/// `description` is one line naming the tensor and the expected and actual shape or value.
public struct ComputeError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Code: String, Sendable {
        /// A weight the architecture needs is absent.
        case missingWeight
        /// A tensor the architecture does not use (and that is not a known buffer).
        case unknownWeight
        /// A weight's shape or dtype differs from what the config implies.
        case weightShape
        /// A prefix tensor's shape, dtype or layer count differs from the model's.
        case prefixShape
        /// The input is malformed: wrong dtype, rank, width, or token ids out of range.
        case invalidInput
        /// `Pn + N` exceeds the model's maximum positions.
        case positionsExceeded
        /// The architecture or a config feature is not implemented.
        case unsupported
        /// KV-form prefixes cannot be turned back into hidden form.
        case notInvertible
        /// Reading a tensor failed.
        case source
    }

    /// The stable code.
    public var code: Code
    /// A sentence saying what went wrong.
    public var message: String
    /// The tensor concerned.
    public var tensor: String?
    /// The expected shape or value.
    public var expected: String?
    /// The actual shape or value.
    public var actual: String?
    /// The cause, if a source failed.
    public var underlying: String?
    /// The error a source threw, for callers that tell causes apart (a digest mismatch in the
    /// store is a finding, not an unreadable input).
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, tensor: String? = nil, expected: String? = nil,
        actual: String? = nil, underlying: String? = nil, cause: (any Error)? = nil
    ) {
        self.cause = cause
        self.code = code
        self.message = message
        self.tensor = tensor
        self.expected = expected
        self.actual = actual
        self.underlying = underlying
    }

    /// One line: the message, then the context it names (tensor, file, expected and actual values).
    public var description: String {
        var text = message
        if let tensor { text += " (tensor '\(tensor)')" }
        if let expected, let actual { text += ": expected \(expected), found \(actual)" }
        if let underlying { text += ": \(underlying)" }
        return text
    }
}
