import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

@Suite("Deletion and garbage collection")
struct DeletionTests {
    private func blobCount(_ dir: TemporaryDirectory) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/blobs").count
    }

    @Test("a base in use is kept unless asked to cascade")
    func baseInUse() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: "b"))
        let error = #expect(throws: StorageError.self) { try store.delete("base:" + base.base.fingerprint) }
        #expect(error?.code == .inUse)
        #expect(error?.description.contains("c@1") == true)
        #expect(try store.bases().count == 1)
        let removed = try store.delete("base:" + base.base.fingerprint, cascade: true)
        #expect(removed.checkpoints == ["c@1"] && removed.blobFiles == 2)
        #expect(try store.bases().isEmpty && store.checkpoints().isEmpty)
        #expect(try blobCount(dir) == 0)
        #expect(try store.check().findings.isEmpty)
    }

    @Test("a parent is kept unless asked to cascade, which deletes its descendants")
    func parentInUse() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 1), as: CheckpointSpec(name: "c", step: 1, base: "b"))
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 2), as: CheckpointSpec(name: "c", step: 2, base: "b", parent: "c@1"))
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 3), as: CheckpointSpec(name: "c", step: 3, base: "b", parent: "c@2"))
        let error = #expect(throws: StorageError.self) { try store.delete("c@1") }
        #expect(error?.code == .inUse)
        // The leaf can go on its own.
        #expect(try store.delete("c@3").checkpoints == ["c@3"])
        let removed = try store.delete("c@1", cascade: true)
        #expect(removed.checkpoints == ["c@1", "c@2"])
        #expect(try store.checkpoints().isEmpty && store.bases().count == 1)
    }

    @Test("a blob is removed only when nothing references it")
    func sharedBlobKept() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        let content = Builders.hiddenPrefix()
        try store.saveCheckpoint(content, as: CheckpointSpec(name: "a", step: 1, base: "b"))
        var changed = content
        changed.layers[1] = Builders.hiddenPrefix(seed: 77).layers[1]
        try store.saveCheckpoint(changed, as: CheckpointSpec(name: "b", step: 1, base: "b"))
        #expect(try blobCount(dir) == 3)
        // b@1 shares layer_00 with a@1: deleting a@1 must keep a's blob.
        let removed = try store.delete("a@1")
        #expect(removed.blobFiles == 0)
        #expect(try store.load(store.checkpoint("b@1"), verify: true).layers == changed.layers)
        try store.delete("b@1")
        #expect(try blobCount(dir) == 1)
        #expect(try store.check().findings.isEmpty)
    }

    @Test("gc removes temporary files and blobs the catalog does not know")
    func gcLeftovers() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        try Data(count: 100).write(to: URL(fileURLWithPath: dir.path + "/s/tmp/" + String(repeating: "a", count: 32) + ".h5.partial"))
        try Data(count: 50).write(to: URL(fileURLWithPath: dir.path + "/s/blobs/0123456789abcdef0123456789abcdef.h5"))
        let report = try store.check()
        #expect(report.passed)
        #expect(report.findings.filter { $0.severity == "warning" && $0.check == "orphan" }.count == 2)
        let summary = try store.gc()
        #expect(summary.leftoverFiles == 2 && summary.bytesFreed == 150)
        #expect(try store.check().findings.isEmpty)
        #expect(try store.load(store.bases()[0], verify: true).tensors.count == Builders.tinyBase().tensors.count)
    }

    /// A store with steps c@1 <- c@2 <- c@3 and d@1 (parent c@3).
    private func lineage(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        for step in 1...3 {
            try store.saveCheckpoint(
                Builders.hiddenPrefix(seed: UInt64(step)),
                as: CheckpointSpec(name: "c", step: step, base: "b", parent: step > 1 ? "c@\(step - 1)" : nil))
        }
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 9), as: CheckpointSpec(name: "d", step: 1, base: "b", parent: "c@3"))
        return store
    }

    @Test("--all-steps deletes every step of a name; another name descending from them needs cascade")
    func allSteps() throws {
        let dir = TemporaryDirectory()
        let store = try lineage(dir)
        let error = #expect(throws: StorageError.self) { try store.delete("c", allSteps: true) }
        #expect(error?.code == .inUse && error?.description.contains("d@1") == true, "\(String(describing: error))")
        #expect(try store.checkpoints().count == 4)
        try store.delete("d@1")
        let removed = try store.delete("c@2", allSteps: true)
        #expect(removed.checkpoints == ["c@1", "c@2", "c@3"])
        #expect(try store.checkpoints().isEmpty && store.check().findings.isEmpty)
        #expect(try blobCount(dir) == 1)
        let base = #expect(throws: StorageError.self) { try store.delete("b", allSteps: true) }
        #expect(base?.code == .invalidArgument)
    }

    @Test("a dry run of delete or gc says what would go and the bytes it would free, and removes nothing")
    func dryRun() throws {
        let dir = TemporaryDirectory()
        let store = try lineage(dir)
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/blobs").sorted()
        let rehearsed = try store.delete("c", cascade: true, allSteps: true, dryRun: true)
        #expect(rehearsed.dryRun && rehearsed.checkpoints == ["c@1", "c@2", "c@3", "d@1"] && rehearsed.blobFiles == 4)
        #expect(try store.checkpoints().count == 4)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/blobs").sorted() == before)
        // A leftover a crash could leave, for gc to find.
        let leftover = dir.path + "/s/tmp/" + String(repeating: "a", count: 32) + ".h5.partial"
        try Data(count: 1000).write(to: URL(fileURLWithPath: leftover))
        let gcRehearsed = try store.gc(dryRun: true)
        #expect(gcRehearsed.dryRun && gcRehearsed.leftoverFiles == 1 && gcRehearsed.bytesFreed == 1000)
        #expect(FileManager.default.fileExists(atPath: leftover))
        // What the dry runs said is what the real runs do.
        let removed = try store.delete("c", cascade: true, allSteps: true)
        #expect(!removed.dryRun && removed.checkpoints == rehearsed.checkpoints && removed.blobFiles == rehearsed.blobFiles)
        #expect(removed.bytesFreed == rehearsed.bytesFreed && removed.tensors == rehearsed.tensors)
        #expect(try store.gc().leftoverFiles == 1 && !FileManager.default.fileExists(atPath: leftover))
        #expect(try store.check().findings.isEmpty)
    }
}
