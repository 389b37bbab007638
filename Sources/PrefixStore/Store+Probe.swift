import Foundation
import GRDB
public import PrefixCore

extension Store {
    /// Replaces a checkpoint's probe (reference inputs and activations, exchange-format keys)
    /// with `tensors` and `meta`. The checkpoint's prefix is untouched.
    ///
    /// - Throws: ``StorageError`` `.invalidArgument` for invalid names, `.storeLocked`, `.io`.
    public func setProbe(of checkpoint: CheckpointInfo, tensors: [NamedTensor], meta: String?) throws(StorageError) {
        do {
            for item in tensors { try Names.validate(tensorName: item.name) }
        } catch {
            throw StorageError(.invalidArgument, "\(error)", reference: checkpoint.reference)
        }
        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }
        let pending = tensors.map { PendingTensor(key: "probe.\($0.name)", dataset: "/probe/\($0.name)", tensor: LazyTensor($0)) }
        let batch = try writeBatch(pending)
        var summary = RemovalSummary()
        let files: [(path: String, bytes: Int64)]
        do {
            files = try write { db in
                let ids = try batch.insert(db)
                let base =
                    try Int.fetchOne(
                        db, sql: "SELECT coalesce(max(ordinal), -1) + 1 FROM checkpoint_tensor WHERE checkpoint_id = ? AND role != 'probe'",
                        arguments: [checkpoint.id]) ?? 0
                try db.execute(sql: "DELETE FROM checkpoint_tensor WHERE checkpoint_id = ? AND role = 'probe'", arguments: [checkpoint.id])
                for (offset, (item, id)) in zip(tensors, ids).enumerated() {
                    try CheckpointTensorRecord(
                        checkpointId: checkpoint.id, role: "probe", name: item.name, layer: nil, ordinal: base + offset,
                        tensorId: id
                    ).insert(db)
                }
                try db.execute(sql: "UPDATE checkpoint SET probe_meta = ? WHERE id = ?", arguments: [meta, checkpoint.id])
                return try Store.deleteUnreferenced(db, summary: &summary)
            }
        } catch {
            discard(batch)
            throw error
        }
        removeFiles(files, summary: &summary)
        try? writeCheckpointManifest(checkpoint.id)
    }
}
