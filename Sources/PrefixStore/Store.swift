import Foundation
import GRDB
import PrefixCore

#if canImport(Glibc)
    import Glibc
#endif

/// A PrefixKit store: a directory holding a SQLite catalog and immutable HDF5 blob files.
///
/// ```
/// STORE/
///   catalog.sqlite      SQLite (WAL): models, bases, checkpoints, tensors and their digests
///   blobs/<id>.h5       one HDF5 file per save; datasets /base/<hf name>, /prefix/layer_00[/key|/value],
///                       /mlp/<name>, /probe/<exchange key>, each with a `dtype` attribute
///   tmp/                blobs being written (removed by gc after a crash)
///   .lock               the single-writer lock
/// ```
///
/// A save writes its blob under `tmp/`, fsyncs it, renames it into `blobs/`, fsyncs the
/// directory and only then commits one catalog transaction: a checkpoint becomes visible only
/// once all its bytes are durable, and a crash at any moment leaves earlier checkpoints intact.
///
/// ```swift
/// let store = try Store.create(at: "/tmp/my-store")
/// let base = try store.saveBase(weights, provenance: Provenance(sourceFormat: "api"))
/// let saved = try store.saveCheckpoint(content, as: CheckpointSpec(name: "run", step: 1, base: base.base.shortReference))
/// let layer3 = try store.checkpoint("run@1").prefix(layer: 3)
/// ```
///
/// ## Topics
/// ### Opening
/// - ``create(at:compression:lockTimeout:)``
/// - ``open(at:lockTimeout:)``
/// ### Saving
/// - ``saveBase(_:alias:provenance:progress:)``
/// - ``saveCheckpoint(_:as:progress:)``
/// ### Reading
/// - ``bases()``
/// - ``checkpoints()``
/// - ``checkpoint(_:)``
/// - ``base(_:)``
/// ### Maintenance
/// - ``delete(_:cascade:allSteps:dryRun:)``
/// - ``gc(dryRun:progress:)``
/// - ``check(_:digests:record:isolation:progress:structureChecked:)``
public final class Store: Sendable {
    /// The store directory.
    public let directory: String
    /// Compression applied to new blobs (a per-store setting).
    public let compression: Compression
    /// How long a writer waits for another writer before failing, in seconds.
    public let lockTimeout: Double
    /// Whether the catalog could only be opened read-only (a read-only mount, immutable files):
    /// reads and checks work, writes fail.
    public let isReadOnly: Bool
    /// Why the store could only be opened for reading (`nil` when it is writable).
    public let readOnlyReason: String?
    let pool: DatabasePool

    var catalogPath: String { directory + "/catalog.sqlite" }
    var blobDirectory: String { directory + "/blobs" }
    var temporaryDirectory: String { directory + "/tmp" }

    private init(directory: String, pool: DatabasePool, compression: Compression, lockTimeout: Double, readOnlyReason: String?) {
        self.readOnlyReason = readOnlyReason
        let isReadOnly = readOnlyReason != nil
        self.directory = directory
        self.pool = pool
        self.compression = compression
        self.lockTimeout = lockTimeout
        self.isReadOnly = isReadOnly
    }

    /// Opens the store at `path`, creating it (directory and catalog) if it does not exist.
    ///
    /// A new store is built in a hidden directory beside `path` and renamed into place only once
    /// its catalog is complete, so a failure (a full disk) leaves nothing behind. `compression`
    /// applies only when the store is created; an existing store keeps its own.
    ///
    /// - Throws: ``StorageError`` `.notAStore` when `path` is a non-empty directory without a
    ///   catalog, `.io` when its parent directory does not exist or cannot be written, and the
    ///   errors of ``open(at:lockTimeout:)``.
    public static func create(at path: String, compression: Compression = .none, lockTimeout: Double = 10) throws(StorageError) -> Store {
        guard !path.isEmpty else { throw StorageError(.invalidArgument, "the store path is empty: name the store's directory") }
        var directory = Store.normalizePath(path)
        if FileSystem.kind(directory) == .symlink, FileSystem.isDirectory(directory) {
            // A link to the store's directory: build the store where it points, keep the link.
            directory = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        }
        switch FileSystem.kind(directory) {
        case .directory:
            if FileSystem.kind(directory + "/catalog.sqlite") != .missing {
                return try open(at: directory, lockTimeout: lockTimeout)
            }
            var contents = FileSystem.contents(of: directory)
            // An empty lock file from an older PrefixKit is all an unfinished store may hold.
            let lockSize = ((try? FileSystem.fileSize(directory + "/.lock")) ?? nil) ?? UInt64.max
            if contents == [".lock"], FileSystem.kind(directory + "/.lock") == .regular, lockSize <= 32 {
                FileSystem.discard(directory + "/.lock")
                contents = []
            }
            if !contents.isEmpty {
                throw StorageError(.notAStore, "directory is not empty and holds no PrefixKit catalog", path: directory)
            }
        case .missing:
            break
        default:
            throw StorageError(.notAStore, "not a directory", path: directory)
        }
        let parent = Paths.parent(directory)
        guard FileSystem.isDirectory(parent.isEmpty ? "." : parent) else {
            throw StorageError(.io, "the parent directory does not exist", path: parent)
        }
        let staging =
            (parent.isEmpty ? "." : parent) + "/.\((directory as NSString).lastPathComponent).creating-\(getpid())-\(newBlobID().prefix(8))"
        do throws(StorageError) {
            try FileSystem.makeDirectory(staging)
            try FileSystem.makeDirectory(staging + "/blobs")
            try FileSystem.makeDirectory(staging + "/tmp")
            do {
                let pool = try openPool(staging + "/catalog.sqlite", create: true)
                try CatalogMigrations.migrator.migrate(pool)
                try pool.write { db in
                    try db.execute(
                        sql: "INSERT INTO store_setting (key, value) VALUES ('compression', ?), ('created_at', ?), ('created_by', ?)",
                        arguments: [compression.description, Store.timestamp(), PrefixKitVersion.current])
                }
                // Fold the WAL into the database file: the new store is readable by anyone.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
                try pool.close()
            } catch let error as StorageError {
                throw error
            } catch {
                throw StorageError(.database, "cannot initialise the catalog", path: directory + "/catalog.sqlite", underlying: error)
            }
            try FileSystem.fsync(path: staging + "/catalog.sqlite")
            try FileSystem.fsyncDirectory(staging)
            // An empty directory at `path` is replaced; anything else there makes this fail.
            try FileSystem.rename(staging, directory)
            try FileSystem.fsyncDirectory(parent.isEmpty ? "." : parent)
        } catch {
            discardNewStore(at: staging)
            if FileSystem.kind(directory + "/catalog.sqlite") != .missing { return try open(at: directory, lockTimeout: lockTimeout) }
            throw error
        }
        return try open(at: directory, lockTimeout: lockTimeout)
    }

    /// Removes a store this process has just created and whose first command failed: only the
    /// names PrefixKit creates (catalog files, `.lock`, blob and partial files, `blobs/`, `tmp/`),
    /// then the directory if nothing else is left in it. Anything else stays.
    public static func discardNewStore(at path: String) {
        let directory = Store.normalizePath(path)
        guard FileSystem.kind(directory) == .directory else { return }
        for (sub, suffix) in [("blobs", ".h5"), ("tmp", ".h5.partial")] where FileSystem.kind("\(directory)/\(sub)") == .directory {
            for name in FileSystem.contents(of: "\(directory)/\(sub)")
            where isBlobName(name, suffix: suffix) && FileSystem.kind("\(directory)/\(sub)/\(name)") == .regular {
                FileSystem.discard("\(directory)/\(sub)/\(name)")
            }
            _ = rmdir("\(directory)/\(sub)")
        }
        let manifests = "\(directory)/manifests"
        for name in FileSystem.contents(of: manifests)
        where (name.hasPrefix("base-") || name.hasPrefix("checkpoint-") || name.hasPrefix("deleted-")) && name.hasSuffix(".json") {
            FileSystem.discard("\(manifests)/\(name)")
        }
        _ = rmdir(manifests)
        for name in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", ".lock"]
        where FileSystem.kind("\(directory)/\(name)") == .regular {
            FileSystem.discard("\(directory)/\(name)")
        }
        _ = rmdir(directory)
    }

    /// Opens an existing store, migrating an older catalog to the current schema.
    ///
    /// - Throws: ``StorageError`` `.storeNotFound`, `.notAStore`, `.corruptCatalog` (not a
    ///   SQLite database, or one whose tables are not PrefixKit's), `.newerSchema`.
    public static func open(at path: String, lockTimeout: Double = 10) throws(StorageError) -> Store {
        guard !path.isEmpty else { throw StorageError(.invalidArgument, "the store path is empty: name the store's directory") }
        let directory = Store.normalizePath(path)
        guard FileManager.default.fileExists(atPath: directory) else {
            throw StorageError(.storeNotFound, "no store at this path", path: directory)
        }
        guard FileSystem.isDirectory(directory) else {
            throw StorageError(.notAStore, "not a directory", path: directory)
        }
        let catalog = directory + "/catalog.sqlite"
        guard FileManager.default.fileExists(atPath: catalog) else {
            throw StorageError(.notAStore, "directory holds no PrefixKit catalog (catalog.sqlite)", path: directory)
        }
        try checkLayout(directory)
        var readOnly = false
        let pool: DatabasePool
        do {
            pool = try openPool(catalog, create: false)
        } catch  where error.code == .io || error.code == .database {
            // Not writable (a read-only mount, another user's store, a full disk): read it
            // without writing anything. With the -wal and -shm files PrefixKit keeps, SQLite
            // reads a WAL database read-only and sees every committed transaction.
            readOnly = true
            pool = try openReadOnly(catalog, cause: error)
        }
        let compressionText: String
        do {
            let migrator = CatalogMigrations.migrator
            let state = try pool.read { db in
                (
                    superseded: try migrator.hasBeenSuperseded(db),
                    complete: try migrator.hasCompletedMigrations(db),
                    applied: try migrator.appliedIdentifiers(db)
                )
            }
            if state.superseded {
                let unknown = state.applied.subtracting(CatalogMigrations.identifiers)
                throw StorageError(
                    .newerSchema,
                    "the catalog was written by a newer PrefixKit (unknown migrations: \(unknown.sorted().joined(separator: ", "))); upgrade PrefixKit to open it",
                    path: catalog)
            }
            if state.applied.isEmpty {
                throw StorageError(.notAStore, "catalog.sqlite holds no PrefixKit schema", path: catalog)
            }
            if !state.complete && readOnly {
                throw StorageError(.readOnly, "the catalog needs a schema migration but is read-only", path: catalog)
            }
            if !state.complete {
                let lock = try WriterLock(store: directory, timeout: lockTimeout)
                try migrator.migrate(pool)
                withExtendedLifetime(lock) {}
            }
            compressionText =
                try pool.read { db in
                    try String.fetchOne(db, sql: "SELECT value FROM store_setting WHERE key = 'compression'")
                } ?? "none"
        } catch let error as StorageError {
            throw error
        } catch {
            throw Store.catalogError(error, path: catalog)
        }
        return Store(
            directory: directory, pool: pool, compression: try Compression(parsing: compressionText), lockTimeout: lockTimeout,
            readOnlyReason: readOnly ? readOnlyReason(directory) : nil)
    }

    /// Refuses a store whose layout is not what PrefixKit makes: `catalog.sqlite` (and its
    /// `-wal`, `-shm`, `.lock`) must be regular files and `blobs/`, `tmp/` real directories, never
    /// symbolic links, so that nothing is ever written or deleted outside the store.
    ///
    /// - Throws: ``StorageError`` `.notAStore` naming the path that differs.
    static func checkLayout(_ directory: String) throws(StorageError) {
        func describe(_ kind: FileSystem.Kind) -> String {
            switch kind {
            case .missing: "missing"
            case .regular: "a file"
            case .directory: "a directory"
            case .symlink: "a symbolic link"
            case .other: "a special file"
            }
        }
        for name in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", ".lock"] {
            let kind = FileSystem.kind("\(directory)/\(name)")
            if kind != .regular && !(kind == .missing && name != "catalog.sqlite") {
                throw StorageError(
                    .notAStore, "the store's layout is not what PrefixKit made: \(name) is \(describe(kind)), expected a regular file",
                    path: "\(directory)/\(name)")
            }
        }
        for name in ["blobs", "tmp", "manifests"] {
            // Missing is fine (a copy that dropped empty directories); a save creates them.
            let kind = FileSystem.kind("\(directory)/\(name)")
            if kind != .directory && kind != .missing {
                throw StorageError(
                    .notAStore,
                    "the store's layout is not what PrefixKit made: \(name)/ is \(describe(kind)), expected a directory (PrefixKit never follows a link out of the store)",
                    path: "\(directory)/\(name)")
            }
        }
    }

    /// Why a store whose catalog would not open for writing is read-only, in words.
    static func readOnlyReason(_ directory: String) -> String {
        var info = statvfs()
        if statvfs(directory, &info) == 0 {
            if info.f_flag & UInt(ST_RDONLY) != 0 { return "the file system is read-only" }
            if info.f_bavail == 0 { return "the disk is full" }
        }
        if !FileManager.default.isWritableFile(atPath: directory + "/catalog.sqlite")
            || !FileManager.default.isWritableFile(atPath: directory)
        {
            return "no write permission"
        }
        return "the catalog cannot be opened for writing"
    }

    /// Opens the catalog without writing to it: read-only over the existing `-wal` and `-shm`,
    /// or, when they are gone, as an immutable file (exact only while no WAL holds pages the
    /// database file lacks).
    private static func openReadOnly(_ catalog: String, cause: StorageError) throws(StorageError) -> DatabasePool {
        let walSize = (try? FileSystem.fileSize(catalog + "-wal")) ?? nil
        if walSize != nil, FileSystem.kind(catalog + "-shm") == .regular {
            if let pool = try? openPool(catalog, create: false, readOnly: true) { return pool }
        }
        if let walSize, walSize > 0 {
            throw StorageError(
                .readOnly,
                "the catalog cannot be written and its write-ahead log has no shared-memory index; open the store once with write access",
                path: catalog, underlying: cause)
        }
        do {
            return try openPool(URL(fileURLWithPath: catalog).absoluteString + "?immutable=1", create: false, readOnly: true)
        } catch {
            throw cause.code == .database ? cause : error
        }
    }

    private static func openPool(_ path: String, create: Bool, readOnly: Bool = false) throws(StorageError) -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.readonly = readOnly
        if !readOnly {
            configuration.prepareDatabase { db in
                // Commits must be durable: a checkpoint is visible only once it survives power loss.
                try db.execute(sql: "PRAGMA synchronous = FULL")
                try SQLiteCalls.persistWAL(db)
            }
        }
        do {
            let pool = try DatabasePool(path: path, configuration: configuration)
            // Touch the file so a non-database is reported here, not on first use.
            _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") }
            return pool
        } catch {
            throw catalogError(error, path: path)
        }
    }

    static func catalogError(_ error: any Error, path: String) -> StorageError {
        if let error = error as? StorageError { return error }
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return StorageError(
                    .corruptCatalog, "the catalog is not a valid SQLite database (\(error.message ?? "corrupt"))",
                    path: path, sql: error.sql, underlying: error)
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return StorageError(.storeLocked, "the catalog is busy", path: path, sql: error.sql, underlying: error)
            case .SQLITE_FULL:
                return StorageError(
                    .io, "the disk is full: the catalog cannot grow (free some space and retry)", path: path, sql: error.sql,
                    underlying: error)
            case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM:
                return StorageError(
                    .io, "cannot open the catalog (\(error.message ?? "\(error.resultCode)"))", path: path, sql: error.sql,
                    underlying: error)
            default:
                return StorageError(
                    .database, "catalog query failed: \(error.message ?? "\(error.resultCode)")",
                    path: path, sql: error.sql, underlying: error)
            }
        }
        return StorageError(.database, "catalog access failed", path: path, underlying: error)
    }

    /// Runs a read on the catalog, mapping failures to ``StorageError``.
    func read<T>(_ body: (Database) throws -> T) throws(StorageError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw Store.catalogError(error, path: catalogPath)
        }
    }

    /// Runs a write transaction on the catalog, mapping failures to ``StorageError``, then folds
    /// the write-ahead log into the database file when no reader needs it (never waiting for
    /// readers), so that `catalog.sqlite` alone holds every commit.
    ///
    /// A `rehearsal` runs `body` in a transaction that is rolled back: what it finds, nothing it writes.
    func write<T>(rehearsal: Bool = false, _ body: (Database) throws -> T) throws(StorageError) -> T {
        if let readOnlyReason {
            throw StorageError(.readOnly, "the store cannot be written: \(readOnlyReason)", path: directory)
        }
        let result: T
        do {
            if rehearsal {
                var found: T?
                try pool.writeWithoutTransaction { db in
                    try db.inTransaction {
                        found = try body(db)
                        return .rollback
                    }
                }
                guard let found else { throw StorageError(.database, "the rehearsal found nothing") }
                result = found
            } else {
                result = try pool.write(body)
            }
        } catch {
            throw Store.catalogError(error, path: catalogPath)
        }
        checkpointWAL()
        return result
    }

    /// The writer lock, after checking that the store can be written at all.
    func writerLock() throws(StorageError) -> WriterLock {
        if let readOnlyReason {
            throw StorageError(.readOnly, "the store cannot be written: \(readOnlyReason)", path: directory)
        }
        return try WriterLock(store: directory, timeout: lockTimeout)
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)` without waiting: skipped while readers hold snapshots.
    func checkpointWAL() {
        try? pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = 10000") }
            _ = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// A path with `~` expanded and trailing slashes removed.
    public static func normalizePath(_ path: String) -> String {
        var path = (path as NSString).expandingTildeInPath
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// A time as the catalog records it: ISO 8601 with fractional seconds, UTC.
    public static func timestamp() -> String {
        let date = Date()
        var style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        style.timeZone = TimeZone(identifier: "UTC") ?? .current
        return date.formatted(style)
    }

    /// A fresh 32-hex-digit identifier for a blob file.
    static func newBlobID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
    }
}
