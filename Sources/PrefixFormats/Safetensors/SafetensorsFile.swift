public import PrefixCore

/// A safetensors file, memory-mapped and validated; tensors are read lazily and zero-copy.
///
/// The file is: a little-endian u64 `N`, `N` bytes of UTF-8 JSON header
/// (`{"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [BEGIN, END]}, ..., "__metadata__": {...}}`),
/// then the data buffer. Everything the reference reader rejects is rejected, each with its own
/// ``FormatError/Code``, plus PrefixKit's limits on tensor count, name length and JSON nesting.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let wte = try file.tensor("wte.weight")      // zero-copy view of the mapped bytes
/// ```
public final class SafetensorsFile: @unchecked Sendable {
    // Safety: immutable after init; the mapping is read-only.

    /// One tensor's header entry.
    public struct Entry: Sendable, Hashable {
        /// The name.
        public var name: String
        /// The element type.
        public var dtype: DType
        /// The dimensions.
        public var shape: [Int]
        /// Byte range within the data buffer.
        public var range: Range<Int>
    }

    /// The reference's cap on the header size.
    public static let maxHeaderSize = 100_000_000
    /// PrefixKit's cap on the number of tensors.
    public static let maxTensors = 1_000_000
    /// PrefixKit's cap on a tensor name's length in bytes.
    public static let maxNameLength = 4096

    /// The file.
    public let path: String
    /// The `__metadata__` entries, in header order (nil when absent).
    public let metadata: [(key: String, value: String)]?
    /// The tensors, in data order.
    public let entries: [Entry]
    private let byName: [String: Int]
    private let mapping: FileMapping
    private let dataStart: Int

    /// Maps and validates the file at `path`.
    ///
    /// - Throws: ``FormatError``: `.io`, `.truncated` (under 8 bytes), `.headerTooLarge`,
    ///   `.headerPastEnd`, `.notUTF8`, `.malformedJSON`, `.nestingTooDeep`, `.duplicateName`,
    ///   `.nonStringMetadata`, `.unknownDType`, `.invalidShape`, `.offsetsNotContiguous`,
    ///   `.offsetsReversed`, `.sizeOverflow`, `.sizeMismatch`, `.incompleteBuffer`,
    ///   `.tooManyTensors`, `.nameTooLong`; each names the file (and tensor).
    public init(path: String) throws(FormatError) {
        self.path = path
        mapping = try FileMapping(path: path)
        do {
            (metadata, entries, dataStart) = try SafetensorsFile.parse(mapping.bytes)
        } catch {
            var error = error
            error.path = path
            throw error
        }
        byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    /// The entry named `name`, if any.
    public func entry(_ name: String) -> Entry? { byName[name].map { entries[$0] } }

    /// The tensor named `name`, borrowing the mapped bytes.
    ///
    /// - Throws: ``FormatError`` `.missingKey` when there is no such tensor.
    public func tensor(_ name: String) throws(FormatError) -> Tensor {
        guard let entry = entry(name) else { throw FormatError(.missingKey, "no tensor by this name", path: path, member: name) }
        return try tensor(entry)
    }

    /// The tensor of `entry`, borrowing the mapped bytes.
    public func tensor(_ entry: Entry) throws(FormatError) -> Tensor {
        let start = dataStart + entry.range.lowerBound
        let bytes = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + entry.range.count)])
        do {
            return try Tensor(dtype: entry.dtype, shape: Shape(entry.shape), storage: TensorStorage(borrowing: bytes, owner: mapping))
        } catch {
            throw FormatError(.invalidShape, "\(error)", path: path, member: entry.name)
        }
    }

    /// Lets the kernel drop the pages of a tensor already consumed (streaming imports).
    public func release(_ entry: Entry) {
        mapping.release((dataStart + entry.range.lowerBound)..<(dataStart + entry.range.upperBound))
    }

    /// The size of the file in bytes.
    public var fileSize: Int { mapping.bytes.count }

    // MARK: - Parsing

    package static func parse(_ file: UnsafeRawBufferPointer) throws(FormatError)
        -> (metadata: [(key: String, value: String)]?, entries: [Entry], dataStart: Int)
    {
        guard file.count >= 8 else { throw FormatError(.truncated, "file of \(file.count) bytes is too small for a safetensors header") }
        let declared = file.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard declared <= UInt64(maxHeaderSize) else {
            throw FormatError(.headerTooLarge, "header length \(declared) exceeds \(maxHeaderSize) bytes")
        }
        let n = Int(declared)
        guard 8 + n <= file.count else {
            throw FormatError(.headerPastEnd, "header claims \(n) bytes but the file has \(file.count - 8) after the length")
        }
        let headerBytes = Array(file[8..<(8 + n)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw FormatError(.notUTF8, "header is not valid UTF-8") }
        guard headerBytes.first == UInt8(ascii: "{") else { throw FormatError(.malformedJSON, "header does not start with '{'") }
        guard case .object(let members) = try BoundedJSON.parse(headerBytes) else {
            throw FormatError(.malformedJSON, "header is not a JSON object")
        }
        var metadata: [(key: String, value: String)]?
        var entries: [Entry] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let pairs) = value else {
                    throw FormatError(.nonStringMetadata, "__metadata__ is not an object of strings")
                }
                metadata = try pairs.map { (pair) throws(FormatError) -> (key: String, value: String) in
                    guard case .string(let text) = pair.value else {
                        throw FormatError(.nonStringMetadata, "__metadata__ value of '\(pair.key)' is not a string", member: pair.key)
                    }
                    return (pair.key, text)
                }
                continue
            }
            guard entries.count < maxTensors else { throw FormatError(.tooManyTensors, "more than \(maxTensors) tensors") }
            guard name.utf8.count <= maxNameLength else {
                throw FormatError(
                    .nameTooLong, "tensor name of \(name.utf8.count) bytes exceeds \(maxNameLength)", member: String(name.prefix(100)))
            }
            entries.append(try entry(name, value))
        }
        entries.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var end = 0
        for entry in entries {
            guard entry.range.lowerBound == end else {
                throw FormatError(
                    .offsetsNotContiguous, "data starts at \(entry.range.lowerBound), expected \(end) (gap or overlap)", member: entry.name)
            }
            end = entry.range.upperBound
        }
        let (dataEnd, overflow) = (8 + n).addingReportingOverflow(end)
        guard !overflow, dataEnd == file.count else {
            throw FormatError(
                .incompleteBuffer, "tensors end at \(overflow ? "more than \(Int.max)" : "\(dataEnd)") but the file has \(file.count) bytes"
            )
        }
        return (metadata, entries, 8 + n)
    }

    private static func entry(_ name: String, _ value: JSONValue) throws(FormatError) -> Entry {
        guard case .object(let fields) = value else { throw FormatError(.malformedJSON, "tensor info is not an object", member: name) }
        var dtypeText: String?, shapeValues: [JSONValue]?, offsetValues: [JSONValue]?
        for (key, field) in fields {
            switch (key, field) {
            case ("dtype", .string(let s)): dtypeText = s
            case ("shape", .array(let a)): shapeValues = a
            case ("data_offsets", .array(let a)): offsetValues = a
            case ("dtype", _), ("shape", _), ("data_offsets", _):
                throw FormatError(.malformedJSON, "tensor field '\(key)' has the wrong type", member: name)
            default: continue  // the reference ignores unknown fields
            }
        }
        guard let dtypeText, let shapeValues, let offsetValues else {
            throw FormatError(.malformedJSON, "tensor info lacks dtype, shape or data_offsets", member: name)
        }
        guard let dtype = DType(safetensorsName: dtypeText) else {
            throw FormatError(.unknownDType, "dtype '\(dtypeText.prefix(40))' is not supported", member: name)
        }
        guard shapeValues.count <= 64 else { throw FormatError(.invalidShape, "more than 64 dimensions", member: name) }
        let shape = try shapeValues.map { (v) throws(FormatError) in try unsigned(v, name: name, what: "shape") }
        guard offsetValues.count == 2 else { throw FormatError(.malformedJSON, "data_offsets must hold two numbers", member: name) }
        let begin = try unsigned(offsetValues[0], name: name, what: "data_offsets")
        let end = try unsigned(offsetValues[1], name: name, what: "data_offsets")
        guard end >= begin else { throw FormatError(.offsetsReversed, "data_offsets end \(end) is before begin \(begin)", member: name) }
        var bytes = dtype.byteWidth
        for d in shape {
            let (p, o) = bytes.multipliedReportingOverflow(by: d)
            guard !o else { throw FormatError(.sizeOverflow, "shape \(shape) of \(dtypeText) overflows", member: name) }
            bytes = p
        }
        guard end - begin == bytes else {
            throw FormatError(
                .sizeMismatch, "data_offsets span \(end - begin) bytes, shape \(shape) of \(dtypeText) needs \(bytes)", member: name)
        }
        return Entry(name: name, dtype: dtype, shape: shape, range: begin..<end)
    }

    private static func unsigned(_ value: JSONValue, name: String, what: String) throws(FormatError) -> Int {
        guard case .number(let text) = value, !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        else {
            throw FormatError(.invalidShape, "\(what) must hold non-negative integers", member: name)
        }
        guard let n = Int(text) else { throw FormatError(.sizeOverflow, "\(what) value \(text.prefix(30)) is too large", member: name) }
        return n
    }
}
