import Foundation
import GRDB
import PrefixCore
public import PrefixStoreRules

/// One problem ``Store/check(digests:record:isolation:progress:)`` found.
public struct CheckFinding: Sendable, Codable, Hashable {
    /// `error` (the store is damaged) or `warning` (leftovers that `gc` removes).
    public var severity: String
    /// Which check found it: `catalog`, `blob`, `structure`, `digest`, `manifest` or `orphan`.
    public var check: String
    /// What kind of problem it is, stable for scripts: a hostile or malformed value, a path
    /// outside the store, corruption, a missing blob ... (``StoreFindingCode``).
    public var code: StoreFindingCode
    /// What was found.
    public var message: String
    /// The file concerned.
    public var path: String?
    /// The checkpoints or bases that own the tensor concerned.
    public var owners: [String]?
    /// The tensor concerned.
    public var tensor: String?
}

/// The result of ``Store/check(digests:record:isolation:progress:)``.
public struct CheckReport: Sendable, Codable, Hashable {
    /// The store directory.
    public var store: String
    /// When the check ran (ISO 8601, UTC).
    public var checkedAt: String
    /// Catalog rows checked: bases.
    public var bases: Int
    /// Checkpoints.
    public var checkpoints: Int
    /// Blob files.
    public var blobs: Int
    /// Tensor rows.
    public var tensors: Int
    /// Tensors whose digest was recomputed.
    public var tensorsHashed: Int
    /// The bytes hashed.
    public var bytesHashed: Int64
    /// Everything found, errors first.
    public var findings: [CheckFinding]
    /// Whether the result was recorded in the catalog.
    public var recorded: Bool

    /// `true` when no finding is an error (warnings do not fail a check).
    public var passed: Bool
}

extension Store {
    /// Checks the whole store: catalog integrity and foreign keys, every blob's presence, size
    /// and HDF5 structure against the catalog, every tensor's SHA-256 (unless `digests` is
    /// false), and leftovers.
    ///
    /// Damage is reported as findings, not thrown: only a catalog that cannot be read at all
    /// throws.
    ///
    /// - Parameters:
    ///   - digests: recompute every tensor's digest (the expensive part).
    ///   - record: save the result as a `check_run` row.
    ///   - isolation: where libhdf5 reads the blobs' metadata; `prefixkit` reads it in a child
    ///     process, so that damage which crashes or bloats libhdf5 is reported, not suffered.
    ///   - progress: called after each blob with the blob bytes checked so far and in all.
    /// - Returns: every finding, errors first, with counts of what was checked.
    /// - Throws: ``StorageError`` when the catalog cannot be queried.
    public func check(
        digests: Bool = true, record: Bool = true, isolation: BlobIsolation = .inProcess, progress: ProgressHandler? = nil
    ) throws(StorageError) -> CheckReport {
        let started = Store.timestamp()
        var findings: [CheckFinding] = []
        func error(
            _ check: String, _ code: StoreFindingCode, _ message: String, path: String? = nil, owners: [String]? = nil,
            tensor: String? = nil
        ) {
            findings.append(
                CheckFinding(severity: "error", check: check, code: code, message: message, path: path, owners: owners, tensor: tensor))
        }
        func warning(_ check: String, _ code: StoreFindingCode, _ message: String, path: String? = nil, tensor: String? = nil) {
            findings.append(CheckFinding(severity: "warning", check: check, code: code, message: message, path: path, tensor: tensor))
        }

        // 1. Catalog.
        let integrity = try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
        for line in integrity where line != "ok" { error("catalog", .catalogIntegrity, "SQLite integrity: \(line)", path: catalogPath) }
        let foreignKeys = try read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        for row in foreignKeys {
            let table: String = row[0] ?? "?"
            let rowid: Int64 = row[1] ?? -1
            let parent: String = row[2] ?? "?"
            error("catalog", .catalogIntegrity, "foreign key: row \(rowid) of \(table) references a missing \(parent)", path: catalogPath)
        }
        // Every row's values against the rules of what PrefixKit writes: a store someone else
        // edited is found here, before any of its paths or names is used.
        for (table, problem) in try catalogRuleViolations() {
            error("catalog", problem.code, "\(table) row: \(problem.description)", path: catalogPath)
        }

        // 2-3. Blobs, structure and digests.
        let (blobs, tensors, owners, counts) = try read { db in
            (
                try BlobRecord.fetchAll(db, sql: "SELECT * FROM blob ORDER BY path"),
                try TensorRecord.fetchAll(db, sql: "SELECT * FROM tensor ORDER BY blob_id, file_offset, id"),
                try Store.tensorOwners(db),
                (
                    bases: try Int.fetchOne(db, sql: "SELECT count(*) FROM base") ?? 0,
                    checkpoints: try Int.fetchOne(db, sql: "SELECT count(*) FROM checkpoint") ?? 0
                )
            )
        }
        let tensorsByBlob = Dictionary(grouping: tensors, by: \.blobId)
        var hashed = 0
        var bytesHashed: Int64 = 0
        // A blob deleted by a concurrent delete or gc after the catalog snapshot was taken is
        // work in flight, not damage: its findings are dropped once the catalog confirms it.
        func deletedSince(_ blob: BlobRecord) -> Bool {
            (try? read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM blob WHERE id = ?", arguments: [blob.id]) }) == 0
        }
        let totalBytes = blobs.reduce(Int64(0)) { $0 + $1.byteLength }
        var bytesDone: Int64 = 0
        for blob in blobs {
            defer {
                bytesDone += blob.byteLength
                progress?(bytesDone, totalBytes)
            }
            let before = findings.count
            defer {
                if findings.count > before, deletedSince(blob) { findings.removeSubrange(before...) }
            }
            let path = "\(directory)/\(blob.path)"
            let blobTensors = tensorsByBlob[blob.id] ?? []
            let blobOwners = Array(Set(blobTensors.flatMap { owners[$0.id ?? -1]?.map(\.owner) ?? [] })).sorted()
            let size: UInt64
            do {
                try StoreRules.blobPath(blob.path, id: blob.id)
                size = try BlobFile(store: directory, relativePath: blob.path).size
            } catch let rule as StoreRuleError {
                error("blob", rule.code, "refused: \(rule.description)", path: catalogPath, owners: blobOwners)
                continue
            } catch let failure as StorageError {
                let code = failure.finding ?? (failure.code == .corruptBlob ? .missingBlob : .corruption)
                error("blob", code, failure.message, path: path, owners: blobOwners)
                continue
            } catch let other {
                error("blob", .corruption, "\(other)", path: path, owners: blobOwners)
                continue
            }
            guard size == UInt64(blob.byteLength) else {
                error(
                    "blob", .corruption, "blob file has \(size) bytes, the catalog recorded \(blob.byteLength)", path: path,
                    owners: blobOwners)
                continue
            }
            let expectations = blobTensors.compactMap { tensor -> (TensorRecord, BlobExpectation)? in
                guard let dtype = DType(rawValue: tensor.dtype), let shape = try? Store.parseShape(tensor.shape) else {
                    let names = owners[tensor.id ?? -1] ?? []
                    error(
                        "catalog", .malformedValue, "unknown dtype or malformed shape in the catalog", path: catalogPath,
                        owners: names.map(\.owner), tensor: names.first?.name ?? tensor.dataset)
                    return nil
                }
                return (
                    tensor,
                    BlobExpectation(
                        dataset: tensor.dataset, dtype: dtype, shape: shape.dimensions, byteLength: tensor.byteLength,
                        fileOffset: tensor.fileOffset)
                )
            }
            let inspection = BlobInspector.inspect([(path, expectations.map(\.1))], isolation: isolation)[0]
            if let failure = inspection.failure {
                error("blob", .corruption, failure, path: path, owners: blobOwners)
                continue
            }
            for (tensor, expected) in expectations {
                let names = owners[tensor.id ?? -1] ?? []
                let tensorOwners = names.map(\.owner)
                let tensorName = names.first?.name ?? tensor.dataset
                if let problem = inspection.sizeProblems[tensor.dataset] {
                    error(
                        "structure", .sizeBeyondBlob, "dataset \(tensor.dataset): \(problem)", path: path, owners: tensorOwners,
                        tensor: tensorName)
                    continue
                }
                if let problem = inspection.problems[tensor.dataset] {
                    error(
                        "structure", .corruption, "dataset \(tensor.dataset): \(problem)", path: path, owners: tensorOwners,
                        tensor: tensorName)
                    continue
                }
                let (dtype, shape) = (expected.dtype, expected.shape)
                guard digests else { continue }
                let entry = TensorEntry(
                    name: tensorName, role: names.first?.role ?? "unreferenced", layer: nil, dtype: dtype,
                    shape: shape, byteCount: tensor.byteLength, sha256: tensor.sha256,
                    blobPath: blob.path, dataset: tensor.dataset, fileOffset: tensor.fileOffset)
                do {
                    _ = try load(entry, verify: true, owner: tensorOwners.first)
                    hashed += 1
                    bytesHashed += tensor.byteLength
                } catch let failure {
                    error(
                        failure.code == .digestMismatch ? "digest" : "blob",
                        failure.finding ?? (failure.code == .digestMismatch ? .digestMismatch : .corruption), failure.message, path: path,
                        owners: tensorOwners, tensor: tensorName)
                }
            }
        }

        // 4. Leftovers.
        let known = Set(blobs.map(\.path))
        let leftovers = leftovers(known: known)
        // 5. Manifests: a save the catalog no longer holds is a possible catalog loss.
        let (manifests, unreadableManifests) = manifests()
        var needed = Set<String>()
        // A delete running beside this check buries its manifests before it commits: a manifest
        // whose file is gone (or buried) by the time the catalog lacks its rows is that delete.
        func stillRecorded(_ manifest: Manifest) -> Bool {
            let name = (manifest.path as NSString).lastPathComponent
            guard FileSystem.kind(manifest.path) == .regular else { return false }
            if let deletedAt = tombstones()[name], (manifest.writtenAt ?? "") <= deletedAt { return false }
            return true
        }
        for manifest in manifests where !((try? catalogHolds(manifest)) ?? true) && stillRecorded(manifest) {
            error(
                "manifest", .catalogLoss,
                "possible catalog loss: \(manifest.reference) was saved (its manifest records it) but the catalog no longer holds it; run `prefixkit recover`",
                path: manifest.path, owners: [manifest.reference])
            for row in manifest.rows["blob"] ?? [] { if let path = row["path"]?.text { needed.insert("\(directory)/\(path)") } }
        }
        for problem in unreadableManifests {
            // A manifest that breaks the rules is an error: someone wrote it to be replayed.
            if problem.finding == .unreadableManifest {
                warning("manifest", problem.finding, "unreadable manifest, recover cannot use it: \(problem.reason)", path: problem.path)
            } else {
                error("manifest", problem.finding, "manifest refused, recover will not replay it: \(problem.reason)", path: problem.path)
            }
        }
        for leftover in leftovers.removable where !needed.contains(leftover) {
            warning("orphan", .orphan, "leftover file not in the catalog (run gc)", path: leftover)
        }
        for file in leftovers.foreign {
            let link = FileSystem.kind(file) == .symlink
            warning(
                "orphan", link ? .pathOutsideStore : .foreignFile,
                "file not created by PrefixKit (\(link ? "a symbolic link" : "unknown name or kind")): gc leaves it alone", path: file)
        }
        for tensor in tensors where owners[tensor.id ?? -1] == nil {
            warning(
                "orphan", .orphan, "tensor row \(tensor.id ?? -1) is referenced by nothing (run gc)", path: catalogPath,
                tensor: tensor.dataset)
        }

        var report = CheckReport(
            store: directory, checkedAt: started, bases: counts.bases, checkpoints: counts.checkpoints,
            blobs: blobs.count, tensors: tensors.count, tensorsHashed: hashed, bytesHashed: bytesHashed,
            findings: findings.sorted { ($0.severity, $0.check) < ($1.severity, $1.check) }, recorded: false,
            passed: !findings.contains { $0.severity == "error" })
        if record {
            report.recorded =
                (try? recordRun(
                    kind: "check", checkpointID: nil, started: started, verdict: report.passed ? "pass" : "fail",
                    details: ["findings": report.findings.count, "tensors_hashed": hashed])) != nil
        }
        return report
    }

    /// Saves a verification result for a checkpoint in the catalog (`check_run`, kind `verify`).
    ///
    /// - Parameters:
    ///   - checkpoint: the checkpoint verified.
    ///   - started: when the verification started (``Store/timestamp()``).
    ///   - verdict: `pass`, `fail` or `unverified` (no check failed, but nothing independent of
    ///     PrefixKit checked the composition).
    ///   - details: counts to record with the run (checks, failed).
    /// - Throws: ``StorageError`` `.invalidArgument` for another verdict; when the catalog
    ///   cannot be written (e.g. a read-only store).
    public func recordVerification(checkpoint: CheckpointInfo, started: String, verdict: String, details: [String: Int])
        throws(StorageError)
    {
        guard ["pass", "fail", "unverified"].contains(verdict) else {
            throw StorageError(.invalidArgument, "unknown verdict '\(verdict)'", reference: checkpoint.reference)
        }
        try recordRun(kind: "verify", checkpointID: checkpoint.id, started: started, verdict: verdict, details: details)
    }

    /// The most recent check or verification runs of a checkpoint (newest first).
    public func runs(of checkpoint: CheckpointInfo, limit: Int = 5) throws(StorageError) -> [(
        kind: String, finishedAt: String, verdict: String, toolVersion: String
    )] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT kind, finished_at, verdict, tool_version FROM check_run WHERE checkpoint_id = ? ORDER BY id DESC LIMIT ?",
                arguments: [checkpoint.id, limit]
            ).map { ($0["kind"], $0["finished_at"], $0["verdict"], $0["tool_version"]) }
        }
    }

    /// Saves a check or verification result in the catalog.
    func recordRun(kind: String, checkpointID: Int64?, started: String, verdict: String, details: [String: Int]) throws(StorageError) {
        let json = try Store.canonicalJSON(details)
        try write { db in
            var run = CheckRunRecord(
                id: nil, kind: kind, checkpointId: checkpointID, startedAt: started, finishedAt: Store.timestamp(),
                verdict: verdict, checksJson: json, toolVersion: PrefixKitVersion.current)
            try run.insert(db)
        }
    }

    /// Every catalog row of the tables ``StoreRules`` covers that breaks a rule, with its table.
    func catalogRuleViolations() throws(StorageError) -> [(String, StoreRuleError)] {
        try read { db in
            var violations: [(String, StoreRuleError)] = []
            for table in StoreRules.manifestTables {
                let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM \(table)")
                while let row = try cursor.next() {
                    var values: [String: StoreValue] = [:]
                    for (column, value) in row {
                        switch value.storage {
                        case .null: values[column] = .null
                        case .int64(let n): values[column] = .integer(n)
                        case .double(let d): values[column] = .real(d)
                        case .string(let s): values[column] = .text(s)
                        case .blob(let b): values[column] = .bytes([UInt8](b))
                        }
                    }
                    do throws(StoreRuleError) { try StoreRules.row(values, table: table) } catch { violations.append((table, error)) }
                    if violations.count >= 1000 { return violations }
                }
            }
            return violations
        }
    }

    /// For each tensor id, who uses it: `(owner reference, role, name within owner)`.
    static func tensorOwners(_ db: Database) throws -> [Int64: [(owner: String, role: String, name: String)]] {
        var result: [Int64: [(owner: String, role: String, name: String)]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT ct.tensor_id, c.name || '@' || c.step AS owner, ct.role, ct.name
                FROM checkpoint_tensor ct JOIN checkpoint c ON c.id = ct.checkpoint_id
                UNION ALL
                SELECT bt.tensor_id, 'base:' || substr(bt.base_fingerprint, 1, 12), 'base', bt.name FROM base_tensor bt
                UNION ALL
                SELECT bf.tensor_id, 'base:' || substr(bf.base_fingerprint, 1, 12), 'file', bf.name FROM base_file bf
                """)
        {
            result[row[0], default: []].append((row[1], row[2], row[3]))
        }
        return result
    }
}
