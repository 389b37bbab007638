/// An error raised while reading or writing a file format: the file is missing, hostile,
/// truncated or inconsistent, or asks for something PrefixKit refuses.
///
/// `description` is one line naming the file and, where one is involved, the tensor or member.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, one code per kind of rejection.
    public enum Code: String, Sendable, CaseIterable {
        /// The file cannot be opened or read.
        case io
        /// The file is shorter than its header says.
        case truncated
        /// The magic bytes are wrong.
        case badMagic
        /// A format version PrefixKit does not read.
        case unsupportedVersion
        /// The header is longer than the cap.
        case headerTooLarge
        /// The header cannot be parsed.
        case malformedHeader
        /// The element type is refused (object arrays, pickles, structured or big-endian types).
        case unsupportedDType
        /// Not something PrefixKit imports: a directory or file of no known kind, one file of a
        /// model or adapter directory, a prefix file with another extension.
        case notImportable
        /// A model feature, architecture or adapter type PrefixKit does not compute (a config
        /// feature refused by name, an adapter that is not prefix tuning, AdapterHub gating).
        case unsupportedFeature
        /// A shape that overflows or is negative.
        case invalidShape
        /// The data size disagrees with the header.
        case sizeMismatch
        /// An archive member's name would leave the destination, or repeats.
        case unsafeName
        /// An archive member inflates to more than its header promises.
        case inflationBomb
        /// An archive member's bytes do not match the CRC-32 its archive records for them.
        case checksumMismatch
        /// The container (zip) is malformed.
        case malformedArchive
        /// A required key or tensor is absent.
        case missingKey
        /// Keys or tensors disagree with each other.
        case inconsistent
        /// The header claims more bytes than the file has.
        case headerPastEnd
        /// The header is not valid UTF-8.
        case notUTF8
        /// The header is not valid JSON (or not the expected shape of JSON).
        case malformedJSON
        /// The JSON nests deeper than the cap.
        case nestingTooDeep
        /// A metadata value is not a string.
        case nonStringMetadata
        /// A dtype spelling PrefixKit does not know.
        case unknownDType
        /// Tensor data offsets leave a gap, overlap, or do not start at 0.
        case offsetsNotContiguous
        /// A tensor's end offset is before its start.
        case offsetsReversed
        /// Shape times element size overflows.
        case sizeOverflow
        /// The data buffer does not end exactly where the last tensor ends.
        case incompleteBuffer
        /// A tensor name appears twice.
        case duplicateName
        /// More tensors than the cap.
        case tooManyTensors
        /// A tensor name longer than the cap.
        case nameTooLong
        /// A shard name that would leave the directory, or a link out of it.
        case unsafePath
        /// A pickled file (`.bin`, `.pt`) that PrefixKit never loads.
        case pickleRefused
        /// A number (a size, a count, a dimension) beyond what PrefixKit accepts.
        case outOfRange
        /// A FIFO, device, socket or directory where a regular file belongs.
        case notARegularFile
    }

    /// The stable code.
    public var code: Code
    /// A sentence.
    public var message: String
    /// The file.
    public var path: String?
    /// The tensor or archive member.
    public var member: String?
    /// The error that led to this one (e.g. a store's digest mismatch while a tensor was read).
    public var cause: (any Error & Sendable)?

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String? = nil, member: String? = nil, cause: (any Error)? = nil) {
        self.cause = cause
        self.code = code
        self.message = message
        self.path = path
        self.member = member
    }

    /// One line: the message, then the context it names (tensor, file, expected and actual values).
    public var description: String {
        var text = message
        if let member { text += " (in '\(member)')" }
        if let path { text += "; file \(path)" }
        return text
    }
}
