public import PrefixCore

/// The rules every value read back from a store must meet before PrefixKit uses it: what
/// PrefixKit itself writes, and nothing else. They hold for any catalog implementation (this
/// module knows nothing of SQLite) and are applied where a value is read: from catalog rows,
/// from manifests `recover` replays, from a blob's HDF5 metadata.
///
/// Each rule throws a ``StoreRuleError`` naming the field, the value and the rule.
public enum StoreRules {
    /// The longest file name of a base's non-weight file (a common file-system limit).
    public static let maxFileNameBytes = 255
    /// The longest HDF5 dataset path PrefixKit writes (`/base/` plus a 256-character name).
    public static let maxDatasetBytes = 512
    /// The most dimensions a stored tensor may have.
    public static let maxRank = 8

    /// A blob id: 32 lowercase hexadecimal digits.
    public static func blobID(_ id: String, field: String = "blob.id") throws(StoreRuleError) {
        guard isHex(id, count: 32) else {
            throw StoreRuleError(hostileOrMalformed(id), field: field, value: id, rule: "is not a blob id (32 lowercase hex digits)")
        }
    }

    /// A blob's path relative to the store: exactly `blobs/<id>.h5` for its own id, so that it
    /// names one file directly inside `blobs/` and never another directory.
    public static func blobPath(_ path: String, id: String, field: String = "blob.path") throws(StoreRuleError) {
        try blobID(id)
        guard path == blobPath(id: id) else {
            throw StoreRuleError(
                hostileOrMalformed(path), field: field, value: path, rule: "is not blobs/\(id).h5, the only path blob \(id) may have")
        }
    }

    /// A blob path of the form `blobs/<id>.h5`, whatever the id; returns the id.
    public static func blobPath(_ path: String, field: String = "blob.path") throws(StoreRuleError) -> String {
        let id = String(path.dropFirst("blobs/".count).dropLast(".h5".count))
        guard path.hasPrefix("blobs/"), path.hasSuffix(".h5"), isHex(id, count: 32) else {
            throw StoreRuleError(hostileOrMalformed(path), field: field, value: path, rule: "is not blobs/<32 hex digits>.h5")
        }
        return id
    }

    /// The path a blob with `id` has, relative to the store.
    public static func blobPath(id: String) -> String { "blobs/\(id).h5" }

    /// A SHA-256 digest or base fingerprint: 64 lowercase hexadecimal digits.
    public static func digest(_ value: String, field: String) throws(StoreRuleError) {
        guard isHex(value, count: 64) else {
            throw StoreRuleError(hostileOrMalformed(value), field: field, value: value, rule: "is not 64 lowercase hex digits")
        }
    }

    /// A checkpoint name, base alias or tag, under the rules users' names follow.
    public static func name(_ value: String, field: String) throws(StoreRuleError) {
        do { try Names.validate(name: value, kind: field) } catch {
            throw StoreRuleError(hostileOrMalformed(value), field: field, value: value, rule: "breaks the naming rule (\(error.message))")
        }
    }

    /// The file name of a base's non-weight file (`tokenizer.json`): one path component that
    /// an export may create inside its output directory, and nothing a terminal acts on.
    public static func fileName(_ value: String, field: String = "base_file.name") throws(StoreRuleError) {
        let bytes = value.utf8.count
        guard bytes > 0, bytes <= maxFileNameBytes else {
            throw StoreRuleError(.malformedValue, field: field, value: value, rule: "must be 1 to \(maxFileNameBytes) bytes, not \(bytes)")
        }
        guard value != ".", value != "..", !value.contains("/"), !value.contains("\\") else {
            throw StoreRuleError(
                .hostileValue, field: field, value: value, rule: "is not a single file name (it would leave the output directory)")
        }
        guard !value.unicodeScalars.contains(where: { TerminalText.needsEscape($0) }) else {
            throw StoreRuleError(.hostileValue, field: field, value: value, rule: "holds control or bidi characters")
        }
    }

    /// An HDF5 dataset path as PrefixKit writes them (`/prefix/layer_00/key`, `/base/NAME`):
    /// absolute, non-empty components, no `.` or `..`, printable.
    public static func dataset(_ value: String, field: String = "tensor.dataset") throws(StoreRuleError) {
        guard value.hasPrefix("/"), value.utf8.count <= maxDatasetBytes else {
            throw StoreRuleError(
                .malformedValue, field: field, value: value, rule: "is not an absolute dataset path of at most \(maxDatasetBytes) bytes")
        }
        let components = value.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw StoreRuleError(.hostileValue, field: field, value: value, rule: "has an empty, '.' or '..' component")
        }
        guard !value.unicodeScalars.contains(where: { TerminalText.needsEscape($0) }) else {
            throw StoreRuleError(.hostileValue, field: field, value: value, rule: "holds control or bidi characters")
        }
    }

    /// A dtype name as the catalog spells it.
    public static func dtype(_ value: String, field: String = "tensor.dtype") throws(StoreRuleError) -> DType {
        guard let dtype = DType(rawValue: value) else {
            throw StoreRuleError(hostileOrMalformed(value), field: field, value: value, rule: "is not a dtype PrefixKit stores")
        }
        return dtype
    }

    /// A shape as the catalog records it: a JSON array of at most ``maxRank`` non-negative
    /// integers whose element count does not overflow. Parsed by hand: the text is bounded and
    /// nothing but digits, commas, spaces and brackets is accepted.
    public static func shape(_ text: String, field: String = "tensor.shape") throws(StoreRuleError) -> Shape {
        let malformed = StoreRuleError(
            hostileOrMalformed(text), field: field, value: text,
            rule: "is not a JSON array of at most \(maxRank) non-negative integers")
        guard text.utf8.count <= 256 else { throw malformed }
        var body = Substring(text).trimmingSpaces
        guard body.hasPrefix("["), body.hasSuffix("]") else { throw malformed }
        body = body.dropFirst().dropLast().trimmingSpaces
        var dimensions: [Int] = []
        if !body.isEmpty {
            for part in body.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = part.trimmingSpaces
                guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits)
                else { throw malformed }
                dimensions.append(value)
            }
        }
        guard dimensions.count <= maxRank else { throw malformed }
        do { return try Shape(dimensions) } catch {
            throw StoreRuleError(.malformedValue, field: field, value: text, rule: "overflows (\(error.message))")
        }
    }

    /// A tensor's recorded byte length against its dtype and shape.
    public static func byteLength(_ length: Int64, dtype: DType, shape: Shape, field: String = "tensor.byte_length")
        throws(StoreRuleError)
    {
        let expected: Int
        do { expected = try shape.byteCount(of: dtype) } catch {
            throw StoreRuleError(.malformedValue, field: field, value: String(length), rule: "cannot be checked: \(error.message)")
        }
        guard length >= 0, Int64(expected) == length else {
            throw StoreRuleError(
                .malformedValue, field: field, value: String(length), rule: "is not the \(expected) bytes of \(dtype) \(shape)")
        }
    }

    /// A byte offset or length that must be non-negative (and, for offsets, leave room for the data).
    public static func nonNegative(_ value: Int64, field: String) throws(StoreRuleError) {
        guard value >= 0 else { throw StoreRuleError(.malformedValue, field: field, value: String(value), rule: "is negative") }
    }

    /// Free text from the catalog (a source path, a tool version) that is printed: bounded,
    /// and without control or bidi characters.
    public static func text(_ value: String, field: String, maxBytes: Int = 4096) throws(StoreRuleError) {
        guard value.utf8.count <= maxBytes else {
            throw StoreRuleError(.malformedValue, field: field, value: value, rule: "is longer than \(maxBytes) bytes")
        }
        guard !value.unicodeScalars.contains(where: { TerminalText.needsEscape($0) }) else {
            throw StoreRuleError(.hostileValue, field: field, value: value, rule: "holds control or bidi characters")
        }
    }

    /// Whether `value` is exactly `count` lowercase hex digits.
    static func isHex(_ value: String, count: Int) -> Bool {
        value.utf8.count == count && value.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Hostile when the value holds what only a deliberate edit puts there (path separators,
    /// quotes, control characters, `..`); merely malformed otherwise.
    static func hostileOrMalformed(_ value: String) -> StoreFindingCode {
        let suspicious =
            value.contains("/") || value.contains("..") || value.contains("'") || value.contains("\"")
            || value.contains(";") || value.unicodeScalars.contains(where: TerminalText.needsEscape)
        return suspicious ? .hostileValue : .malformedValue
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
