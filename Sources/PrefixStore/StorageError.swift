public import PrefixStoreRules

/// An error raised by the store.
///
/// `description` is a single line that names the store file and, where one is involved, the
/// checkpoint and tensor; ``detailedDescription`` adds the chain of underlying causes (SQLite
/// messages with their SQL, libhdf5 error-stack frames, system errors).
public struct StorageError: Error, CustomStringConvertible {
    /// What went wrong, as a stable code.
    public enum Code: String, Sendable, CaseIterable {
        /// The store directory does not exist.
        case storeNotFound
        /// The directory exists but holds no PrefixKit catalog.
        case notAStore
        /// The catalog was written by a newer PrefixKit (an unknown migration).
        case newerSchema
        /// The catalog cannot be opened or read as SQLite.
        case corruptCatalog
        /// A blob file is missing, truncated or not valid HDF5.
        case corruptBlob
        /// A tensor's bytes do not match the digest or length recorded for it.
        case digestMismatch
        /// A blob dataset disagrees with the catalog (shape, dtype, offset).
        case structureMismatch
        /// Another writer holds the store for longer than the timeout.
        case storeLocked
        /// The store is read-only and the operation would write.
        case readOnly
        /// No checkpoint or base matches the reference given.
        case notFound
        /// A reference matches more than one base.
        case ambiguous
        /// A checkpoint with this name and step already exists.
        case alreadyExists
        /// Deleting would orphan checkpoints that still use the object.
        case inUse
        /// A value handed to the store is inconsistent (shapes, layer count, names).
        case invalidArgument
        /// A file-system operation failed.
        case io
        /// A catalog query failed.
        case database
        /// A value, path or file of the store breaks the rules of what PrefixKit writes (a
        /// manifest column that is not the schema's, a blob path outside `blobs/`, a symbolic
        /// link, a FIFO): refused before it is used. ``StorageError/finding`` says which rule.
        case hostileStore
    }

    /// The stable code.
    public var code: Code
    /// A sentence saying what went wrong.
    public var message: String
    /// The file concerned (catalog, blob or store directory).
    public var path: String?
    /// The checkpoint (`NAME@STEP`) or base (`base:FP`) concerned.
    public var reference: String?
    /// The tensor concerned (dotted key).
    public var tensor: String?
    /// The SQL statement that failed, for catalog errors.
    public var sql: String?
    /// The cause, if another error led to this one.
    public var underlying: (any Error)?
    /// Where in PrefixKit the error was raised.
    public var location: String
    /// For `.hostileStore` (and damage found in a blob), what `check` reports it as.
    public var finding: StoreFindingCode?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, path: String? = nil, reference: String? = nil,
        tensor: String? = nil, sql: String? = nil, underlying: (any Error)? = nil, finding: StoreFindingCode? = nil,
        fileID: StaticString = #fileID, line: UInt = #line
    ) {
        self.finding = finding
        self.code = code
        self.message = message
        self.path = path
        self.reference = reference
        self.tensor = tensor
        self.sql = sql
        self.underlying = underlying
        self.location = "\(fileID):\(line)"
    }

    /// A store value that breaks a rule, as a `.hostileStore` error naming the file it came from.
    public init(
        hostile rule: StoreRuleError, path: String? = nil, reference: String? = nil, fileID: StaticString = #fileID, line: UInt = #line
    ) {
        self.init(
            .hostileStore, "refused: \(rule.description)", path: path, reference: reference, finding: rule.code, fileID: fileID,
            line: line)
    }

    /// One line: the message, then the checkpoint or base, tensor and file it names.
    public var description: String {
        // The context the message does not already name, each once.
        var parts = [message]
        if let reference, !message.contains(reference) {
            parts.append(reference.hasPrefix("base:") ? "base \(reference)" : "checkpoint \(reference)")
        }
        if let tensor, !message.contains("'\(tensor)'") { parts.append("tensor '\(tensor)'") }
        if let path, !message.contains(path) { parts.append("file \(path)") }
        var text = parts.joined(separator: "; ")
        if let underlying, !(underlying is StorageError) {
            text += " (\(String(describing: underlying).split(separator: "\n").first ?? ""))"
        }
        return text
    }

    /// The description followed by every underlying cause, one per line.
    public var detailedDescription: String {
        var lines = [description + " [\(code.rawValue) at \(location)]"]
        if let sql { lines.append("  sql: \(sql)") }
        var cause = underlying
        var depth = 1
        while let current = cause {
            lines.append(String(repeating: "  ", count: depth) + "caused by: \(current)")
            if let hdf5 = current as? HDF5Error {
                for frame in hdf5.frames { lines.append(String(repeating: "  ", count: depth + 1) + frame) }
            }
            cause = (current as? StorageError)?.underlying
            depth += 1
        }
        return lines.joined(separator: "\n")
    }
}

// Errors are Sendable in Swift 6, and so is an `(any Error)?`: no unchecked conformance needed.
extension StorageError: Sendable {}
