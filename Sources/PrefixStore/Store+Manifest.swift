import Foundation
import GRDB
import PrefixCore
import PrefixStoreRules

/// Save manifests: after every save commits, `manifests/<kind>-<key>.json` holds the catalog
/// rows that save made (the base or checkpoint, its tensors and blobs), so that a catalog that
/// loses committed transactions (a damaged write-ahead log, an old backup put back) can be told
/// apart from garbage and repaired by ``Store/recover(progress:)``. Deletes remove their manifests first;
/// other catalog-only changes (tags, recorded check runs) are not in them.
extension Store {
    var manifestDirectory: String { directory + "/manifests" }

    /// The manifest file of a base.
    func manifestPath(base fingerprint: String) -> String { "\(manifestDirectory)/base-\(fingerprint).json" }

    /// The manifest file of a checkpoint (named by a digest of `NAME@STEP`: names are free text).
    func manifestPath(checkpoint name: String, step: Int) -> String {
        "\(manifestDirectory)/checkpoint-\(SHA256Digest.hex(of: "\(name)@\(step)").prefix(32)).json"
    }

    /// The tombstone a delete leaves for a manifest it removed: `deleted-<manifest file name>`.
    func tombstonePath(forManifest path: String) -> String {
        "\(manifestDirectory)/deleted-\(URL(fileURLWithPath: path).lastPathComponent)"
    }

    /// Records that the object of the manifest at `path` was deleted (at this moment), then
    /// removes the manifest: `recover` never restores a manifest written before its tombstone,
    /// even when an old copy of it comes back (a backup, a tarball); a later save of the same
    /// `NAME@STEP` writes a newer manifest, which supersedes the tombstone.
    func bury(manifest path: String, reference: String) throws(StorageError) {
        let tombstone: [String: Any] = [
            "format": "prefixkit-tombstone", "version": 1, "deleted": reference, "deleted_at": Store.timestamp(),
        ]
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: tombstone, options: [.sortedKeys]) } catch {
            throw StorageError(.io, "cannot encode a tombstone", path: path, underlying: error)
        }
        try ensureManifestDirectory()
        try FileSystem.writeAtomically(data, to: tombstonePath(forManifest: path))
        try FileSystem.remove(path)
    }

    /// When each buried manifest's object was deleted, by manifest file name; unreadable
    /// tombstones are ignored (a tombstone only ever withholds a restore).
    func tombstones() -> [String: String] {
        var deleted: [String: String] = [:]
        for name in FileSystem.contents(of: manifestDirectory) where name.hasPrefix("deleted-") && name.hasSuffix(".json") {
            guard let bytes = try? FileSystem.readStoreFile("\(manifestDirectory)/\(name)", limit: 4096),
                let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                object["format"] as? String == "prefixkit-tombstone", let at = object["deleted_at"] as? String, at.utf8.count <= 64
            else { continue }
            deleted[String(name.dropFirst("deleted-".count))] = at
        }
        return deleted
    }

    /// Writes the manifest of base `fingerprint` from the committed catalog, durably.
    func writeBaseManifest(_ fingerprint: String) throws(StorageError) {
        let rows = try read { db -> [String: [[String: DatabaseValue]]] in
            let tensorIDs =
                "SELECT tensor_id FROM base_tensor WHERE base_fingerprint = :f UNION SELECT tensor_id FROM base_file WHERE base_fingerprint = :f"
            return [
                "base": try Store.rows(db, "SELECT * FROM base WHERE fingerprint = :f", fingerprint),
                "model": try Store.rows(
                    db, "SELECT * FROM model WHERE id = (SELECT model_id FROM base WHERE fingerprint = :f)", fingerprint),
                "base_tensor": try Store.rows(db, "SELECT * FROM base_tensor WHERE base_fingerprint = :f", fingerprint),
                "base_file": try Store.rows(db, "SELECT * FROM base_file WHERE base_fingerprint = :f", fingerprint),
                "tensor": try Store.rows(db, "SELECT * FROM tensor WHERE id IN (\(tensorIDs))", fingerprint),
                "blob": try Store.rows(
                    db, "SELECT * FROM blob WHERE id IN (SELECT blob_id FROM tensor WHERE id IN (\(tensorIDs)))", fingerprint),
            ]
        }
        try writeManifest(["kind": "base", "base": fingerprint], rows: rows, to: manifestPath(base: fingerprint))
    }

    /// Writes the manifest of checkpoint `id` from the committed catalog, durably.
    func writeCheckpointManifest(_ id: Int64) throws(StorageError) {
        let (info, parent, rows) = try read { db -> ((String, Int, String), String?, [String: [[String: DatabaseValue]]]) in
            let key = String(id)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT name, step, base_fingerprint, parent_id FROM checkpoint WHERE id = ?", arguments: [id])
            else {
                throw StorageError(.notFound, "checkpoint row \(id) vanished")
            }
            let parentID: Int64? = row["parent_id"]
            let parent = try parentID.flatMap {
                try String.fetchOne(db, sql: "SELECT name || '@' || step FROM checkpoint WHERE id = ?", arguments: [$0])
            }
            let tensorIDs = "SELECT tensor_id FROM checkpoint_tensor WHERE checkpoint_id = :f"
            return (
                (row["name"], row["step"], row["base_fingerprint"]), parent,
                [
                    "checkpoint": try Store.rows(db, "SELECT * FROM checkpoint WHERE id = :f", key),
                    "checkpoint_tag": try Store.rows(db, "SELECT * FROM checkpoint_tag WHERE checkpoint_id = :f", key),
                    "checkpoint_tensor": try Store.rows(db, "SELECT * FROM checkpoint_tensor WHERE checkpoint_id = :f", key),
                    "tensor": try Store.rows(db, "SELECT * FROM tensor WHERE id IN (\(tensorIDs))", key),
                    "blob": try Store.rows(
                        db, "SELECT * FROM blob WHERE id IN (SELECT blob_id FROM tensor WHERE id IN (\(tensorIDs)))", key),
                ]
            )
        }
        var header = ["kind": "checkpoint", "checkpoint": "\(info.0)@\(info.1)", "base": info.2]
        if let parent { header["parent"] = parent }
        try writeManifest(header, rows: rows, to: manifestPath(checkpoint: info.0, step: info.1))
    }

    private static func rows(_ db: Database, _ sql: String, _ key: String) throws -> [[String: DatabaseValue]] {
        try Row.fetchAll(db, sql: sql, arguments: ["f": key]).map { row in
            Dictionary(uniqueKeysWithValues: row.columnNames.map { ($0, row[$0] as DatabaseValue) })
        }
    }

    private func writeManifest(_ header: [String: String], rows: [String: [[String: DatabaseValue]]], to path: String) throws(StorageError)
    {
        var document: [String: Any] = ["format": "prefixkit-manifest", "version": 1, "written_at": Store.timestamp()]
        for (key, value) in header { document[key] = value }
        document["rows"] = rows.mapValues { $0.map { $0.mapValues(Store.jsonValue) } }
        let data: Data
        do { data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]) } catch {
            throw StorageError(.io, "cannot encode a manifest", path: path, underlying: error)
        }
        try ensureManifestDirectory()
        try FileSystem.writeAtomically(data, to: path)
        // A new save of a deleted NAME@STEP: its manifest supersedes the tombstone.
        FileSystem.discard(tombstonePath(forManifest: path))
    }

    func ensureManifestDirectory() throws(StorageError) {
        switch FileSystem.kind(manifestDirectory) {
        case .directory: return
        case .missing:
            guard mkdir(manifestDirectory, 0o755) == 0 || FileSystem.kind(manifestDirectory) == .directory else {
                throw FileSystem.errnoError("mkdir", manifestDirectory)
            }
        default: try Store.checkLayout(directory)
        }
    }

    static func jsonValue(_ value: DatabaseValue) -> Any {
        switch value.storage {
        case .null: NSNull()
        case .int64(let n): n
        case .double(let d): d
        case .string(let s): s
        case .blob(let b): ["blob": b.base64EncodedString()]
        }
    }

    /// The largest manifest PrefixKit reads (a base of tens of thousands of tensors is a few MB).
    static let maxManifestBytes = 64 << 20

    static func databaseValue(_ value: StoreValue) -> DatabaseValue {
        switch value {
        case .null: .null
        case .integer(let n): n.databaseValue
        case .real(let d): d.databaseValue
        case .text(let s): s.databaseValue
        case .bytes(let b): Data(b).databaseValue
        }
    }

    /// A manifest read back: its header fields and rows per table, every value checked
    /// against ``StoreRules``.
    struct Manifest {
        var path: String
        var kind: String
        var reference: String
        var base: String
        var parent: String?
        var writtenAt: String?
        var rows: [String: [[String: StoreValue]]]
    }

    /// A manifest that cannot be used, and why.
    struct ManifestProblem {
        var path: String
        var reason: String
        var finding: StoreFindingCode
    }

    /// Every manifest in the store; those that cannot be read, or break the rules of what
    /// PrefixKit writes, are returned as problems and never replayed. The files named in
    /// `skipping` (``heldManifestNames()``, for a quick check) are not read.
    func manifests(skipping held: Set<String> = []) -> (manifests: [Manifest], unreadable: [ManifestProblem]) {
        var manifests: [Manifest] = [], problems: [ManifestProblem] = []
        let buried = tombstones()
        for name in FileSystem.contents(of: manifestDirectory).sorted()
        where name.hasSuffix(".json") && !name.hasPrefix("deleted-") && !held.contains(name) {
            let path = "\(manifestDirectory)/\(name)"
            do {
                let manifest = try readManifest(path, name: name)
                // Written before its object was deleted: an old copy come back, not a lost save.
                if let deletedAt = buried[name], (manifest.writtenAt ?? "") <= deletedAt { continue }
                manifests.append(manifest)
            } catch {
                problems.append(
                    ManifestProblem(
                        path: path, reason: TerminalText.escape(error.message),
                        finding: error.finding ?? (error.code == .hostileStore ? .hostileValue : .unreadableManifest)))
            }
        }
        return (manifests, problems)
    }

    /// The file names of the manifests of every base and checkpoint the catalog holds.
    func heldManifestNames() throws(StorageError) -> Set<String> {
        try read { db in
            var names = Set<String>()
            for row in try Row.fetchAll(db, sql: "SELECT name, step FROM checkpoint") {
                names.insert(URL(fileURLWithPath: manifestPath(checkpoint: row[0], step: row[1])).lastPathComponent)
            }
            for fingerprint in try String.fetchAll(db, sql: "SELECT fingerprint FROM base") { names.insert("base-\(fingerprint).json") }
            return names
        }
    }

    /// Reads and checks one manifest: a bounded regular file that ``StoreManifest`` parses,
    /// named after the base or checkpoint it records.
    func readManifest(_ path: String, name: String) throws(StorageError) -> Manifest {
        let bytes = try FileSystem.readStoreFile(path, limit: Store.maxManifestBytes)
        let parsed: StoreManifest
        do { parsed = try StoreManifest.parse(bytes) } catch {
            if error.code == .unreadableManifest {
                throw StorageError(.hostileStore, "not a readable manifest: \(error.description)", path: path, finding: .unreadableManifest)
            }
            throw StorageError(hostile: error, path: path)
        }
        let expected =
            parsed.checkpoint.map { URL(fileURLWithPath: manifestPath(checkpoint: $0.name, step: $0.step)).lastPathComponent }
            ?? "base-\(parsed.base).json"
        guard name == expected else {
            throw StorageError(
                .hostileStore,
                "refused: the manifest of \(parsed.reference) is not named after it (\(expected)): another object's manifest, renamed?",
                path: path, finding: .hostileValue)
        }
        return Manifest(
            path: path, kind: parsed.kind, reference: parsed.kind == "base" ? "base:" + parsed.base : parsed.reference,
            base: parsed.base, parent: parsed.parent, writtenAt: parsed.writtenAt, rows: parsed.rows)
    }

    /// Whether the catalog holds what `manifest` records.
    func catalogHolds(_ manifest: Manifest) throws(StorageError) -> Bool {
        try read { db in
            if manifest.kind == "base" {
                return try Int.fetchOne(db, sql: "SELECT count(*) FROM base WHERE fingerprint = ?", arguments: [manifest.base]) == 1
            }
            guard let row = manifest.rows["checkpoint"]?.first, let name = row["name"]?.text, let step = row["step"]?.integer else {
                return false
            }
            return try Int.fetchOne(
                db, sql: "SELECT count(*) FROM checkpoint WHERE name = ? AND step = ? AND base_fingerprint = ?",
                arguments: [name, step, manifest.base]) == 1
        }
    }

    /// The blob paths the manifests name: never garbage while a manifest may need them.
    func manifestBlobPaths() -> Set<String> {
        Set(manifests().manifests.flatMap { ($0.rows["blob"] ?? []).compactMap { $0["path"]?.text } })
    }
}

/// What ``Store/recover(progress:)`` did.
public struct RecoverySummary: Sendable, Codable, Hashable {
    /// Bases and checkpoints put back into the catalog from their manifests.
    public var recovered: [String] = []
    /// Manifests already matched by the catalog.
    public var intact: Int = 0
    /// Manifests that could not be replayed, with the reason.
    public var failed: [String] = []
}

extension Store {
    /// Puts back every base and checkpoint whose manifest the catalog no longer matches (bases
    /// first, then checkpoints parent before child), after checking that each blob file the
    /// manifest names is present with its recorded size. Deletes and tag changes made after a
    /// save are not in manifests and are not replayed.
    ///
    /// - Throws: ``StorageError`` `.storeLocked`, `.readOnly`, catalog failures.
    @discardableResult
    public func recover(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws(StorageError) -> RecoverySummary {
        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }
        var summary = RecoverySummary()
        let (all, unreadable) = manifests()
        summary.failed += unreadable.map { "\($0.path): \($0.reason)" }
        // Bases, then checkpoints in order of step within a name (parents are earlier steps in
        // practice); a checkpoint whose parent is still missing is retried after the others.
        var queue = all.filter { $0.kind == "base" } + all.filter { $0.kind == "checkpoint" }.sorted { $0.reference < $1.reference }
        var advanced = true
        let total = queue.count
        var settled = 0
        while advanced && !queue.isEmpty {
            advanced = false
            var next: [Manifest] = []
            for manifest in queue {
                if try catalogHolds(manifest) {
                    summary.intact += 1
                    advanced = true
                    settled += 1
                    progress?(settled, total)
                    continue
                }
                do {
                    try replay(manifest)
                    summary.recovered.append(manifest.reference)
                    advanced = true
                    settled += 1
                } catch let error where error.code == .notFound {
                    next.append(manifest)
                } catch {
                    summary.failed.append("\(manifest.reference): \(error.message)")
                    advanced = true
                    settled += 1
                }
                progress?(settled, total)
            }
            queue = next
        }
        summary.failed += queue.map { "\($0.reference): its base or parent is missing and no manifest restores it" }
        return summary
    }

    private func replay(_ manifest: Manifest) throws(StorageError) {
        for row in manifest.rows["blob"] ?? [] {
            // Paths and lengths were checked by the rules when the manifest was read.
            let path = row["path"]?.text ?? "", length = row["byte_length"]?.integer ?? -1
            let blob: BlobFile
            do { blob = try BlobFile(store: directory, relativePath: path) } catch  where error.code == .corruptBlob {
                throw StorageError(.corruptBlob, "blob \(path) is missing", path: manifest.path)
            }
            guard Int64(blob.size) == length else {
                throw StorageError(.corruptBlob, "blob \(path) is not \(length) bytes", path: manifest.path)
            }
        }
        try write { db in
            if manifest.kind == "checkpoint" {
                guard try Int.fetchOne(db, sql: "SELECT count(*) FROM base WHERE fingerprint = ?", arguments: [manifest.base]) == 1 else {
                    throw StorageError(.notFound, "base \(manifest.base.prefix(12)) is missing")
                }
            }
            var tensorIDs: [Int64: Int64] = [:]
            var modelIDs: [Int64: Int64] = [:]
            var checkpointID: Int64?
            // Tables in the order rows must be inserted (blobs before tensors before their owners).
            for table in StoreRules.manifestTables {
                for var row in manifest.rows[table] ?? [] {
                    switch table {
                    case "blob":
                        if try Int.fetchOne(db, sql: "SELECT count(*) FROM blob WHERE id = ?", arguments: [row["id"]?.text]) == 1 {
                            continue
                        }
                    case "tensor":
                        // Content-addressed: the same tensor may be stored already.
                        let (old, id) = try Store.reuseOrInsert(
                            db, table, row, existing: "SELECT id FROM tensor WHERE sha256 = ? AND dtype = ? AND shape = ?",
                            [row["sha256"]?.text, row["dtype"]?.text, row["shape"]?.text])
                        tensorIDs[old] = id
                        continue
                    case "model":
                        let existing = "SELECT id FROM model WHERE config_digest = ?"
                        let (old, id) =
                            row["canonical_config"] == nil
                            ? try Store.reuseOrInsertLegacyModel(db, row, existing: existing)
                            : try Store.reuseOrInsert(db, table, row, existing: existing, [row["config_digest"]?.text])
                        modelIDs[old] = id
                        continue
                    case "base":
                        if let old = row["model_id"]?.integer, let id = modelIDs[old] { row["model_id"] = .integer(id) }
                    case "base_tensor", "base_file", "checkpoint_tensor":
                        if let old = row["tensor_id"]?.integer, let id = tensorIDs[old] { row["tensor_id"] = .integer(id) }
                        if table == "checkpoint_tensor" { row["checkpoint_id"] = checkpointID.map { .integer($0) } ?? .null }
                    case "checkpoint":
                        row["id"] = .null
                        row["parent_id"] = .null
                        if let parent = manifest.parent {
                            let parts = parent.split(separator: "@")
                            guard parts.count == 2, let step = Int(parts[1]),
                                let id = try Int64.fetchOne(
                                    db, sql: "SELECT id FROM checkpoint WHERE name = ? AND step = ?",
                                    arguments: [String(parts[0]), step])
                            else {
                                throw StorageError(.notFound, "parent \(parent) is missing")
                            }
                            row["parent_id"] = .integer(id)
                        }
                        try Store.insert(db, table, row)
                        checkpointID = db.lastInsertedRowID
                        continue
                    case "checkpoint_tag":
                        row["checkpoint_id"] = checkpointID.map { .integer($0) } ?? .null
                    default: break
                    }
                    try Store.insert(db, table, row)
                }
            }
        }
    }

    /// The row's id in the manifest, and its id in the catalog: the row that `existing` finds,
    /// or the row inserted under a fresh id.
    private static func reuseOrInsert(
        _ db: Database, _ table: String, _ row: [String: StoreValue], existing: String,
        _ arguments: [(any DatabaseValueConvertible)?]
    ) throws -> (old: Int64, new: Int64) {
        let old = row["id"]?.integer ?? -1
        if let found = try Int64.fetchOne(db, sql: existing, arguments: StatementArguments(arguments)) { return (old, found) }
        var fresh = row
        fresh["id"] = .null
        try insert(db, table, fresh)
        return (old, db.lastInsertedRowID)
    }

    /// As ``reuseOrInsert(_:_:_:existing:_:)`` for a `model` row of a manifest written before
    /// catalog migration v5 (typed columns): converted by the migration's own SQL.
    private static func reuseOrInsertLegacyModel(_ db: Database, _ row: [String: StoreValue], existing: String) throws -> (
        old: Int64, new: Int64
    ) {
        let old = row["id"]?.integer ?? -1
        if let found = try Int64.fetchOne(db, sql: existing, arguments: [row["config_digest"]?.text]) { return (old, found) }
        try db.execute(
            sql: """
                CREATE TEMP TABLE IF NOT EXISTS legacy_model (
                  id, config_digest, family, num_layers, hidden_size, num_heads, num_kv_heads, head_dim, intermediate_size,
                  norm_kind, norm_eps, position_scheme, max_positions, vocab_size, activation, rope_theta, rope_scaling_type,
                  rope_scaling_factor, tie_word_embeddings, attention_bias, sliding_window, config_json);
                DELETE FROM temp.legacy_model;
                """)
        var fresh = row
        fresh["id"] = .null
        try insert(db, "temp.legacy_model", fresh)
        try db.execute(
            sql: "INSERT INTO main.model (id, config_digest, family, canonical_config, config_json) "
                + CatalogMigrations.legacyModelRows(from: "temp.legacy_model"))
        let id = db.lastInsertedRowID
        try db.execute(sql: "DROP TABLE temp.legacy_model")
        return (old, id)
    }

    /// Inserts a manifest row. The SQL holds only the schema's own identifiers: the table is
    /// one of ``StoreRules/manifestTables`` (or the legacy staging table) and every column must
    /// be one the table has (`PRAGMA table_info`); values are bound, never pasted.
    private static func insert(_ db: Database, _ table: String, _ row: [String: StoreValue]) throws {
        guard StoreRules.manifestTables.contains(table) || table == "temp.legacy_model" else {
            throw StorageError(.hostileStore, "a manifest names table '\(TerminalText.escape(table))'", finding: .hostileValue)
        }
        let (schema, name) = table.hasPrefix("temp.") ? ("temp", String(table.dropFirst(5))) : ("main", table)
        let known = Set(
            try Row.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?, ?)", arguments: [name, schema]).map { $0[0] as String })
        let columns = row.keys.sorted()
        if let unknown = columns.first(where: { !known.contains($0) }) {
            throw StorageError(
                .hostileStore,
                "refused: a manifest row of \(name) names column '\(TerminalText.escape(String(unknown.prefix(80))))', which the table does not have",
                finding: .hostileValue)
        }
        let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))"
        try db.execute(sql: sql, arguments: StatementArguments(columns.map { row[$0].map(databaseValue) ?? .null }))
    }
}
