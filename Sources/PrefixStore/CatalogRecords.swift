import GRDB

// One record struct per catalog table; optionals exactly where a column is nullable.

/// A catalog row: Codable properties named as the table's snake_case columns.
protocol CatalogRecord: Codable, FetchableRecord, EncodableRecord {}

extension CatalogRecord {
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}

/// A row whose key is SQLite's rowid, learnt when it is inserted.
protocol RowIDRecord: MutablePersistableRecord {
    var id: Int64? { get set }
}

extension RowIDRecord {
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct ModelRecord: CatalogRecord, MutablePersistableRecord, RowIDRecord {
    static let databaseTableName = "model"
    var id: Int64?
    var configDigest: String
    var family: String
    /// The sorted-key JSON of the `ModelConfig`.
    var canonicalConfig: String
    var configJson: String
}

struct BlobRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "blob"
    var id: String
    var path: String
    var byteLength: Int64
    var createdAt: String
}

struct TensorRecord: CatalogRecord, MutablePersistableRecord, RowIDRecord {
    static let databaseTableName = "tensor"
    var id: Int64?
    var sha256: String
    var dtype: String
    var shape: String
    var byteLength: Int64
    var blobId: String
    var dataset: String
    var fileOffset: Int64?
}

struct BaseRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "base"
    var fingerprint: String
    var modelId: Int64
    var alias: String?
    var createdAt: String
    var sourceFormat: String
    var sourcePath: String?
    var toolVersion: String
    var weightsMetadata: String?
    var provenanceDetail: String?
}

struct BaseFileRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "base_file"
    var baseFingerprint: String
    var name: String
    var tensorId: Int64
}

struct BaseTensorRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "base_tensor"
    var baseFingerprint: String
    var name: String
    var tensorId: Int64
}

struct CheckpointRecord: CatalogRecord, MutablePersistableRecord, RowIDRecord {
    static let databaseTableName = "checkpoint"
    var id: Int64?
    var name: String
    var step: Int
    var baseFingerprint: String
    var parentId: Int64?
    var form: String
    var prefixLength: Int
    var numLayers: Int
    var prefixStart: Int
    var inputStart: Int
    var hasMlp: Bool
    var probeMeta: String?
    var createdAt: String
    var sourceFormat: String
    var sourcePath: String?
    var toolVersion: String
    var taskType: String?
    var prefixLayout: String
    var encoderLayers: Int
    var crossLayers: Int
    var encoderPrefixStart: Int
    var encoderInputStart: Int
    var provenanceDetail: String?
}

struct CheckpointTagRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "checkpoint_tag"
    var checkpointId: Int64
    var tag: String
}

struct CheckpointTensorRecord: CatalogRecord, PersistableRecord {
    static let databaseTableName = "checkpoint_tensor"
    var checkpointId: Int64
    var role: String
    var name: String
    var layer: Int?
    var ordinal: Int
    var tensorId: Int64
    var section: String?
}

struct CheckRunRecord: CatalogRecord, MutablePersistableRecord, RowIDRecord {
    static let databaseTableName = "check_run"
    var id: Int64?
    var kind: String
    var checkpointId: Int64?
    var startedAt: String
    var finishedAt: String
    var verdict: String
    var checksJson: String
    var toolVersion: String
}
