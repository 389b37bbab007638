import Foundation
import GRDB
public import PrefixCore
import PrefixStoreRules

extension Store {
    /// The catalog entries of a checkpoint's tensors (prefix, then MLP, then probe), without
    /// reading any bytes.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func tensorEntries(of checkpoint: CheckpointInfo) throws(StorageError) -> [TensorEntry] {
        try read { db in
            try Store.entries(
                db,
                sql: """
                    SELECT ct.name, ct.role, ct.layer, coalesce(ct.section, CASE ct.role WHEN 'prefix' THEN 'decoder' END) AS section,
                      t.*, b.path AS blob_path
                    FROM checkpoint_tensor ct JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id
                    WHERE ct.checkpoint_id = ?
                    ORDER BY ct.ordinal
                    """, arguments: [checkpoint.id])
        }
    }

    /// The catalog entries of a base's tensors, by name, without reading any bytes.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func tensorEntries(of base: BaseInfo) throws(StorageError) -> [TensorEntry] {
        try read { db in
            try Store.entries(
                db,
                sql: """
                    SELECT bt.name, 'base' AS role, NULL AS layer, t.*, b.path AS blob_path
                    FROM base_tensor bt JOIN tensor t ON t.id = bt.tensor_id JOIN blob b ON b.id = t.blob_id
                    WHERE bt.base_fingerprint = ? ORDER BY bt.name
                    """, arguments: [base.fingerprint])
        }
    }

    private static func entries(_ db: Database, sql: String, arguments: StatementArguments) throws -> [TensorEntry] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            let dtypeText: String = row["dtype"]
            let name: String = row["name"]
            guard let dtype = DType(rawValue: dtypeText) else {
                throw StorageError(.corruptCatalog, "unknown dtype '\(dtypeText)' in the catalog", tensor: name)
            }
            let shape = try parseShape(row["shape"])
            return TensorEntry(
                name: name, role: row["role"], layer: row["layer"], dtype: dtype, shape: shape.dimensions,
                byteCount: row["byte_length"], sha256: row["sha256"], blobPath: row["blob_path"],
                dataset: row["dataset"], fileOffset: row["file_offset"],
                section: row.hasColumn("section") ? (row["section"] as String?).flatMap(PrefixSection.init(rawValue:)) : nil)
        }
    }

    /// The absolute path of `entry`'s blob, once it has opened as a regular file inside the
    /// store (its path `blobs/<id>.h5`, no symbolic link, no FIFO): for copying its bytes by path.
    ///
    /// - Throws: ``StorageError`` `.hostileStore`, `.corruptBlob` (missing), `.io`.
    public func blobFilePath(_ entry: TensorEntry) throws(StorageError) -> String {
        try BlobFile(store: directory, relativePath: entry.blobPath).path
    }

    /// Reads one tensor's bytes.
    ///
    /// Uncompressed tensors are mapped from their blob, zero-copy; compressed ones are read
    /// through libhdf5. With `verify`, the bytes are hashed and compared with the catalog.
    ///
    /// - Parameters:
    ///   - entry: the tensor's catalog entry.
    ///   - verify: whether to check the SHA-256.
    ///   - owner: the checkpoint or base reference, named in errors.
    ///   - populate: map every page up front (faster when every byte will be read); `false` for
    ///     tables of which only a few rows are read, so that only those pages are loaded.
    /// - Returns: the tensor.
    /// - Throws: ``StorageError`` `.corruptBlob` (missing or truncated blob),
    ///   `.structureMismatch`, `.digestMismatch`, `.io`.
    public func load(_ entry: TensorEntry, verify: Bool = false, owner: String? = nil, populate: Bool = true) throws(StorageError) -> Tensor
    {
        let path = "\(directory)/\(entry.blobPath)"
        let shape: Shape
        do {
            shape = try Shape(entry.shape)
            guard try shape.byteCount(of: entry.dtype) == Int(entry.byteCount) else {
                throw StorageError(
                    .corruptCatalog, "catalog byte length \(entry.byteCount) does not match \(entry.dtype) \(shape)",
                    path: catalogPath, reference: owner, tensor: entry.name)
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(
                .corruptCatalog, "invalid shape in the catalog", path: catalogPath, reference: owner, tensor: entry.name, underlying: error)
        }
        let tensor: Tensor
        do {
            if entry.byteCount == 0 {
                tensor = try Tensor(zeros: entry.dtype, shape: shape)
            } else {
                let blob = try BlobFile(store: directory, relativePath: entry.blobPath)
                if let offset = entry.fileOffset {
                    guard offset >= 0, UInt64(offset) + UInt64(entry.byteCount) <= blob.size else {
                        throw StorageError(
                            .corruptBlob,
                            "blob file is truncated: tensor needs bytes up to \(offset + entry.byteCount), file has \(blob.size)",
                            path: path, reference: owner, tensor: entry.name)
                    }
                    let region = try MappedRegion(
                        blob: blob, offset: UInt64(offset), length: Int(entry.byteCount), populate: populate)
                    tensor = try Tensor(dtype: entry.dtype, shape: shape, storage: TensorStorage(borrowing: region.bytes, owner: region))
                } else {
                    tensor = try readThroughHDF5(entry, blob: blob, shape: shape, owner: owner)
                }
            }
        } catch let error as StorageError {
            var error = error
            if error.reference == nil { error.reference = owner }
            if error.tensor == nil { error.tensor = entry.name }
            throw error
        } catch {
            throw StorageError(.io, "cannot read tensor", path: path, reference: owner, tensor: entry.name, underlying: error)
        }
        if verify {
            let digest = tensor.withUnsafeBytes { SHA256Digest.hex(of: $0) }
            if digest != entry.sha256 {
                throw StorageError(
                    .digestMismatch,
                    "tensor bytes do not match their digest in store \(directory) (sha256 expected \(entry.sha256.prefix(16))…, found \(digest.prefix(16))…)",
                    path: path, reference: owner, tensor: entry.name)
            }
        }
        return tensor
    }

    private func readThroughHDF5(_ entry: TensorEntry, blob: BlobFile, shape: Shape, owner: String?) throws(StorageError) -> Tensor {
        let path = blob.path
        let reader = try HDF5BlobReader(blob: blob)
        defer { reader.close() }
        do {
            let info = try reader.info(entry.dataset, expecting: entry.dtype)
            guard info.matchesType, info.dimensions == entry.shape else {
                throw StorageError(
                    .structureMismatch,
                    "dataset \(entry.dataset) holds \(info.dimensions) of another type than the catalog's \(entry.dtype) \(entry.shape)",
                    path: path, reference: owner, tensor: entry.name)
            }
            if let problem = HDF5BlobReader.expansionProblem(info, byteLength: entry.byteCount, fileSize: blob.size) {
                throw StorageError(
                    .hostileStore, "dataset \(entry.dataset) \(problem)", path: path, reference: owner, tensor: entry.name,
                    finding: .sizeBeyondBlob)
            }
            let storage = try TensorStorage(uninitializedByteCount: Int(entry.byteCount)) { buffer throws(HDF5Error) in
                try reader.read(entry.dataset, dtype: entry.dtype, into: buffer)
            }
            return try Tensor(dtype: entry.dtype, shape: shape, storage: storage)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(
                .corruptBlob, "cannot read dataset \(entry.dataset)", path: path, reference: owner, tensor: entry.name, underlying: error)
        }
    }

    /// One layer's prefix, reading only that layer's tensors (never the base weights).
    ///
    /// - Throws: ``StorageError`` `.notFound` for a layer out of range, and the errors of
    ///   ``load(_:verify:owner:populate:)``.
    public func prefix(of checkpoint: CheckpointInfo, layer: Int, section: PrefixSection = .decoder, verify: Bool = false)
        throws(StorageError) -> LayerPrefix
    {
        let entries = try tensors(
            of: checkpoint, where: "ct.role = 'prefix' AND ct.layer = ? AND coalesce(ct.section, 'decoder') = ? ORDER BY ct.name",
            arguments: [layer, section.rawValue])
        return try layerPrefix(entries, form: checkpoint.form, layer: layer, checkpoint: checkpoint, verify: verify)
    }

    /// The entries of `checkpoint`'s tensors that `condition` (SQL over `ct`, the checkpoint's
    /// tensor rows, with its `arguments` after the checkpoint's id) selects.
    private func tensors(of checkpoint: CheckpointInfo, where condition: String, arguments: [(any DatabaseValueConvertible)?])
        throws(StorageError) -> [TensorEntry]
    {
        try read { db in
            try Store.entries(
                db,
                sql: """
                    SELECT ct.name, ct.role, ct.layer, t.*, b.path AS blob_path
                    FROM checkpoint_tensor ct JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id
                    WHERE ct.checkpoint_id = ? AND \(condition)
                    """, arguments: StatementArguments([checkpoint.id] + arguments))
        }
    }

    /// The checkpoint's task head tensors (empty when it has none).
    ///
    /// - Throws: the errors of ``load(_:verify:owner:populate:)``.
    public func head(of checkpoint: CheckpointInfo, verify: Bool = false) throws(StorageError) -> [NamedTensor] {
        let entries = try tensors(of: checkpoint, where: "ct.role = 'head' ORDER BY ct.ordinal", arguments: [])
        var head: [NamedTensor] = []
        for entry in entries { head.append(NamedTensor(entry.name, try load(entry, verify: verify, owner: checkpoint.reference))) }
        return head
    }

    private func layerPrefix(
        _ entries: [TensorEntry], form: PrefixForm, layer: Int, checkpoint: CheckpointInfo,
        verify: Bool
    ) throws(StorageError) -> LayerPrefix {
        let owner = checkpoint.reference
        switch form {
        case .hidden:
            guard entries.count == 1 else {
                throw StorageError(
                    .notFound, "no prefix for layer \(layer) (the checkpoint has \(checkpoint.numLayers) layers)", reference: owner)
            }
            return .hidden(try load(entries[0], verify: verify, owner: owner))
        case .kv:
            guard let key = entries.first(where: { $0.name.hasSuffix(".key") }),
                let value = entries.first(where: { $0.name.hasSuffix(".value") })
            else {
                throw StorageError(
                    .notFound, "no key/value prefix for layer \(layer) (the checkpoint has \(checkpoint.numLayers) layers)",
                    reference: owner)
            }
            return .kv(key: try load(key, verify: verify, owner: owner), value: try load(value, verify: verify, owner: owner))
        }
    }

    /// The whole checkpoint: every layer's prefix, the MLP and the probe.
    ///
    /// - Throws: the errors of ``load(_:verify:owner:populate:)``.
    public func load(_ checkpoint: CheckpointInfo, verify: Bool = false) throws(StorageError) -> CheckpointContent {
        let entries = try tensorEntries(of: checkpoint)
        func sectionLayers(_ section: PrefixSection, _ count: Int) throws(StorageError) -> [LayerPrefix] {
            var layers: [LayerPrefix] = []
            for layer in 0..<count {
                layers.append(
                    try layerPrefix(
                        entries.filter { $0.role == "prefix" && $0.layer == layer && ($0.section ?? .decoder) == section },
                        form: checkpoint.form, layer: layer, checkpoint: checkpoint, verify: verify))
            }
            return layers
        }
        let layers = try sectionLayers(.decoder, checkpoint.numLayers)
        var mlp: [NamedTensor] = []
        var probe: [NamedTensor] = []
        var head: [NamedTensor] = []
        for entry in entries where entry.role != "prefix" {
            let tensor = try load(entry, verify: verify, owner: checkpoint.reference)
            switch entry.role {
            case "mlp": mlp.append(NamedTensor(entry.name, tensor))
            case "head": head.append(NamedTensor(entry.name, tensor))
            default: probe.append(NamedTensor(entry.name, tensor))
            }
        }
        let meta = try read { db in
            try String.fetchOne(db, sql: "SELECT probe_meta FROM checkpoint WHERE id = ?", arguments: [checkpoint.id])
        }
        var content = CheckpointContent(
            form: checkpoint.form, prefixLength: checkpoint.prefixLength, positions: checkpoint.positions,
            layers: layers, mlp: mlp, probe: probe, probeMeta: meta, task: checkpoint.task, head: head)
        content.layout = checkpoint.layout
        content.encoderLayers = try sectionLayers(.encoder, checkpoint.encoderLayers)
        content.crossLayers = try sectionLayers(.cross, checkpoint.crossLayers)
        content.encoderPositions = checkpoint.encoderPositions
        return content
    }

    /// The whole base: config and every tensor.
    ///
    /// - Throws: the errors of ``load(_:verify:owner:populate:)``.
    public func load(_ base: BaseInfo, verify: Bool = false) throws(StorageError) -> BaseWeights {
        var tensors: [NamedTensor] = []
        for entry in try tensorEntries(of: base) {
            tensors.append(NamedTensor(entry.name, try load(entry, verify: verify, owner: base.shortReference)))
        }
        return BaseWeights(config: base.config, configJSON: base.configJSON, tensors: tensors)
    }
}
