/// One value of a catalog row as a manifest or another catalog holds it, independent of SQLite.
public enum StoreValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case bytes([UInt8])

    /// The text, if the value is text.
    public var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }

    /// The integer, if the value is an integer.
    public var integer: Int64? {
        if case .integer(let n) = self { return n }
        return nil
    }

    /// The value as it appears in a message.
    var shown: String {
        switch self {
        case .null: "null"
        case .integer(let n): String(n)
        case .real(let d): String(d)
        case .text(let s): s
        case .bytes(let b): "\(b.count) bytes"
        }
    }
}
