import Foundation
import GRDB
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// One test per way a store or a value handed to it can be bad.
@Suite("Bad input to the store")
struct StoreBadInputTests {
    /// A store with a base and one hidden checkpoint `c@1`.
    private func populated(_ dir: TemporaryDirectory, compression: Compression = .none) throws -> Store {
        let store = try Store.create(at: dir.path + "/s", compression: compression)
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: base.base.fingerprint))
        return store
    }

    private func prefixBlob(_ store: Store) throws -> String {
        store.directory + "/" + (try store.tensorEntries(of: store.checkpoint("c@1"))[0].blobPath)
    }

    @Test("a missing store")
    func missingStore() {
        let error = #expect(throws: StorageError.self) { try Store.open(at: "/nonexistent/prefixkit-store") }
        #expect(error?.code == .storeNotFound)
    }

    @Test("a directory that is not a store")
    func notAStore() throws {
        let dir = TemporaryDirectory()
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.file("unrelated.txt")))
        let open = #expect(throws: StorageError.self) { try Store.open(at: dir.path) }
        #expect(open?.code == .notAStore)
        let create = #expect(throws: StorageError.self) { try Store.create(at: dir.path) }
        #expect(create?.code == .notAStore)
        let file = #expect(throws: StorageError.self) { try Store.open(at: dir.file("unrelated.txt")) }
        #expect(file?.code == .notAStore)
    }

    @Test("a corrupt SQLite catalog")
    func corruptCatalog() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/s", withIntermediateDirectories: true)
        try Data(repeating: 0x5a, count: 4096).write(to: URL(fileURLWithPath: dir.path + "/s/catalog.sqlite"))
        let error = #expect(throws: StorageError.self) { try Store.open(at: dir.path + "/s") }
        #expect(error?.code == .corruptCatalog)
        #expect(error?.description.contains("catalog.sqlite") == true)
    }

    @Test("a SQLite file without PrefixKit's schema")
    func foreignDatabase() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path + "/s", withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try queue.write { db in try db.execute(sql: "CREATE TABLE other (x)") }
        try queue.close()
        let error = #expect(throws: StorageError.self) { try Store.open(at: dir.path + "/s") }
        #expect(error?.code == .notAStore)
    }

    @Test("a truncated HDF5 blob: load fails clearly, check reports it")
    func truncatedBlob() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let blob = try prefixBlob(store)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: blob))
        try handle.truncate(atOffset: 1000)
        try handle.close()
        let error = #expect(throws: StorageError.self) { try store.load(store.checkpoint("c@1")) }
        #expect(error?.code == .corruptBlob)
        #expect(error?.description.contains("c@1") == true)
        #expect(error?.description.contains(blob) == true)
        let report = try store.check()
        #expect(!report.passed)
        #expect(report.findings.contains { $0.check == "blob" && $0.path == blob && ($0.owners ?? []).contains("c@1") })
    }

    @Test("a blob whose superblock is garbage is never handed to libhdf5 (compressed store)")
    func garbageBlobCompressed() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir, compression: .gzip(level: 1))
        let blob = try prefixBlob(store)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        bytes.replaceSubrange(0..<8, with: Data("NOTHDF5!".utf8))
        try bytes.write(to: URL(fileURLWithPath: blob))
        let error = #expect(throws: StorageError.self) { try store.load(store.checkpoint("c@1")) }
        #expect(error?.code == .corruptBlob)
        #expect(error?.description.contains("not a valid HDF5 file") == true)
    }

    @Test("flipped tensor bytes: digest mismatch names store, checkpoint, tensor and file")
    func digestMismatch() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let entry = try store.tensorEntries(of: store.checkpoint("c@1"))[1]
        let path = store.directory + "/" + entry.blobPath
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(entry.fileOffset ?? 0) + 5)
        try handle.write(contentsOf: Data([0xff]))
        try handle.close()
        // Plain loads do not hash; verified loads do.
        _ = try store.load(store.checkpoint("c@1"))
        let error = #expect(throws: StorageError.self) { try store.load(store.checkpoint("c@1"), verify: true) }
        #expect(error?.code == .digestMismatch)
        let text = error?.description ?? ""
        #expect(text.contains(store.directory) && text.contains("c@1") && text.contains(entry.name) && text.contains(path))
        let report = try store.check()
        #expect(report.findings.filter { $0.check == "digest" }.count == 1)
        #expect(report.findings.first { $0.check == "digest" }?.tensor == entry.name)
    }

    @Test("an unknown dtype in the catalog is an error, not a trap")
    func unknownDTypeInCatalog() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try queue.write { db in
            try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
            try db.execute(sql: "UPDATE tensor SET dtype = 'q4' WHERE dataset = '/prefix/layer_00'")
        }
        try queue.close()
        let error = #expect(throws: StorageError.self) { try store.load(store.checkpoint("c@1")) }
        #expect(error?.code == .corruptCatalog)
        #expect(error?.description.contains("q4") == true)
    }

    @Test("a byte length that disagrees with shape and dtype")
    func shapeByteMismatch() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try queue.write { db in try db.execute(sql: "UPDATE tensor SET byte_length = 7 WHERE dataset = '/prefix/layer_01'") }
        try queue.close()
        let error = #expect(throws: StorageError.self) { try store.load(store.checkpoint("c@1")) }
        #expect(error?.code == .corruptCatalog)
        #expect(error?.tensor == "layer_01")
    }

    @Test("a dataset that disagrees with the catalog is a structure finding")
    func structureMismatch() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let queue = try DatabaseQueue(path: dir.path + "/s/catalog.sqlite")
        try queue.write { db in try db.execute(sql: "UPDATE tensor SET shape = '[8, 4]' WHERE dataset = '/prefix/layer_01'") }
        try queue.close()
        let report = try store.check()
        #expect(report.findings.contains { $0.check == "structure" && $0.tensor == "layer_01" })
    }

    @Test("hostile names are refused before anything is written", arguments: ["../escape", "a/b", "x@3", ""])
    func hostileCheckpointName(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let error = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(
                Builders.hiddenPrefix(), as: CheckpointSpec(name: name, step: 1, base: "base:" + (try store.bases()[0].fingerprint)))
        }
        #expect(error?.code == .invalidArgument)
        #expect(try store.checkpoints().count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/tmp").isEmpty)
    }

    @Test("a hostile tensor name in a base")
    func hostileTensorName() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        var weights = Builders.tinyBase()
        weights.tensors[0].name = "../../etc/passwd"
        let error = #expect(throws: StorageError.self) { try store.saveBase(weights, provenance: Provenance(sourceFormat: "test")) }
        #expect(error?.code == .invalidArgument)
        #expect(try store.bases().isEmpty)
    }

    @Test("content that does not fit the base: layer count, shape, dtype")
    func contentMismatch() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let base = try store.bases()[0].fingerprint
        var fewer = Builders.hiddenPrefix()
        fewer.layers.removeLast()
        let layers = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(fewer, as: CheckpointSpec(name: "x", step: 1, base: base))
        }
        #expect(layers?.description.contains("2 layers") == true)
        var wrongShape = Builders.hiddenPrefix()
        wrongShape.layers[1] = .hidden(Tensor(shape: [4, 7], floats: [Float](repeating: 0, count: 28)))
        let shape = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(wrongShape, as: CheckpointSpec(name: "x", step: 1, base: base))
        }
        #expect(shape?.tensor == "layer_01")
        #expect(shape?.description.contains("[4, 8]") == true)
        var integer = Builders.hiddenPrefix()
        integer.layers[0] = .hidden(Builders.randomTensor(.i32, [4, 8], seed: 1))
        let dtype = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(integer, as: CheckpointSpec(name: "x", step: 1, base: base))
        }
        #expect(dtype?.code == .invalidArgument)
    }

    @Test("a taken (name, step), an unknown base, an unknown parent")
    func identityErrors() throws {
        let dir = TemporaryDirectory()
        let store = try populated(dir)
        let base = try store.bases()[0].fingerprint
        let taken = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 1, base: base))
        }
        #expect(taken?.code == .alreadyExists)
        let noBase = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "d", step: 1, base: "base:deadbeefdeadbeef"))
        }
        #expect(noBase?.code == .notFound)
        let noParent = #expect(throws: StorageError.self) {
            try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "d", step: 1, base: base, parent: "ghost"))
        }
        #expect(noParent?.code == .notFound)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/tmp").isEmpty)
    }
}
