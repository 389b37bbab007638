import PrefixCompute
public import PrefixCore
import PrefixRuntime
public import PrefixStore

extension Store {
    /// Converts a hidden-form checkpoint to key/value form exactly and saves it as a new
    /// checkpoint whose provenance names the source.
    ///
    /// - Parameters:
    ///   - checkpoint: the hidden-form source.
    ///   - name: the new checkpoint's name (default: the source's name with `-kv`).
    ///   - step: its step (default: the source's).
    ///   - dtype: the dtype of the keys and values (default: the prefix's).
    ///   - verify: check the digest of every tensor the conversion reads (prefix and base).
    /// - Returns: the new checkpoint and what its save wrote.
    /// - Throws: ``PrefixCompute/ComputeError`` `.notInvertible` for a KV source, and the errors
    ///   of saving.
    @discardableResult
    public func saveKeyValueForm(
        of checkpoint: CheckpointInfo, name: String? = nil, step: Int? = nil,
        dtype: DType? = nil, verify: Bool = true
    ) throws -> CheckpointSaveResult {
        var content = try stack(for: checkpoint, verify: verify).keyValuePrefix(dtype: dtype)
        content.task = checkpoint.task
        content.head = try head(of: checkpoint, verify: verify)
        let spec = CheckpointSpec(
            name: name ?? "\(checkpoint.name)-kv", step: step ?? checkpoint.step,
            base: "base:" + checkpoint.baseFingerprint, parent: checkpoint.reference, tags: checkpoint.tags,
            provenance: Provenance(sourceFormat: "hidden-to-kv", sourcePath: checkpoint.reference))
        return try saveCheckpoint(content, as: spec)
    }
}
