import Foundation
import GRDB
public import PrefixCore
import PrefixStoreRules

extension Store {
    /// Saves a base model's weights, once: a base with the same fingerprint is not written again.
    ///
    /// The fingerprint is the SHA-256 of a canonical text listing the compute-relevant config
    /// (``ModelConfig`` as sorted-key JSON) and, sorted by name, every tensor's name, dtype,
    /// shape and SHA-256. Tensors already stored anywhere in the store (same digest, dtype and
    /// shape) are referenced, not rewritten.
    ///
    /// - Parameters:
    ///   - weights: the config and tensors.
    ///   - alias: a name usable instead of `base:FP`, if the base has none yet.
    ///   - provenance: where the weights came from.
    ///   - progress: called after each tensor with the bytes processed so far.
    /// - Returns: the stored base and what the save wrote.
    /// - Throws: ``StorageError`` `.invalidArgument` for an invalid config, name or duplicate
    ///   name; `.alreadyExists` when `alias` names another base; `.storeLocked`; `.io`.
    @discardableResult
    public func saveBase(
        _ weights: BaseWeights, alias: String? = nil, provenance: Provenance,
        progress: ProgressHandler? = nil
    ) throws(StorageError) -> BaseSaveResult {
        try saveBase(
            config: weights.config, configJSON: weights.configJSON, tensors: weights.tensors.map(LazyTensor.init),
            alias: alias, provenance: provenance, progress: progress)
    }

    /// Saves a base whose tensors are read one at a time as the save reaches them (a base
    /// larger than memory imports with a footprint of a few tensors), with the non-weight files
    /// of its Hugging Face directory and the `__metadata__` of its safetensors file.
    ///
    /// - Parameters:
    ///   - config: the compute-relevant configuration.
    ///   - configJSON: the original `config.json`.
    ///   - tensors: the weights, read lazily.
    ///   - files: tokenizer, generation config, vocab... stored content-addressed.
    ///   - weightsMetadata: the safetensors `__metadata__` entries, restored on export.
    ///   - alias: a name usable instead of `base:FP`.
    ///   - provenance: where the weights came from.
    ///   - progress: called after each tensor with the bytes processed so far.
    /// - Returns: the base, whether it was created, and the bytes written.
    /// - Throws: see ``saveBase(_:alias:provenance:progress:)``.
    @discardableResult
    public func saveBase(
        config: ModelConfig, configJSON: String, tensors: [LazyTensor], files: [BaseFile] = [],
        weightsMetadata: [(key: String, value: String)]? = nil, alias: String? = nil, provenance: Provenance,
        progress: ProgressHandler? = nil
    ) throws(StorageError) -> BaseSaveResult {
        do {
            try config.validate()
            if let alias { try Names.validate(name: alias, kind: "base alias") }
            var seen = Set<String>()
            for item in tensors {
                try Names.validate(tensorName: item.name)
                guard seen.insert(item.name).inserted else {
                    throw StorageError(.invalidArgument, "duplicate tensor name in base", tensor: item.name)
                }
                _ = try item.shape.byteCount(of: item.dtype)
            }
            var fileNames = Set<String>()
            for file in files {
                try Names.validate(tensorName: file.name)
                guard fileNames.insert(file.name).inserted else {
                    throw StorageError(.invalidArgument, "duplicate file name in base", tensor: file.name)
                }
            }
        } catch let error as CoreError {
            throw StorageError(.invalidArgument, error.description, underlying: error)
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.invalidArgument, "\(error)")
        }
        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }

        var pending = tensors.map { PendingTensor(key: $0.name, dataset: "/base/\($0.name)", tensor: $0) }
        for file in files {
            let bytes = file.bytes
            pending.append(
                PendingTensor(
                    key: "file \(file.name)", dataset: "/files/\(file.name)",
                    tensor: LazyTensor(
                        name: file.name, dtype: .u8, shape: Shape(arrayLiteral: bytes.count)
                    ) { try Tensor(dtype: .u8, shape: Shape([bytes.count]), bytes: bytes) }))
        }
        let batch = try writeBatch(pending, progress: progress)
        let fingerprint = try Store.fingerprint(config: config, tensors: tensors, digests: Array(batch.digests.prefix(tensors.count)))
        let configDigest = SHA256Digest.hex(of: try Store.canonicalJSON(config) + "\n" + configJSON)
        let metadataJSON = try weightsMetadata.map { pairs throws(StorageError) in
            try Store.canonicalJSON(pairs.map { [$0.key, $0.value] })
        }
        let created: Bool
        do {
            created = try write { db -> Bool in
                if try BaseRecord.fetchOne(db, key: fingerprint) != nil {
                    if let alias {
                        try db.execute(
                            sql: "UPDATE base SET alias = ? WHERE fingerprint = ? AND alias IS NULL", arguments: [alias, fingerprint])
                    }
                    return false
                }
                if let alias, try Int.fetchOne(db, sql: "SELECT 1 FROM base WHERE alias = ?", arguments: [alias]) != nil {
                    throw StorageError(.alreadyExists, "base alias '\(alias)' is already used by another base")
                }
                let ids = try batch.insert(db)
                let modelID = try Store.findOrInsertModel(db, config: config, json: configJSON, digest: configDigest)
                try BaseRecord(
                    fingerprint: fingerprint, modelId: modelID, alias: alias, createdAt: Store.timestamp(),
                    sourceFormat: provenance.sourceFormat, sourcePath: provenance.sourcePath,
                    toolVersion: provenance.toolVersion, weightsMetadata: metadataJSON, provenanceDetail: provenance.detailJSON
                ).insert(db)
                for (item, id) in zip(tensors, ids) {
                    try BaseTensorRecord(baseFingerprint: fingerprint, name: item.name, tensorId: id).insert(db)
                }
                for (file, id) in zip(files, ids.dropFirst(tensors.count)) {
                    try BaseFileRecord(baseFingerprint: fingerprint, name: file.name, tensorId: id).insert(db)
                }
                FaultInjection.point("save base: catalog rows inserted, before commit")
                return true
            }
        } catch {
            discard(batch)
            throw error
        }
        if !created { discard(batch) }
        FaultInjection.point("save base: committed")
        // After the commit, best effort (see saveCheckpoint); an existing base keeps its manifest.
        if created || FileSystem.kind(manifestPath(base: fingerprint)) == .missing { try? writeBaseManifest(fingerprint) }
        let info = try base("base:" + fingerprint)
        return BaseSaveResult(base: info, created: created, summary: batch.summary)
    }

    /// The non-weight files stored with a base.
    ///
    /// - Throws: the errors of ``load(_:verify:owner:populate:)``.
    public func files(of base: BaseInfo, verify: Bool = false) throws(StorageError) -> [BaseFile] {
        let entries = try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT bf.name, t.*, b.path AS blob_path FROM base_file bf JOIN tensor t ON t.id = bf.tensor_id
                    JOIN blob b ON b.id = t.blob_id WHERE bf.base_fingerprint = ? ORDER BY bf.name
                    """, arguments: [base.fingerprint]
            ).map { row in
                TensorEntry(
                    name: row["name"], role: "file", layer: nil, dtype: .u8, shape: [row["byte_length"]],
                    byteCount: row["byte_length"], sha256: row["sha256"], blobPath: row["blob_path"],
                    dataset: row["dataset"], fileOffset: row["file_offset"])
            }
        }
        var files: [BaseFile] = []
        for entry in entries {
            // The name becomes a file in an export's directory: one plain component only.
            do throws(StoreRuleError) { try StoreRules.fileName(entry.name) } catch {
                throw StorageError(hostile: error, path: catalogPath, reference: base.shortReference)
            }
            let tensor = try load(entry, verify: verify, owner: base.shortReference)
            files.append(BaseFile(name: entry.name, bytes: tensor.withUnsafeBytes { Array($0) }))
        }
        return files
    }

    /// The `__metadata__` of the safetensors file the base was imported from, if any.
    public func weightsMetadata(of base: BaseInfo) throws(StorageError) -> [(key: String, value: String)]? {
        let text = try read { db in
            try String.fetchOne(db, sql: "SELECT weights_metadata FROM base WHERE fingerprint = ?", arguments: [base.fingerprint])
        }
        guard let text, let data = text.data(using: .utf8), let pairs = try? JSONDecoder().decode([[String]].self, from: data) else {
            return nil
        }
        return pairs.compactMap { $0.count == 2 ? (key: $0[0], value: $0[1]) : nil }
    }

    /// Every stored base, oldest first.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func bases() throws(StorageError) -> [BaseInfo] {
        try read { db in
            try BaseRecord.order(Column("created_at"), Column("fingerprint")).fetchAll(db).map { try Store.baseInfo(db, $0) }
        }
    }

    /// The base a reference names: `base:FP` or a bare fingerprint prefix of at least 8 hex
    /// digits, or an alias.
    ///
    /// - Throws: ``StorageError`` `.notFound`, or `.ambiguous` when a prefix matches several.
    public func base(_ reference: String) throws(StorageError) -> BaseInfo {
        try read { db in try Store.resolveBase(db, reference) }
    }

    static func resolveBase(_ db: Database, _ reference: String) throws -> BaseInfo {
        var key = reference
        if key.hasPrefix("base:") { key.removeFirst(5) }
        if let record = try BaseRecord.filter(Column("alias") == key).fetchOne(db) {
            return try baseInfo(db, record)
        }
        let isHex = key.count >= 8 && key.count <= 64 && key.allSatisfy { $0.isHexDigit }
        if isHex {
            let matches = try BaseRecord.filter(sql: "fingerprint LIKE ?", arguments: [key.lowercased() + "%"]).fetchAll(db)
            if matches.count == 1 { return try baseInfo(db, matches[0]) }
            if matches.count > 1 {
                throw StorageError(
                    .ambiguous, "base reference '\(reference)' matches \(matches.count) bases; give more digits",
                    reference: "base:" + key)
            }
        }
        let hint = isHex || reference.hasPrefix("base:") ? "" : " (use base:FP with at least 8 hex digits, or an alias)"
        throw StorageError(.notFound, "no base matches '\(Names.printable(reference))'\(hint)")
    }

    static func baseInfo(_ db: Database, _ record: BaseRecord) throws -> BaseInfo {
        guard let model = try ModelRecord.fetchOne(db, key: record.modelId) else {
            throw StorageError(.corruptCatalog, "base \(record.fingerprint) has no model row")
        }
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT count(*) AS n, coalesce(sum(t.byte_length), 0) AS bytes
                FROM base_tensor bt JOIN tensor t ON t.id = bt.tensor_id WHERE bt.base_fingerprint = ?
                """, arguments: [record.fingerprint])
        return BaseInfo(
            fingerprint: record.fingerprint, alias: record.alias, config: try model.config(),
            configJSON: model.configJson, createdAt: record.createdAt,
            provenance: {
                var provenance = Provenance(
                    sourceFormat: record.sourceFormat, sourcePath: record.sourcePath, toolVersion: record.toolVersion)
                provenance.read(detail: record.provenanceDetail)
                return provenance
            }(),
            tensorCount: row?["n"] ?? 0, byteCount: row?["bytes"] ?? 0)
    }

    static func findOrInsertModel(_ db: Database, config: ModelConfig, json: String, digest: String) throws -> Int64 {
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM model WHERE config_digest = ?", arguments: [digest]) {
            return id
        }
        var record = try ModelRecord(config: config, json: json, digest: digest)
        try record.insert(db)
        return record.id ?? -1
    }

    /// The base fingerprint: SHA-256 of the canonical config and the sorted tensor list.
    static func fingerprint(config: ModelConfig, tensors: [LazyTensor], digests: [String]) throws(StorageError) -> String {
        var lines = ["prefixkit-base-fingerprint/1", try canonicalJSON(config)]
        let entries = zip(tensors, digests).sorted { $0.0.name < $1.0.name }
        for (item, digest) in entries {
            lines.append("\(item.name)\t\(item.dtype.rawValue)\t\(shapeText(item.shape))\t\(digest)")
        }
        return SHA256Digest.hex(of: lines.joined(separator: "\n") + "\n")
    }

    /// A stored base's fingerprint, recomputed from the catalog's digests of its tensors.
    ///
    /// - Throws: ``StorageError`` `.corruptCatalog` for a tensor shape no tensor can have,
    ///   `.invalidArgument` for a configuration with no canonical text.
    public static func baseFingerprint(config: ModelConfig, entries: [TensorEntry]) throws(StorageError) -> String {
        var tensors: [LazyTensor] = []
        for entry in entries {
            let shape: Shape
            do { shape = try Shape(entry.shape) } catch {
                throw StorageError(.corruptCatalog, "tensor '\(entry.name)' has the shape \(entry.shape): \(error.message)")
            }
            tensors.append(LazyTensor(name: entry.name, dtype: entry.dtype, shape: shape, load: { throw StorageError(.io, "not loaded") }))
        }
        return try fingerprint(config: config, tensors: tensors, digests: entries.map(\.sha256))
    }

    /// Sorted-key JSON of a value (the canonical text hashed into fingerprints).
    ///
    /// - Throws: ``StorageError`` `.invalidArgument` for a value JSON cannot spell (a non-finite
    ///   number): no two such values may share a fingerprint.
    static func canonicalJSON(_ value: some Encodable) throws(StorageError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try encoder.encode(value), as: UTF8.self) } catch {
            throw StorageError(.invalidArgument, "the value has no canonical JSON text (\(error)): it cannot be fingerprinted")
        }
    }
}

extension ModelRecord {
    init(config: ModelConfig, json: String, digest: String) throws(StorageError) {
        self.init(
            id: nil, configDigest: digest, family: config.family.rawValue, canonicalConfig: try Store.canonicalJSON(config),
            configJson: json)
    }

    func config() throws -> ModelConfig {
        do {
            return try JSONDecoder().decode(ModelConfig.self, from: Data(canonicalConfig.utf8))
        } catch {
            throw StorageError(.corruptCatalog, "model row \(id ?? -1) holds a configuration that does not decode: \(error)")
        }
    }
}
