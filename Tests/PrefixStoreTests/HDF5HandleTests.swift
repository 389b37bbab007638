import Foundation
import PrefixCore
import TestSupport
import Testing

@testable import PrefixStore

@Suite("HDF5 wrapper")
struct HDF5HandleTests {
    /// A reader of the blob of a tiny base saved in a new store under `dir`.
    static func baseBlobReader(_ dir: TemporaryDirectory) throws -> HDF5BlobReader {
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        return try HDF5BlobReader(
            blob: BlobFile(store: store.directory, relativePath: try store.tensorEntries(of: base.base)[0].blobPath))
    }

    @Test("reading every dataset's structure leaves no HDF5 object open but the file")
    func noLeakedHandles() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        let entries = try store.tensorEntries(of: base.base)
        let reader = try HDF5BlobReader(blob: BlobFile(store: store.directory, relativePath: entries[0].blobPath))
        for entry in entries {
            let info = try reader.info(entry.dataset, expecting: entry.dtype)
            #expect(info.matchesType && info.dimensions == entry.shape)
            #expect(info.dtypeAttribute == entry.dtype.hdf5AttributeName)
        }
        #expect(reader.openObjectCount == 1)
        reader.close()
    }

    @Test("libhdf5 failures become HDF5Error with the library's error stack, not stderr noise")
    func errorStack() throws {
        let dir = TemporaryDirectory()
        let reader = try Self.baseBlobReader(dir)
        let error = #expect(throws: HDF5Error.self) { try reader.info("/base/no.such.tensor", expecting: .f32) }
        #expect(error?.call == "H5Dopen2")
        #expect(error?.frames.isEmpty == false)
        #expect(reader.openObjectCount == 1)
    }

    @Test("a libhdf5 failure on any thread prints nothing: its stack goes into HDF5Error only")
    func silentOnEveryThread() throws {
        let dir = TemporaryDirectory()
        let reader = try Self.baseBlobReader(dir)
        // Standard error into a file while a fresh thread makes libhdf5 fail.
        let captured = dir.path + "/stderr.txt"
        #expect(FileManager.default.createFile(atPath: captured, contents: nil))
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: captured))
        let saved = dup(2)
        dup2(file.fileDescriptor, 2)
        nonisolated(unsafe) let shared = reader
        nonisolated(unsafe) var failed = false
        let done = DispatchSemaphore(value: 0)
        Thread {
            failed = (try? shared.info("/base/no.such.tensor", expecting: .f32)) == nil
            done.signal()
        }.start()
        done.wait()
        dup2(saved, 2)
        close(saved)
        try file.close()
        #expect(failed)
        let text = try String(contentsOfFile: captured, encoding: .utf8)
        #expect(!text.contains("HDF5-DIAG"), "\(text)")
    }

    @Test("the superblock check catches truncation and foreign files before libhdf5 sees them")
    func superblock() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        let path = store.directory + "/" + (try store.tensorEntries(of: base.base)[0].blobPath)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(HDF5Superblock.validate(header: Array(bytes.prefix(64)), fileSize: UInt64(bytes.count)) == nil)
        if case .truncated = HDF5Superblock.validate(header: Array(bytes.prefix(64)), fileSize: UInt64(bytes.count - 1)) {
        } else {
            Issue.record("truncation not detected")
        }
        #expect(HDF5Superblock.validate(header: [UInt8](repeating: 0, count: 64), fileSize: 64) == .badSignature)
        #expect(HDF5Superblock.validate(header: [0x89, 0x48], fileSize: 2) == .tooShort(size: 2))
    }

    @Test("a store-level lock is exclusive across handles")
    func lockExclusive() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let held = try WriterLock(store: store.directory, timeout: 1)
        let error = #expect(throws: StorageError.self) { try WriterLock(store: store.directory, timeout: 0.05) }
        #expect(error?.code == .storeLocked)
        withExtendedLifetime(held) {}
    }
}
