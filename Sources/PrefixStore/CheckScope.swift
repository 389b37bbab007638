import Foundation
import GRDB

/// What ``Store/check(_:digests:record:isolation:progress:structureChecked:)`` covers.
public enum CheckScope: Sendable, Hashable {
    /// The whole store (`prefixkit check`): SQLite's integrity and foreign-key checks, every
    /// catalog row, blob and digest, the manifests and the leftovers.
    case store
    /// What these checkpoints read (`prefixkit verify`): their catalog rows and their bases',
    /// the rows those reference, the blobs holding their tensors, and those tensors' digests.
    /// Nothing else the store holds is read, so the cost does not grow with the store.
    case checkpoints([CheckpointInfo])

    /// The checkpoints' ids as the JSON array the scoped queries read through `json_each`
    /// (one argument however many checkpoints are selected).
    var arguments: StatementArguments {
        guard case .checkpoints(let infos) = self else { return StatementArguments() }
        return ["ids": "[" + infos.map { String($0.id) }.joined(separator: ",") + "]"]
    }

    private static let checkpointIDs = "SELECT value FROM json_each(:ids)"
    private static let baseFingerprints = "SELECT base_fingerprint FROM checkpoint WHERE id IN (\(checkpointIDs))"
    private static let tensorIDs = """
        SELECT tensor_id FROM checkpoint_tensor WHERE checkpoint_id IN (\(checkpointIDs))
        UNION SELECT tensor_id FROM base_tensor WHERE base_fingerprint IN (\(baseFingerprints))
        UNION SELECT tensor_id FROM base_file WHERE base_fingerprint IN (\(baseFingerprints))
        """

    /// The condition selecting the rows of `table` in scope (`nil`: every row), for a table of
    /// ``PrefixStoreRules/StoreRules/manifestTables``.
    func condition(_ table: String) -> String? {
        guard case .checkpoints = self else { return nil }
        switch table {
        case "checkpoint": return "id IN (\(Self.checkpointIDs))"
        case "checkpoint_tag", "checkpoint_tensor": return "checkpoint_id IN (\(Self.checkpointIDs))"
        case "base": return "fingerprint IN (\(Self.baseFingerprints))"
        case "base_tensor", "base_file": return "base_fingerprint IN (\(Self.baseFingerprints))"
        case "model": return "id IN (SELECT model_id FROM base WHERE fingerprint IN (\(Self.baseFingerprints)))"
        case "tensor": return "id IN (\(Self.tensorIDs))"
        case "blob": return "id IN (SELECT blob_id FROM tensor WHERE id IN (\(Self.tensorIDs)))"
        default: return "0"
        }
    }

    /// `SELECT * FROM table` restricted to the scope, then `suffix` (an `ORDER BY`).
    func select(_ table: String, _ suffix: String = "") -> String {
        "SELECT * FROM \(table)" + (condition(table).map { " WHERE \($0)" } ?? "") + (suffix.isEmpty ? "" : " " + suffix)
    }

    /// The references between catalog rows that a scoped check follows in place of SQLite's
    /// whole-catalog `foreign_key_check`: (table, column, parent table, parent column).
    static let references = [
        ("checkpoint", "base_fingerprint", "base", "fingerprint"),
        ("checkpoint_tag", "checkpoint_id", "checkpoint", "id"),
        ("checkpoint_tensor", "tensor_id", "tensor", "id"),
        ("base", "model_id", "model", "id"),
        ("base_tensor", "tensor_id", "tensor", "id"),
        ("base_file", "tensor_id", "tensor", "id"),
        ("tensor", "blob_id", "blob", "id"),
    ]

    /// Rows in scope whose reference points at no row, as messages.
    func danglingReferences(_ db: Database) throws -> [String] {
        var messages: [String] = []
        for (table, column, parent, key) in Self.references {
            let scoped = condition(table).map { "\($0) AND " } ?? ""
            let sql =
                "SELECT count(*) FROM \(table) WHERE \(scoped)\(column) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \(parent) WHERE \(key) = \(table).\(column))"
            let count = try Int.fetchOne(db, sql: sql, arguments: arguments) ?? 0
            if count > 0 { messages.append("foreign key: \(count) row(s) of \(table) reference a missing \(parent)") }
        }
        return messages
    }
}
