/// An error raised by PrefixCore: a value that cannot be a valid tensor, shape, dtype or config.
///
/// `description` is one line that names what was wrong and, where known, the tensor and the
/// expected and actual values.
public struct CoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, as a stable code tests and callers can match on.
    public enum Code: String, Sendable {
        case unknownDType
        case invalidShape
        case sizeOverflow
        case byteCountMismatch
        case dtypeMismatch
        case invalidName
        case invalidConfig
    }

    /// The stable code.
    public var code: Code
    /// A human-readable sentence.
    public var message: String
    /// The tensor (dotted key) concerned, if any.
    public var tensor: String?
    /// What was expected, if the error is a mismatch.
    public var expected: String?
    /// What was found, if the error is a mismatch.
    public var actual: String?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, tensor: String? = nil,
        expected: String? = nil, actual: String? = nil
    ) {
        self.code = code
        self.message = message
        self.tensor = tensor
        self.expected = expected
        self.actual = actual
    }

    /// One line: the message, then the context it names (tensor, file, expected and actual values).
    public var description: String {
        var text = message
        if let tensor { text += " (tensor '\(tensor)')" }
        if let expected, let actual, !message.contains(actual) { text += ": expected \(expected), found \(actual)" }
        return text
    }
}
