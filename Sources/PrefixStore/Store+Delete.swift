import Foundation
import GRDB
import PrefixCore

/// What ``Store/delete(_:cascade:allSteps:dryRun:)`` or ``Store/gc(dryRun:progress:)`` removed.
public struct RemovalSummary: Sendable, Codable, Hashable {
    /// Checkpoints deleted (`NAME@STEP`).
    public var checkpoints: [String] = []
    /// Bases deleted (fingerprints).
    public var bases: [String] = []
    /// Tensor rows no longer referenced, deleted.
    public var tensors: Int = 0
    /// Blob files removed.
    public var blobFiles: Int = 0
    /// Leftover temporary or unreferenced files removed.
    public var leftoverFiles: Int = 0
    /// Bytes freed on disk.
    public var bytesFreed: Int64 = 0
    /// Whether this is what a dry run found: nothing was removed, the counts say what would be.
    public var dryRun = false
}

extension Store {
    /// Deletes a checkpoint (`NAME`, `NAME@STEP`) or a base (`base:FP` or alias).
    ///
    /// A base that checkpoints use, or a checkpoint that others name as parent, is deleted only
    /// with `cascade`, which deletes those dependents too. Blob files are removed only when no
    /// remaining tensor references them, after the catalog transaction commits.
    ///
    /// - Parameters:
    ///   - reference: the checkpoint or base.
    ///   - cascade: delete what depends on it too.
    ///   - allSteps: delete every step of the checkpoint's name (a parent among them is no
    ///     dependent; one of another name is, and needs `cascade`).
    ///   - dryRun: remove nothing; the summary says what would go and the bytes it would free.
    /// - Returns: what was deleted (or, for a dry run, would be) and the bytes freed.
    /// - Throws: ``StorageError`` `.notFound`, `.inUse` (listing the dependents), `.storeLocked`.
    @discardableResult
    public func delete(_ reference: String, cascade: Bool = false, allSteps: Bool = false, dryRun: Bool = false) throws(StorageError)
        -> RemovalSummary
    {
        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }
        let isBase = reference.hasPrefix("base:") ? true : try checkpointIfPresent(reference) == nil
        if isBase, allSteps {
            throw StorageError(.invalidArgument, "--all-steps deletes the steps of a checkpoint name, not a base", reference: reference)
        }
        var summary = RemovalSummary()
        summary.dryRun = dryRun
        let files: [(path: String, bytes: Int64)] = try write(rehearsal: dryRun) { db in
            if isBase {
                let base = try Store.resolveBase(db, reference)
                let users = try String.fetchAll(
                    db, sql: "SELECT name || '@' || step FROM checkpoint WHERE base_fingerprint = ? ORDER BY name, step",
                    arguments: [base.fingerprint])
                if !users.isEmpty && !cascade {
                    throw StorageError(
                        .inUse,
                        "base is used by \(users.count) checkpoint(s): \(users.prefix(5).joined(separator: ", "))\(users.count > 5 ? ", …" : ""); pass --cascade to delete them too",
                        reference: base.shortReference)
                }
                summary.checkpoints = users
                summary.bases = [base.fingerprint]
                try db.execute(sql: "DELETE FROM base WHERE fingerprint = ?", arguments: [base.fingerprint])
            } else {
                let info = try Store.resolveCheckpoint(db, reference)
                let ids =
                    allSteps
                    ? try Int64.fetchAll(db, sql: "SELECT id FROM checkpoint WHERE name = ? ORDER BY step", arguments: [info.name])
                    : [info.id]
                let targets = try String.fetchAll(
                    db,
                    sql:
                        "SELECT name || '@' || step FROM checkpoint WHERE id IN (\(ids.map(String.init).joined(separator: ","))) ORDER BY step"
                )
                let descendants = try String.fetchAll(
                    db,
                    sql: """
                        WITH RECURSIVE d(id) AS (SELECT id FROM checkpoint WHERE parent_id IN (\(ids.map(String.init).joined(separator: ",")))
                                                UNION SELECT c.id FROM checkpoint c JOIN d ON c.parent_id = d.id)
                        SELECT name || '@' || step FROM checkpoint WHERE id IN d ORDER BY name, step
                        """
                ).filter { !targets.contains($0) }
                if !descendants.isEmpty && !cascade {
                    let named = allSteps ? info.name : info.reference
                    throw StorageError(
                        .inUse,
                        "\(Names.printable(named)) is the parent of \(descendants.prefix(5).joined(separator: ", "))\(descendants.count > 5 ? ", …" : ""); pass --cascade to delete them too",
                        reference: named)
                }
                summary.checkpoints = targets + descendants
                try db.execute(sql: "DELETE FROM checkpoint WHERE id IN (\(ids.map(String.init).joined(separator: ",")))")
            }
            if dryRun { return try Store.deleteUnreferenced(db, summary: &summary) }
            // The manifests are buried before the commit: a deleted object is never brought back,
            // not even by an old copy of its manifest (a tombstone outlives it).
            for reference in summary.checkpoints {
                let parts = reference.split(separator: "@")
                if parts.count == 2, let step = Int(parts[1]) {
                    try bury(manifest: manifestPath(checkpoint: String(parts[0]), step: step), reference: reference)
                }
            }
            for fingerprint in summary.bases { try bury(manifest: manifestPath(base: fingerprint), reference: "base:" + fingerprint) }
            return try Store.deleteUnreferenced(db, summary: &summary)
        }
        removeFiles(files, summary: &summary, dryRun: dryRun)
        return summary
    }

    /// Deletes tensor, blob and model rows nothing references any more; returns the blob files
    /// to unlink once the transaction commits.
    static func deleteUnreferenced(_ db: Database, summary: inout RemovalSummary) throws -> [(path: String, bytes: Int64)] {
        try db.execute(
            sql: """
                DELETE FROM tensor WHERE id NOT IN (SELECT tensor_id FROM base_tensor)
                                     AND id NOT IN (SELECT tensor_id FROM checkpoint_tensor)
                                     AND id NOT IN (SELECT tensor_id FROM base_file)
                """)
        summary.tensors += db.changesCount
        let blobs = try BlobRecord.fetchAll(db, sql: "SELECT * FROM blob WHERE id NOT IN (SELECT blob_id FROM tensor)")
        try db.execute(sql: "DELETE FROM blob WHERE id NOT IN (SELECT blob_id FROM tensor)")
        try db.execute(sql: "DELETE FROM model WHERE id NOT IN (SELECT model_id FROM base)")
        return blobs.map { ($0.path, $0.byteLength) }
    }

    func removeFiles(_ files: [(path: String, bytes: Int64)], summary: inout RemovalSummary, dryRun: Bool = false) {
        for file in files {
            // Only what a save created: a regular file named like a blob, inside blobs/. A failure
            // here only leaves an unreferenced file, which gc removes later.
            let path = "\(directory)/\(file.path)"
            guard file.path.hasPrefix("blobs/"), Store.isBlobName(String(file.path.dropFirst(6)), suffix: ".h5"),
                FileSystem.kind(path) == .regular
            else { continue }
            if dryRun || (try? FileSystem.remove(path)) != nil {
                summary.blobFiles += 1
                summary.bytesFreed += file.bytes
            }
        }
    }

    /// Removes what a crash or an interrupted save can leave behind: temporary blobs, blob files
    /// the catalog does not know, and catalog rows nothing references.
    ///
    /// Takes the writer lock, so it never removes the blob of a save in progress.
    ///
    /// - Parameters:
    ///   - dryRun: remove nothing; the summary says what would go and the bytes it would free.
    ///   - progress: called after each leftover file with those handled so far and in all.
    /// - Returns: what was removed (or, for a dry run, would be) and the bytes freed.
    /// - Throws: ``StorageError`` `.storeLocked`, `.io`.
    @discardableResult
    public func gc(dryRun: Bool = false, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws(StorageError)
        -> RemovalSummary
    {
        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }
        var summary = RemovalSummary()
        summary.dryRun = dryRun
        let files = try write(rehearsal: dryRun) { db in try Store.deleteUnreferenced(db, summary: &summary) }
        removeFiles(files, summary: &summary, dryRun: dryRun)
        let known = Set(try read { db in try String.fetchAll(db, sql: "SELECT path FROM blob") })
        // Blob files a manifest names are kept: the catalog may have lost their rows (recover).
        let needed = Set(manifestBlobPaths().map { "\(directory)/\($0)" })
        let removable = leftovers(known: known).removable.filter { !needed.contains($0) }
        for (index, leftover) in removable.enumerated() {
            let size = (try? FileSystem.fileSize(leftover)) ?? nil
            if !dryRun { try FileSystem.remove(leftover) }
            summary.leftoverFiles += 1
            summary.bytesFreed += Int64(size ?? 0)
            progress?(index + 1, removable.count)
        }
        return summary
    }

    /// Files under `tmp/` and `blobs/` that the catalog does not know: `removable` are names
    /// PrefixKit creates (`tmp/<id>.h5.partial`, `blobs/<id>.h5`) that are regular files;
    /// `foreign` is everything else, which PrefixKit never deletes (absolute paths).
    func leftovers(known: Set<String>) -> (removable: [String], foreign: [String]) {
        var removable: [String] = [], foreign: [String] = []
        for (directory, suffix) in [(temporaryDirectory, ".h5.partial"), (blobDirectory, ".h5")] {
            for name in FileSystem.contents(of: directory).sorted() {
                let path = "\(directory)/\(name)"
                if directory == blobDirectory && known.contains("blobs/\(name)") { continue }
                if Store.isBlobName(name, suffix: suffix) && FileSystem.kind(path) == .regular {
                    removable.append(path)
                } else {
                    foreign.append(path)
                }
            }
        }
        return (removable, foreign)
    }

    /// Whether `name` is 32 lowercase hex digits followed by `suffix`: what a save creates.
    static func isBlobName(_ name: String, suffix: String) -> Bool {
        guard name.hasSuffix(suffix) else { return false }
        let id = name.utf8.dropLast(suffix.utf8.count)
        return id.count == 32 && id.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

extension Store {
    /// The total size of the blob files the catalog knows.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func blobBytes() throws(StorageError) -> Int64 {
        try read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(sum(byte_length), 0) FROM blob") ?? 0 }
    }
}
