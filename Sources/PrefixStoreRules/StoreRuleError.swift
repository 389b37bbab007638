import PrefixCore

/// A value read from a store (its catalog, a manifest, a blob's metadata) that breaks the rules
/// of what PrefixKit writes: someone else's store is untrusted input, and such a value is
/// refused before it reaches SQL, the file system or a terminal.
///
/// `description` is one line naming the field (`blob.path`, `base_file.name`), the offending
/// value (escaped for a terminal) and the rule it breaks.
public struct StoreRuleError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The stable code: what kind of rule the value breaks.
    public var code: StoreFindingCode
    /// The field, as `table.column` or a manifest's header key.
    public var field: String
    /// The value, escaped for a terminal and cut to 120 characters.
    public var value: String
    /// The rule it breaks, in words.
    public var rule: String

    /// Creates an error; `value` is escaped and shortened here.
    public init(_ code: StoreFindingCode, field: String, value: String, rule: String) {
        self.code = code
        self.field = field
        self.value = TerminalText.escape(String(value.unicodeScalars.prefix(120)))
        self.rule = rule
    }

    /// One line: the field, the value (escaped) and the rule it breaks.
    public var description: String { "\(field) '\(value)' \(rule)" }
}

/// The stable codes of what `check` finds, so that CI can tell a hostile store from a damaged one.
public enum StoreFindingCode: String, Sendable, Codable, CaseIterable {
    /// A value breaks the store's rules in a way only a deliberate edit produces (a path with
    /// `..`, SQL in a column name, control characters in a name).
    case hostileValue = "hostile_value"
    /// A value is malformed (a shape that is not a JSON array of sizes, an unknown dtype).
    case malformedValue = "malformed_value"
    /// A path that would resolve outside the store (a symbolic link below the store root).
    case pathOutsideStore = "path_outside_store"
    /// A file the store expects to be regular is a FIFO, device, socket or directory.
    case notRegularFile = "not_regular_file"
    /// A declared size that the blob cannot hold (more bytes than its real size can produce).
    case sizeBeyondBlob = "size_beyond_blob"
    /// A blob the catalog names is missing.
    case missingBlob = "missing_blob"
    /// A blob whose size, HDF5 structure or dataset layout differs from the catalog.
    case corruption
    /// A tensor whose bytes do not match their SHA-256.
    case digestMismatch = "digest_mismatch"
    /// SQLite's integrity or foreign-key check failed.
    case catalogIntegrity = "catalog_integrity"
    /// A manifest records a save the catalog no longer holds.
    case catalogLoss = "catalog_loss"
    /// A manifest that cannot be read or breaks the manifest format.
    case unreadableManifest = "unreadable_manifest"
    /// A file or row nothing references (`gc` removes it).
    case orphan
    /// A file PrefixKit did not create (`gc` leaves it alone).
    case foreignFile = "foreign_file"
}
