import Foundation
import GRDB
import TestSupport
import Testing

@testable import PrefixStore

@Suite("Catalog schema and migrations")
struct CatalogSchemaTests {
    private func schema(of path: String) throws -> String {
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT sql || ';' FROM sqlite_master
                    WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' AND sql IS NOT NULL ORDER BY rowid
                    """
            ).joined(separator: "\n")
        }
    }

    @Test("the migrated catalog matches schemas/catalog.sql")
    func matchesSchemaFile() throws {
        let dir = TemporaryDirectory()
        _ = try Store.create(at: dir.path + "/s")
        let file = try String(contentsOfFile: Processes.repositoryRoot + "/schemas/catalog.sql", encoding: .utf8)
        let expected = file.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("--") }.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try schema(of: dir.path + "/s/catalog.sqlite") == expected)
    }

    @Test("the catalog runs in WAL mode with foreign keys enforced")
    func walAndForeignKeys() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let mode = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        let error = #expect(throws: DatabaseError.self) {
            try store.pool.write { db in
                try db.execute(
                    sql: "INSERT INTO base_tensor (base_fingerprint, name, tensor_id) VALUES (?, 'x', 1)",
                    arguments: [String(repeating: "a", count: 64)])
            }
        }
        #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY)
    }

    @Test("a catalog from a newer PrefixKit is refused with a clear error")
    func newerSchemaRefused() throws {
        let dir = TemporaryDirectory()
        _ = try Store.create(at: dir.path + "/s")
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        let error = #expect(throws: StorageError.self) { try Store.open(at: dir.path + "/s") }
        #expect(error?.code == .newerSchema)
        #expect(error?.description.contains("v99-from-the-future") == true)
    }

    @Test("an older catalog is migrated on open")
    func olderSchemaMigrated() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/s/blobs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/s/tmp", withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try CatalogMigrations.migrator.migrate(queue, upTo: "v1-catalog")
        try queue.write { db in try db.execute(sql: "INSERT INTO store_setting VALUES ('compression', 'none')") }
        try queue.close()
        let store = try Store.open(at: dir.path + "/s")
        let applied = try store.pool.read { db in try CatalogMigrations.migrator.appliedMigrations(db) }
        #expect(applied == CatalogMigrations.identifiers)
        #expect(try store.check(digests: true).recorded)
    }

    @Test("v4 keeps every check_run row and lets a verification be recorded as unverified, which v3 refused")
    func unverifiedVerdictMigration() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/s/blobs", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path + "/s/tmp", withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try CatalogMigrations.migrator.migrate(queue, upTo: "v3-base-files")
        let insert =
            "INSERT INTO check_run (kind, started_at, finished_at, verdict, checks_json, tool_version) VALUES ('check', 'a', 'b', ?, '{}', '0')"
        try queue.write { db in
            try db.execute(sql: "INSERT INTO store_setting VALUES ('compression', 'none')")
            try db.execute(sql: insert, arguments: ["pass"])
            try db.execute(sql: insert, arguments: ["fail"])
        }
        let refused = #expect(throws: DatabaseError.self) {
            try queue.write { db in try db.execute(sql: insert, arguments: ["unverified"]) }
        }
        #expect(refused?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK)
        try queue.close()
        let store = try Store.open(at: dir.path + "/s")
        let kept = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT verdict FROM check_run ORDER BY id") }
        #expect(kept == ["pass", "fail"])
        try store.pool.write { db in try db.execute(sql: insert, arguments: ["unverified"]) }
        let other = #expect(throws: DatabaseError.self) { try store.pool.write { db in try db.execute(sql: insert, arguments: ["maybe"]) } }
        #expect(other?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK)
    }

    @Test("schema constraints reject invalid rows (dtype, shape, form)")
    func constraints() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let error = #expect(throws: DatabaseError.self) {
            try store.pool.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO blob VALUES ('0123456789abcdef0123456789abcdef', 'blobs/0123456789abcdef0123456789abcdef.h5', 10, 'now')"
                )
                try db.execute(
                    sql:
                        "INSERT INTO tensor (sha256, dtype, shape, byte_length, blob_id, dataset) VALUES (?, 'complex64', '[1]', 8, '0123456789abcdef0123456789abcdef', '/x')",
                    arguments: [String(repeating: "0", count: 64)])
            }
        }
        #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK)
    }
}
