import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// Digests checked beside the caller's work: every tensor hashed, on one thread or several, and
/// the first mismatch in hashing order reported when the caller confirms.
@Suite("Digests checked in the background")
struct BackgroundDigestsTests {
    private func store(_ dir: TemporaryDirectory) throws -> (Store, [TensorEntry]) {
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        return (store, try store.tensorEntries(of: base.base))
    }

    /// Flips the first byte of `entry`'s data in its blob.
    private func damage(_ store: Store, _ entry: TensorEntry) throws {
        let handle = try #require(FileHandle(forUpdatingAtPath: store.directory + "/" + entry.blobPath))
        let offset = UInt64(try #require(entry.fileOffset))
        try handle.seek(toOffset: offset)
        let byte = try #require(try handle.read(upToCount: 1)).first ?? 0
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: [byte ^ 0xff])
        try handle.close()
    }

    @Test("intact tensors confirm, on one thread or several", arguments: [1, 3])
    func intact(threads: Int) throws {
        let dir = TemporaryDirectory()
        let (store, entries) = try store(dir)
        try store.checkDigestsInBackground(entries, owner: "base:b", threads: threads).confirm()
    }

    @Test("a damaged tensor fails the confirmation with a digest mismatch naming it", arguments: [1, 3])
    func damaged(threads: Int) throws {
        let dir = TemporaryDirectory()
        let (store, entries) = try store(dir)
        let ordered = entries.filter { $0.fileOffset != nil && $0.byteCount > 0 }.sorted { ($0.fileOffset ?? 0) < ($1.fileOffset ?? 0) }
        let (early, late) = (ordered[1], ordered[ordered.count - 2])
        try damage(store, late)
        try damage(store, early)
        let digests = store.checkDigestsInBackground(entries, owner: "base:b", threads: threads)
        let error = #expect(throws: StorageError.self) { try digests.confirm() }
        #expect(error?.code == .digestMismatch, "\(String(describing: error))")
        // The first one in the order the blob holds them, whichever thread hashed it.
        #expect(error?.tensor == early.name, "\(String(describing: error))")
    }
}
