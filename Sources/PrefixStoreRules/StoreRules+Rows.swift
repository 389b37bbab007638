import PrefixCore

extension StoreRules {
    /// The tables a save manifest may hold rows of, in the order `recover` inserts them (blobs
    /// before the tensors in them, tensors before their owners).
    public static let manifestTables = [
        "blob", "tensor", "model", "base", "base_tensor", "base_file", "checkpoint", "checkpoint_tag", "checkpoint_tensor",
    ]

    /// The largest JSON document a catalog column holds (configs, trainer logs).
    public static let maxJSONBytes = 16 << 20

    /// Checks one catalog row of `table` as a manifest (or a second catalog) gives it: the
    /// table is one a manifest may hold, every column name is a plain identifier, and every
    /// value PrefixKit later uses as a path, a name, an id or a size meets its rule. Whether
    /// each column exists is for the catalog to check against its own schema.
    ///
    /// - Throws: ``StoreRuleError`` for the first value that breaks a rule.
    public static func row(_ row: [String: StoreValue], table: String) throws(StoreRuleError) {
        guard manifestTables.contains(table) else {
            throw StoreRuleError(.hostileValue, field: "manifest table", value: table, rule: "is not a table a manifest holds")
        }
        for column in row.keys.sorted() where !isIdentifier(column) {
            throw StoreRuleError(.hostileValue, field: "\(table) column", value: column, rule: "is not a column name")
        }
        func field(_ column: String) -> String { "\(table).\(column)" }
        func text(_ column: String, required: Bool = true) throws(StoreRuleError) -> String? {
            switch row[column] {
            case .text(let s): return s
            case .null, nil:
                if required {
                    throw StoreRuleError(.malformedValue, field: field(column), value: "null", rule: "is required")
                }
                return nil
            case .some(let other):
                throw StoreRuleError(.malformedValue, field: field(column), value: other.shown, rule: "is not text")
            }
        }
        func integer(_ column: String, required: Bool = true, minimum: Int64 = 0) throws(StoreRuleError) -> Int64? {
            switch row[column] {
            case .integer(let n):
                guard n >= minimum else {
                    throw StoreRuleError(.malformedValue, field: field(column), value: String(n), rule: "is below \(minimum)")
                }
                return n
            case .null, nil:
                if required { throw StoreRuleError(.malformedValue, field: field(column), value: "null", rule: "is required") }
                return nil
            case .some(let other):
                throw StoreRuleError(.malformedValue, field: field(column), value: other.shown, rule: "is not an integer")
            }
        }
        func json(_ column: String) throws(StoreRuleError) {
            if let s = try text(column, required: false), s.utf8.count > maxJSONBytes {
                throw StoreRuleError(
                    .malformedValue, field: field(column), value: String(s.prefix(40)), rule: "is longer than \(maxJSONBytes) bytes")
            }
        }
        func plain(_ columns: String...) throws(StoreRuleError) {
            for column in columns { if let s = try text(column, required: false) { try StoreRules.text(s, field: field(column)) } }
        }

        switch table {
        case "blob":
            let id = try text("id") ?? ""
            try blobPath(try text("path") ?? "", id: id)
            _ = try integer("byte_length", minimum: 1)
            try plain("created_at")
        case "tensor":
            _ = try integer("id", required: false)
            try digest(try text("sha256") ?? "", field: field("sha256"))
            let type = try dtype(try text("dtype") ?? "", field: field("dtype"))
            let dims = try shape(try text("shape") ?? "", field: field("shape"))
            try byteLength(try integer("byte_length") ?? -1, dtype: type, shape: dims, field: field("byte_length"))
            try blobID(try text("blob_id") ?? "", field: field("blob_id"))
            try dataset(try text("dataset") ?? "", field: field("dataset"))
            _ = try integer("file_offset", required: false)
        case "model":
            _ = try integer("id", required: false)
            try digest(try text("config_digest") ?? "", field: field("config_digest"))
            try plain("family", "norm_kind", "position_scheme", "activation", "rope_scaling_type")
            try json("canonical_config")
            try json("config_json")
        case "base":
            try digest(try text("fingerprint") ?? "", field: field("fingerprint"))
            _ = try integer("model_id")
            if let alias = try text("alias", required: false) { try name(alias, field: field("alias")) }
            try plain("created_at", "source_format", "source_path", "tool_version")
            try json("weights_metadata")
            try json("provenance_detail")
        case "base_tensor":
            try digest(try text("base_fingerprint") ?? "", field: field("base_fingerprint"))
            try tensorName(try text("name") ?? "", field: field("name"))
            _ = try integer("tensor_id")
        case "base_file":
            try digest(try text("base_fingerprint") ?? "", field: field("base_fingerprint"))
            try fileName(try text("name") ?? "", field: field("name"))
            _ = try integer("tensor_id")
        case "checkpoint":
            try name(try text("name") ?? "", field: field("name"))
            _ = try integer("step")
            try digest(try text("base_fingerprint") ?? "", field: field("base_fingerprint"))
            try plain("form", "prefix_layout", "task_type", "created_at", "source_format", "source_path", "tool_version")
            try json("probe_meta")
            try json("provenance_detail")
        case "checkpoint_tag":
            try name(try text("tag") ?? "", field: field("tag"))
        case "checkpoint_tensor":
            try tensorName(try text("name") ?? "", field: field("name"))
            try plain("role", "section")
            _ = try integer("layer", required: false)
            _ = try integer("tensor_id")
        default:
            break
        }
    }

    /// A tensor's name within its base or checkpoint (a dotted key).
    public static func tensorName(_ value: String, field: String) throws(StoreRuleError) {
        do { try Names.validate(tensorName: value) } catch {
            throw StoreRuleError(hostileOrMalformed(value), field: field, value: value, rule: "is not a tensor name (\(error.message))")
        }
    }

    /// A checkpoint reference `NAME@STEP` as a manifest records it.
    public static func reference(_ value: String, field: String) throws(StoreRuleError) -> (name: String, step: Int) {
        let parts = value.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let step = Int(parts[1]), step >= 0, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw StoreRuleError(hostileOrMalformed(value), field: field, value: value, rule: "is not NAME@STEP")
        }
        try name(String(parts[0]), field: field)
        return (String(parts[0]), step)
    }

    /// A SQL column name as the schema spells them: 1-64 characters of `a-z`, `0-9`, `_`,
    /// starting with a letter.
    public static func isIdentifier(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, bytes.count <= 64, (0x61...0x7a).contains(first) else { return false }
        return bytes.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5f }
    }
}
