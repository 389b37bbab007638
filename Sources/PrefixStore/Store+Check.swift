import Foundation
import GRDB
import PrefixCore
import PrefixStoreRules

extension Store {
    /// The blobs one inspector child reads before the next starts (a child per batch keeps
    /// the number of processes small while progress still moves on a large store).
    static let inspectionBatch = 2048

    /// Checks the store, or what some checkpoints read: catalog integrity and references, each
    /// blob's presence, size and HDF5 structure against the catalog, each tensor's SHA-256
    /// (unless `digests` is false), and, for the whole store, manifests and leftovers.
    ///
    /// Damage is reported as findings, not thrown: only a catalog that cannot be read at all
    /// throws.
    ///
    /// - Parameters:
    ///   - scope: the whole store (the default), or the checkpoints whose rows, blobs and
    ///     digests (and their bases') are checked, at a cost independent of the rest.
    ///   - digests: recompute every tensor's digest (the expensive part).
    ///   - record: save the result as a `check_run` row.
    ///   - isolation: where libhdf5 reads the blobs' metadata; `prefixkit` reads it in a child
    ///     process, so that damage which crashes or bloats libhdf5 is reported, not suffered.
    ///   - progress: called after each blob with the blob bytes checked so far and in all.
    ///   - structureChecked: called once the catalog, every blob's file and every blob's
    ///     structure are checked, before the first digest (a caller may then read the blobs
    ///     while their digests are computed).
    /// - Returns: every finding, errors first, with counts of what was checked.
    /// - Throws: ``StorageError`` when the catalog cannot be queried.
    public func check(
        _ scope: CheckScope = .store, digests: Bool = true, record: Bool = true, isolation: BlobIsolation = .inProcess,
        progress: ProgressHandler? = nil, structureChecked: (() -> Void)? = nil
    ) throws(StorageError) -> CheckReport {
        let started = Store.timestamp()
        var findings = CheckFindings()

        // 1. Catalog.
        try checkCatalog(scope, into: &findings)

        // 2-3. Blobs, structure and digests.
        let arguments = scope.arguments
        let (blobs, tensors, owners, counts) = try read { db in
            (
                try BlobRecord.fetchAll(db, sql: scope.select("blob", "ORDER BY path"), arguments: arguments),
                try TensorRecord.fetchAll(db, sql: scope.select("tensor", "ORDER BY blob_id, file_offset, id"), arguments: arguments),
                try Store.tensorOwners(db, scope),
                (
                    bases: try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(scope.select("base")))", arguments: arguments) ?? 0,
                    checkpoints: try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(scope.select("checkpoint")))", arguments: arguments)
                        ?? 0
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
        func done(_ blob: BlobRecord) {
            bytesDone += blob.byteLength
            progress?(bytesDone, totalBytes)
        }
        // Structure first, every blob (each file and size, then one inspector a batch of the
        // blobs that passed), so that nothing is hashed, or read by a caller waiting on
        // `structureChecked`, before its blob's structure is known.
        var toHash: [(blob: BlobRecord, tensors: [(TensorRecord, BlobExpectation)])] = []
        for batch in stride(from: 0, to: blobs.count, by: Store.inspectionBatch).map({
            blobs[$0..<min($0 + Store.inspectionBatch, blobs.count)]
        }) {
            var jobs: [(blob: BlobRecord, expectations: [(TensorRecord, BlobExpectation)])] = []
            for blob in batch {
                let before = findings.count
                if let expectations = checkBlobFile(blob, tensorsByBlob[blob.id] ?? [], owners: owners, into: &findings) {
                    jobs.append((blob, expectations))
                } else {
                    if findings.count > before, deletedSince(blob) { findings.removeSince(before) }
                    done(blob)
                }
            }
            let inspections = BlobInspector.inspect(
                jobs.map { ("\(directory)/\($0.blob.path)", $0.expectations.map(\.1)) }, isolation: isolation)
            for (job, inspection) in zip(jobs, inspections) {
                let before = findings.count
                let sound = checkStructure(job.blob, job.expectations, inspection, owners: owners, into: &findings)
                if findings.count > before, deletedSince(job.blob) { findings.removeSince(before) }
                if digests, !sound.isEmpty { toHash.append((job.blob, sound)) } else { done(job.blob) }
            }
        }
        structureChecked?()
        // Digests, one blob at a time per core (each hashes its tensors in file order).
        let structureBytes = bytesDone
        let hashList = toHash
        let hashOne = { (index: Int) -> (findings: CheckFindings, hashed: Int, bytes: Int64) in
            let (blob, sound) = hashList[index]
            var result = (findings: CheckFindings(), hashed: 0, bytes: Int64(0))
            for (tensor, expected) in sound {
                let names = owners[tensor.id ?? -1] ?? []
                let entry = TensorEntry(
                    name: names.first?.name ?? tensor.dataset, role: names.first?.role ?? "unreferenced", layer: nil,
                    dtype: expected.dtype, shape: expected.shape, byteCount: tensor.byteLength, sha256: tensor.sha256,
                    blobPath: blob.path, dataset: tensor.dataset, fileOffset: tensor.fileOffset)
                do throws(StorageError) {
                    _ = try self.load(entry, verify: true, owner: names.first?.owner)
                    result.hashed += 1
                    result.bytes += tensor.byteLength
                } catch let failure {
                    result.findings.error(
                        failure.code == .digestMismatch ? "digest" : "blob",
                        failure.finding ?? (failure.code == .digestMismatch ? .digestMismatch : .corruption), failure.message,
                        path: "\(self.directory)/\(blob.path)", owners: names.map(\.owner), tensor: entry.name)
                }
            }
            if result.findings.count > 0, deletedSince(blob) { result.findings = CheckFindings() }
            return result
        }
        let hashedSoFar = { (bytes: Int64) -> Void in progress?(bytes + structureBytes, totalBytes) }
        let digestsDone = DigestResults(count: hashList.count)
        // Safety: `hashOne` reads only values no thread writes (and the catalog, through its
        // pool); `hashedSoFar` runs under `digestsDone`'s lock, one call at a time.
        nonisolated(unsafe) let (work, told) = (hashOne, hashedSoFar)
        DispatchQueue.concurrentPerform(iterations: max(1, min(ProcessInfo.processInfo.activeProcessorCount, hashList.count))) { _ in
            while let index = digestsDone.take() {
                digestsDone.set(index, work(index), progress: told, bytes: hashList[index].blob.byteLength)
            }
        }
        for result in digestsDone.results {
            findings.append(result.findings)
            hashed += result.hashed
            bytesHashed += result.bytes
        }

        // 4-5. Leftovers and manifests: the whole store's, not a scope's.
        if case .store = scope {
            try checkLeftovers(blobs: blobs, tensors: tensors, owners: owners, readingHeldManifests: digests, into: &findings)
        }

        let sorted = findings.all.sorted { ($0.severity, $0.check) < ($1.severity, $1.check) }
        var report = CheckReport(
            store: directory, checkedAt: started, bases: counts.bases, checkpoints: counts.checkpoints,
            blobs: blobs.count, tensors: tensors.count, tensorsHashed: hashed, bytesHashed: bytesHashed,
            findings: sorted, recorded: false, passed: !sorted.contains { $0.severity == "error" })
        if case .checkpoints = scope {
            // Paths read from the catalog are listed (and printed) only once they pass the rules;
            // a refused one is a finding above.
            report.blobPaths = blobs.compactMap { blob in
                do throws(StoreRuleError) {
                    try StoreRules.blobPath(blob.path, id: blob.id)
                    return blob.path
                } catch {
                    return nil
                }
            }
        }
        if record {
            report.recorded =
                (try? recordRun(
                    kind: "check", checkpointID: nil, started: started, verdict: report.passed ? "pass" : "fail",
                    details: ["findings": report.findings.count, "tensors_hashed": hashed])) != nil
        }
        return report
    }

    /// SQLite's own checks (the whole store) or the scope's references, then every row in scope
    /// against the rules of what PrefixKit writes: a store someone else edited is found here,
    /// before any of its paths or names is used.
    private func checkCatalog(_ scope: CheckScope, into findings: inout CheckFindings) throws(StorageError) {
        if case .store = scope {
            let integrity = try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            for line in integrity where line != "ok" {
                findings.error("catalog", .catalogIntegrity, "SQLite integrity: \(line)", path: catalogPath)
            }
            let foreignKeys = try read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
            for row in foreignKeys {
                let table: String = row[0] ?? "?"
                let rowid: Int64 = row[1] ?? -1
                let parent: String = row[2] ?? "?"
                findings.error(
                    "catalog", .catalogIntegrity, "foreign key: row \(rowid) of \(table) references a missing \(parent)", path: catalogPath)
            }
        } else {
            for message in try read({ db in try scope.danglingReferences(db) }) {
                findings.error("catalog", .catalogIntegrity, message, path: catalogPath)
            }
        }
        for (table, problem) in try catalogRuleViolations(scope) {
            findings.error("catalog", problem.code, "\(table) row: \(problem.description)", path: catalogPath)
        }
    }

    /// A blob's path against the rules, its file's presence and size, and what the catalog says
    /// each of its tensors is: the expectations the inspector checks, or nil after a finding.
    private func checkBlobFile(
        _ blob: BlobRecord, _ blobTensors: [TensorRecord], owners: [Int64: [TensorOwner]], into findings: inout CheckFindings
    ) -> [(TensorRecord, BlobExpectation)]? {
        let path = "\(directory)/\(blob.path)"
        let blobOwners = Store.owners(of: blobTensors, owners)
        let size: UInt64
        do {
            try StoreRules.blobPath(blob.path, id: blob.id)
            size = try BlobFile(store: directory, relativePath: blob.path).size
        } catch let rule as StoreRuleError {
            findings.error("blob", rule.code, "refused: \(rule.description)", path: catalogPath, owners: blobOwners)
            return nil
        } catch let failure as StorageError {
            let code = failure.finding ?? (failure.code == .corruptBlob ? .missingBlob : .corruption)
            findings.error("blob", code, failure.message, path: path, owners: blobOwners)
            return nil
        } catch let other {
            findings.error("blob", .corruption, "\(other)", path: path, owners: blobOwners)
            return nil
        }
        guard size == UInt64(blob.byteLength) else {
            findings.error(
                "blob", .corruption, "blob file has \(size) bytes, the catalog recorded \(blob.byteLength)", path: path, owners: blobOwners)
            return nil
        }
        return blobTensors.compactMap { tensor -> (TensorRecord, BlobExpectation)? in
            guard let dtype = DType(rawValue: tensor.dtype), let shape = try? Store.parseShape(tensor.shape) else {
                let names = owners[tensor.id ?? -1] ?? []
                findings.error(
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
    }

    /// What the inspector saw of a blob against the catalog: a finding for each dataset that
    /// differs; the tensors whose structure is sound (none when the blob could not be read).
    private func checkStructure(
        _ blob: BlobRecord, _ expectations: [(TensorRecord, BlobExpectation)], _ inspection: BlobInspection,
        owners: [Int64: [TensorOwner]], into findings: inout CheckFindings
    ) -> [(TensorRecord, BlobExpectation)] {
        let path = "\(directory)/\(blob.path)"
        if let failure = inspection.failure {
            findings.error("blob", .corruption, failure, path: path, owners: Store.owners(of: expectations.map(\.0), owners))
            return []
        }
        return expectations.filter { tensor, _ in
            let names = owners[tensor.id ?? -1] ?? []
            let found =
                inspection.sizeProblems[tensor.dataset].map { ($0, StoreFindingCode.sizeBeyondBlob) }
                ?? inspection.problems[tensor.dataset].map { ($0, StoreFindingCode.corruption) }
            guard let (problem, code) = found else { return true }
            findings.error(
                "structure", code, "dataset \(tensor.dataset): \(problem)", path: path, owners: names.map(\.owner),
                tensor: names.first?.name ?? tensor.dataset)
            return false
        }
    }

    /// Files in the store the catalog does not know, manifests of saves it lost, and tensor
    /// rows nothing references. Without `readingHeldManifests` (`--quick`), the manifests of
    /// what the catalog holds are known by their names and not read.
    private func checkLeftovers(
        blobs: [BlobRecord], tensors: [TensorRecord], owners: [Int64: [TensorOwner]], readingHeldManifests: Bool,
        into findings: inout CheckFindings
    ) throws(StorageError) {
        let known = Set(blobs.map(\.path))
        let leftovers = leftovers(known: known)
        // Manifests: a save the catalog no longer holds is a possible catalog loss.
        let (manifests, unreadableManifests) = manifests(skipping: readingHeldManifests ? [] : try heldManifestNames())
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
            findings.error(
                "manifest", .catalogLoss,
                "possible catalog loss: \(manifest.reference) was saved (its manifest records it) but the catalog no longer holds it; run `prefixkit recover`",
                path: manifest.path, owners: [manifest.reference])
            for row in manifest.rows["blob"] ?? [] { if let path = row["path"]?.text { needed.insert("\(directory)/\(path)") } }
        }
        for problem in unreadableManifests {
            // A manifest that breaks the rules is an error: someone wrote it to be replayed.
            if problem.finding == .unreadableManifest {
                findings.warning(
                    "manifest", problem.finding, "unreadable manifest, recover cannot use it: \(problem.reason)", path: problem.path)
            } else {
                findings.error(
                    "manifest", problem.finding, "manifest refused, recover will not replay it: \(problem.reason)", path: problem.path)
            }
        }
        for leftover in leftovers.removable where !needed.contains(leftover) {
            findings.warning("orphan", .orphan, "leftover file not in the catalog (run gc)", path: leftover)
        }
        for file in leftovers.foreign {
            let link = FileSystem.kind(file) == .symlink
            findings.warning(
                "orphan", link ? .pathOutsideStore : .foreignFile,
                "file not created by PrefixKit (\(link ? "a symbolic link" : "unknown name or kind")): gc leaves it alone", path: file)
        }
        for tensor in tensors where owners[tensor.id ?? -1] == nil {
            findings.warning(
                "orphan", .orphan, "tensor row \(tensor.id ?? -1) is referenced by nothing (run gc)", path: catalogPath,
                tensor: tensor.dataset)
        }
    }

    /// Who owns any of `tensors`, sorted.
    private static func owners(of tensors: [TensorRecord], _ owners: [Int64: [TensorOwner]]) -> [String] {
        Array(Set(tensors.flatMap { owners[$0.id ?? -1]?.map(\.owner) ?? [] })).sorted()
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
    func catalogRuleViolations(_ scope: CheckScope = .store) throws(StorageError) -> [(String, StoreRuleError)] {
        try read { db in
            var violations: [(String, StoreRuleError)] = []
            for table in StoreRules.manifestTables {
                let cursor = try Row.fetchCursor(db, sql: scope.select(table), arguments: scope.arguments)
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

    /// For each tensor id in `scope`, who uses it: `(owner reference, role, name within owner)`.
    static func tensorOwners(_ db: Database, _ scope: CheckScope = .store) throws -> [Int64: [TensorOwner]] {
        var result: [Int64: [TensorOwner]] = [:]
        for row in try Row.fetchAll(
            db,
            sql: """
                SELECT ct.tensor_id, c.name || '@' || c.step AS owner, ct.role, ct.name
                FROM (\(scope.select("checkpoint_tensor"))) ct JOIN checkpoint c ON c.id = ct.checkpoint_id
                UNION ALL
                SELECT bt.tensor_id, 'base:' || substr(bt.base_fingerprint, 1, 12), 'base', bt.name FROM (\(scope.select("base_tensor"))) bt
                UNION ALL
                SELECT bf.tensor_id, 'base:' || substr(bf.base_fingerprint, 1, 12), 'file', bf.name FROM (\(scope.select("base_file"))) bf
                """, arguments: scope.arguments)
        {
            result[row[0], default: []].append((row[1], row[2], row[3]))
        }
        return result
    }
}
