import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// "Is it there?" without hiding a catalog that cannot be read.
@Suite("Checkpoint lookup")
struct CheckpointLookupTests {
    @Test("checkpointIfPresent: the checkpoint, nil when absent, and an error (not nil) from a catalog that cannot answer")
    func ifPresent() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test")).base
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "run", step: 2, base: base.shortReference))
        #expect(try store.checkpointIfPresent("run")?.step == 2)
        #expect(try store.checkpointIfPresent("run@2")?.reference == "run@2")
        #expect(try store.checkpointIfPresent("run@3") == nil)
        #expect(try store.checkpointIfPresent("other") == nil)
        // A catalog whose checkpoint table is gone: the question cannot be answered, and says so.
        let sql = try Processes.python(
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA foreign_keys=OFF'); c.execute('DROP TABLE checkpoint_tag'); c.execute('DROP TABLE checkpoint_tensor'); c.execute('DROP TABLE checkpoint'); c.commit()",
            [dir.path + "/s/catalog.sqlite"])
        #expect(sql.status == 0, "\(sql.stderr)")
        let damaged = try Store.open(at: dir.path + "/s")
        #expect(throws: StorageError.self) { try damaged.checkpointIfPresent("run") }
    }
}
