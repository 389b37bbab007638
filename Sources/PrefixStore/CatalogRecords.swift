import GRDB

// One record struct per catalog table; optionals exactly where a column is nullable.

struct ModelRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "model"
    var id: Int64?
    var configDigest: String
    var family: String
    /// The sorted-key JSON of the `ModelConfig`.
    var canonicalConfig: String
    var configJson: String
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct BlobRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "blob"
    var id: String
    var path: String
    var byteLength: Int64
    var createdAt: String
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct TensorRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "tensor"
    var id: Int64?
    var sha256: String
    var dtype: String
    var shape: String
    var byteLength: Int64
    var blobId: String
    var dataset: String
    var fileOffset: Int64?
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct BaseRecord: Codable, FetchableRecord, PersistableRecord {
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
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct BaseFileRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "base_file"
    var baseFingerprint: String
    var name: String
    var tensorId: Int64
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct BaseTensorRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "base_tensor"
    var baseFingerprint: String
    var name: String
    var tensorId: Int64
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct CheckpointRecord: Codable, FetchableRecord, MutablePersistableRecord {
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
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

struct CheckpointTagRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "checkpoint_tag"
    var checkpointId: Int64
    var tag: String
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct CheckpointTensorRecord: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "checkpoint_tensor"
    var checkpointId: Int64
    var role: String
    var name: String
    var layer: Int?
    var ordinal: Int
    var tensorId: Int64
    var section: String?
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
}

struct CheckRunRecord: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "check_run"
    var id: Int64?
    var kind: String
    var checkpointId: Int64?
    var startedAt: String
    var finishedAt: String
    var verdict: String
    var checksJson: String
    var toolVersion: String
    static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}
