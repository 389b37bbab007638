import Foundation
import PrefixCore
import PrefixStore
import PrefixStoreRules
import TestSupport
import Testing

/// A check scoped to checkpoints (what `verify` runs) reads their rows, their blobs and their
/// base's, and nothing else; the whole-store check still reads everything.
@Suite("Checks scoped to checkpoints")
struct ScopedCheckTests {
    /// A base and two checkpoints, `a@1` and `b@1`, each prefix saved into its own blob.
    private func store(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "base", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 11), as: CheckpointSpec(name: "a", step: 1, base: "base"))
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 12), as: CheckpointSpec(name: "b", step: 1, base: "base"))
        return store
    }

    private func sql(_ store: Store, _ statements: String) throws {
        let run = try Processes.python(
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA foreign_keys=OFF'); c.executescript(sys.argv[2]); c.commit()",
            [store.directory + "/catalog.sqlite", statements])
        #expect(run.status == 0, "\(run.stderr)")
    }

    private func blobs(_ store: Store, _ reference: String) throws -> Set<String> {
        Set(try store.tensorEntries(of: store.checkpoint(reference)).map(\.blobPath))
    }

    @Test("a scoped check covers its checkpoints' blobs and their base's; damage in another checkpoint's blob is not its finding")
    func damageOutsideTheScope() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let (a, b) = (try blobs(store, "a"), try blobs(store, "b"))
        let baseBlobs = Set(try store.tensorEntries(of: store.base("base")).map(\.blobPath))
        #expect(a.isDisjoint(with: b) && a.isDisjoint(with: baseBlobs))
        // One byte of b's first tensor's data flipped: its digest no longer matches.
        let entry = try #require(try store.tensorEntries(of: store.checkpoint("b")).first { $0.fileOffset != nil })
        let handle = try #require(FileHandle(forUpdatingAtPath: store.directory + "/" + entry.blobPath))
        try handle.seek(toOffset: UInt64(try #require(entry.fileOffset)))
        let byte = try #require(try handle.read(upToCount: 1)).first ?? 0
        try handle.seek(toOffset: UInt64(try #require(entry.fileOffset)))
        try handle.write(contentsOf: [byte ^ 0xff])
        try handle.close()

        let scopedA = try store.check(.checkpoints([store.checkpoint("a")]), record: false)
        #expect(scopedA.passed && scopedA.findings.isEmpty, "\(scopedA.findings)")
        #expect(Set(try #require(scopedA.blobPaths)) == a.union(baseBlobs))
        #expect(scopedA.checkpoints == 1 && scopedA.bases == 1 && scopedA.tensorsHashed == scopedA.tensors)

        let scopedB = try store.check(.checkpoints([store.checkpoint("b")]), record: false)
        let digest = scopedB.findings.filter { $0.check == "digest" }
        #expect(!scopedB.passed && digest.count == 1 && digest[0].owners == ["b@1"], "\(scopedB.findings)")

        let whole = try store.check(record: false)
        #expect(!whole.passed && whole.blobPaths == nil && whole.findings.contains { $0.check == "digest" && $0.owners == ["b@1"] })
    }

    @Test("a scoped check holds its checkpoints' rows to the catalog rules, and no others")
    func rulesInScope() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        try sql(store, "UPDATE checkpoint SET source_path = 'x' || char(27) || '[31m' WHERE name = 'b';")
        let scopedA = try store.check(.checkpoints([store.checkpoint("a")]), record: false)
        #expect(scopedA.passed, "\(scopedA.findings)")
        let scopedB = try store.check(.checkpoints([store.checkpoint("b")]), record: false)
        #expect(!scopedB.passed && scopedB.findings.contains { $0.check == "catalog" && $0.message.hasPrefix("checkpoint row:") })
    }

    @Test("a blob path the rules refuse is a finding of the scoped check and never listed among the blobs it covered")
    func hostileBlobPath() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let b = try store.checkpoint("b")
        let hostile = try #require(try blobs(store, "b").first)
        // Someone else's catalog: its CHECK constraints do not hold what they say.
        try sql(
            store,
            "PRAGMA ignore_check_constraints = ON; UPDATE blob SET path = 'blobs/x' || char(27) || '[31m.h5' WHERE path = '\(hostile)';")
        let scopedB = try store.check(.checkpoints([b]), record: false)
        let listed = try #require(scopedB.blobPaths)
        #expect(
            !scopedB.passed && scopedB.findings.contains { $0.check == "blob" && $0.message.hasPrefix("refused:") }, "\(scopedB.findings)")
        #expect(listed.allSatisfy { !$0.contains("\u{1b}") } && listed.count == scopedB.blobs - 1, "\(listed)")
    }

    @Test("a scoped check finds a row of its scope that references a missing row, in place of SQLite's whole-catalog check")
    func danglingReference() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let b = try store.checkpoint("b")
        try sql(store, "DELETE FROM tensor WHERE id IN (SELECT tensor_id FROM checkpoint_tensor WHERE checkpoint_id = \(b.id) LIMIT 1);")
        let scopedB = try store.check(.checkpoints([b]), record: false)
        #expect(
            scopedB.findings.contains {
                $0.code == .catalogIntegrity && $0.message == "foreign key: 1 row(s) of checkpoint_tensor reference a missing tensor"
            }, "\(scopedB.findings)")
        let scopedA = try store.check(.checkpoints([store.checkpoint("a")]), record: false)
        #expect(scopedA.passed, "\(scopedA.findings)")
        let whole = try store.check(record: false)
        #expect(
            whole.findings.contains { $0.code == .catalogIntegrity && $0.message.contains("checkpoint_tensor references a missing tensor") }
        )
    }

    @Test("one inspector child reads the metadata of every blob of the store, not one child per blob")
    func oneInspectorChild() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        for step in 2...7 {
            try store.saveCheckpoint(
                Builders.hiddenPrefix(seed: UInt64(20 + step)), as: CheckpointSpec(name: "a", step: step, base: "base"))
        }
        let log = dir.path + "/children.log"
        let report = try store.check(
            record: false,
            isolation: .childProcess(
                executable: "/bin/sh", arguments: ["-c", "echo started >> '\(log)'; exec '\(Processes.prefixkit)' inspect-blobs \"$0\""],
                timeout: 30))
        #expect(report.passed && report.blobs >= 9, "\(report.findings)")
        let started = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(started.count == 1)
    }

    @Test("the structure of every blob is checked before the first digest, and the caller is told in between")
    func structureBeforeDigests() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        final class Events: @unchecked Sendable {
            var items: [String] = []
        }
        let events = Events()
        let report = try store.check(
            .checkpoints([store.checkpoint("a")]), record: false, progress: { done, _ in events.items.append("blob \(done)") },
            structureChecked: { events.items.append("structure") })
        #expect(report.passed && report.tensorsHashed == report.tensors)
        #expect(events.items.first == "structure" && events.items.filter { $0 == "structure" }.count == 1, "\(events.items)")
        #expect(events.items.count == report.blobs + 1)
    }
}
