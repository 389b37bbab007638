import Foundation
import PrefixKit
import TestSupport
import Testing

/// Saves the catalog loses are found by check (possible catalog loss, not garbage) and put back
/// by `prefixkit recover` from the manifests every save writes.
@Suite("Catalog loss and recover")
struct RecoverTests {
    static let adapter = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// A store holding the fixture's base and its adapter as `run@1`.
    static func storeWithRun(_ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let run = try Processes.prefixkit([
            "import", store, adapter + "/adapter", "--base", adapter + "/base", "--name", "run", "--step", "1",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        return store
    }

    @Test(
        "a damaged write-ahead log drops committed saves: check reports possible catalog loss, gc keeps their blobs, recover restores them")
    func damagedWAL() throws {
        let dir = TemporaryDirectory()
        let store = try Self.storeWithRun(dir)
        // A reader holding a snapshot keeps the WAL from being folded in while two more saves commit.
        let reader = try Processes.run(
            Processes.python,
            [
                "-c",
                """
                import sqlite3, sys, time
                db = sqlite3.connect(sys.argv[1], isolation_level=None)
                db.execute("BEGIN")
                db.execute("SELECT count(*) FROM checkpoint").fetchall()
                print("holding", flush=True)
                time.sleep(30)
                """, store + "/catalog.sqlite",
            ], environment: [:], input: nil, background: true)
        Thread.sleep(forTimeInterval: 1.5)
        for step in ["2", "3"] {
            let run = try Processes.prefixkit([
                "import", store, Self.adapter + "/adapter", "--name", "run", "--step", step, "--base-by-shape",
            ])
            #expect(run.status == 0, "\(run.stderr)")
        }
        // Killed, not closed: a closing connection would fold the WAL in.
        kill(reader.processIdentifier, SIGKILL)
        reader.waitUntilExit()
        let walSize = (try FileManager.default.attributesOfItem(atPath: store + "/catalog.sqlite-wal")[.size] as? Int) ?? 0
        #expect(walSize > 4096, "the saves should still be in the WAL (\(walSize) bytes)")
        // Damage the WAL's last frames and drop the shared-memory index, as a crash would.
        let wal = try FileHandle(forUpdating: URL(fileURLWithPath: store + "/catalog.sqlite-wal"))
        try wal.seek(toOffset: UInt64(walSize - 2000))
        try wal.write(contentsOf: Data(repeating: 0xA5, count: 1000))
        try wal.close()
        try FileManager.default.removeItem(atPath: store + "/catalog.sqlite-shm")
        let lost = try Processes.prefixkit(["check", store])
        #expect(lost.status == 1 && lost.stdout.contains("possible catalog loss: run@3"), "\(lost.stdout)")
        let gc = try Processes.prefixkit(["gc", store])
        #expect(gc.status == 0)
        let recover = try Processes.prefixkit(["recover", store])
        #expect(recover.status == 0 && recover.stdout.contains("recovered run@3"), "\(recover.stdout)\(recover.stderr)")
        let check = try Processes.prefixkit(["check", store])
        #expect(check.status == 0, "\(check.stdout)")
        let opened = try Store.open(at: store)
        #expect(try opened.checkpoints().map(\.reference).contains("run@3"))
        #expect(try opened.load(opened.checkpoint("run@3"), verify: true).layers.count == 2)
        #expect(try Processes.prefixkit(["recover", store]).stdout.contains("0 recovered"))
    }

    @Test("a deleted checkpoint is never brought back, and a restored backup of the catalog is recovered")
    func deleteAndBackup() throws {
        let dir = TemporaryDirectory()
        let store = try Self.storeWithRun(dir)
        try FileManager.default.copyItem(atPath: store + "/catalog.sqlite", toPath: dir.path + "/backup.sqlite")
        #expect(
            try Processes.prefixkit(["import", store, Self.adapter + "/adapter", "--name", "run", "--step", "2", "--base-by-shape"]).status
                == 0)
        #expect(
            try Processes.prefixkit(["import", store, Self.adapter + "/adapter", "--name", "other", "--step", "1", "--base-by-shape"])
                .status == 0)
        #expect(try Processes.prefixkit(["delete", store, "other@1"]).status == 0)
        // The old catalog put back: run@2 is lost; other@1 was deleted and must stay deleted.
        try FileManager.default.removeItem(atPath: store + "/catalog.sqlite")
        try FileManager.default.copyItem(atPath: dir.path + "/backup.sqlite", toPath: store + "/catalog.sqlite")
        try? FileManager.default.removeItem(atPath: store + "/catalog.sqlite-wal")
        try? FileManager.default.removeItem(atPath: store + "/catalog.sqlite-shm")
        let recover = try Processes.prefixkit(["recover", store, "--json"])
        #expect(recover.status == 0, "\(recover.stderr)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let summary = try decoder.decode(RecoverySummary.self, from: Data(recover.stdout.utf8))
        #expect(summary.recovered == ["run@2"] && summary.failed.isEmpty, "\(summary)")
        let schema = try Processes.validateJSON(recover.stdout, schema: "recover.schema.json")
        #expect(schema.status == 0, "\(schema.stderr)")
        #expect(try Store.open(at: store).checkpoints().map(\.reference).sorted() == ["run@1", "run@2"])
        #expect(try Processes.prefixkit(["check", store]).status == 0)
    }
}
