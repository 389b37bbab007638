import Foundation
import GRDB
import PrefixCore

#if canImport(Glibc)
    import Glibc
#endif

/// A tensor about to be saved: its logical name (for messages), its dataset path in a new blob.
struct PendingTensor {
    var key: String
    var dataset: String
    var tensor: LazyTensor
}

/// The result of writing a batch of tensors into (at most) one new blob, before the catalog
/// transaction that makes them visible.
struct WrittenBatch {
    enum Resolution {
        case existing(Int64)
        case new(Int)
    }
    /// For each pending tensor, either an existing catalog row or an index into `newRecords`.
    var resolutions: [Resolution]
    /// The digest of each pending tensor.
    var digests: [String]
    var newRecords: [TensorRecord]
    var blob: BlobRecord?
    var summary: SaveSummary

    /// Inserts the blob and the new tensor rows; returns the tensor id of each pending tensor.
    func insert(_ db: Database) throws -> [Int64] {
        try blob?.insert(db)
        var ids: [Int64] = []
        for var record in newRecords {
            try record.insert(db)
            ids.append(record.id ?? -1)
        }
        return resolutions.map { resolution in
            switch resolution {
            case .existing(let id): id
            case .new(let index): ids[index]
            }
        }
    }
}

/// Called after each tensor of a save or load with the bytes done so far and the total.
public typealias ProgressHandler = (_ done: Int64, _ total: Int64) -> Void

extension Store {
    /// Writes the tensors that are not stored yet into one new blob and makes the blob durable
    /// (fsync, rename into `blobs/`, directory fsync). Nothing is visible until the caller's
    /// catalog transaction inserts the returned records. Must run under the writer lock.
    func writeBatch(_ items: [PendingTensor], progress: ProgressHandler? = nil) throws(StorageError) -> WrittenBatch {
        let totalBytes = items.reduce(Int64(0)) { $0 + Int64($1.tensor.byteCount) }
        try ensureFreeSpace(Int64(totalBytes))
        try ensureDirectories()
        var doneBytes: Int64 = 0
        let digests = DigestPipeline(items.map(\.tensor))
        let blobID = Store.newBlobID()
        let relativePath = "blobs/\(blobID).h5"
        let temporaryPath = "\(temporaryDirectory)/\(blobID).h5.partial"
        var writer: HDF5BlobWriter?
        var resolutions: [WrittenBatch.Resolution] = []
        var allDigests: [String] = []
        var newRecords: [TensorRecord] = []
        var pendingByKey: [String: Int] = [:]
        var summary = SaveSummary(tensorsWritten: 0, tensorsReused: 0, bytesWritten: 0, bytesReused: 0, blobPath: nil)
        var sinceWriteback = 0

        do throws(StorageError) {
            for (index, item) in items.enumerated() {
                let loaded: (tensor: Tensor, digest: String)
                do { loaded = try digests.take(index) } catch let error as StorageError { throw error } catch {
                    throw StorageError(.io, "cannot read tensor: \(error)", tensor: item.key, underlying: error)
                }
                let digest = loaded.digest
                doneBytes += Int64(item.tensor.byteCount)
                defer {
                    digests.finished(index)
                    progress?(doneBytes, totalBytes)
                }
                guard loaded.tensor.dtype == item.tensor.dtype, loaded.tensor.shape == item.tensor.shape else {
                    throw StorageError(
                        .invalidArgument,
                        "tensor is \(loaded.tensor.dtype) \(loaded.tensor.shape), announced as \(item.tensor.dtype) \(item.tensor.shape)",
                        tensor: item.key)
                }
                allDigests.append(digest)
                let shapeText = Store.shapeText(item.tensor.shape)
                let dtype = item.tensor.dtype.rawValue
                let identity = "\(digest)|\(dtype)|\(shapeText)"
                if let pending = pendingByKey[identity] {
                    resolutions.append(.new(pending))
                    summary.tensorsReused += 1
                    summary.bytesReused += Int64(item.tensor.byteCount)
                    continue
                }
                let existing = try read { db in
                    try Int64.fetchOne(
                        db, sql: "SELECT id FROM tensor WHERE sha256 = ? AND dtype = ? AND shape = ?",
                        arguments: [digest, dtype, shapeText])
                }
                if let existing {
                    resolutions.append(.existing(existing))
                    summary.tensorsReused += 1
                    summary.bytesReused += Int64(item.tensor.byteCount)
                    continue
                }
                if writer == nil {
                    do {
                        writer = try HDF5BlobWriter(path: temporaryPath, compression: compression)
                    } catch {
                        throw StorageError(
                            .io, "cannot create blob" + (error.plainReason.map { ": \($0)" } ?? ""), path: temporaryPath, underlying: error)
                    }
                }
                guard let writer else { break }
                let offset: UInt64?
                do {
                    offset = try writer.write(loaded.tensor, at: item.dataset)
                } catch {
                    throw StorageError(
                        .io, "cannot write tensor to blob" + (error.plainReason.map { ": \($0)" } ?? ""), path: temporaryPath,
                        tensor: item.key,
                        underlying: error)
                }
                sinceWriteback += item.tensor.byteCount
                if sinceWriteback >= 64 << 20 {
                    writer.startWriteback()
                    sinceWriteback = 0
                }
                FaultInjection.point("save: wrote tensor \(item.key)")
                pendingByKey[identity] = newRecords.count
                resolutions.append(.new(newRecords.count))
                newRecords.append(
                    TensorRecord(
                        id: nil, sha256: digest, dtype: dtype, shape: shapeText,
                        byteLength: Int64(item.tensor.byteCount), blobId: blobID,
                        dataset: item.dataset, fileOffset: offset.map { Int64($0) }))
                summary.tensorsWritten += 1
                summary.bytesWritten += Int64(item.tensor.byteCount)
            }

            var blob: BlobRecord?
            if let writer {
                do { try writer.close() } catch {
                    throw StorageError(
                        .io, "cannot close blob" + (error.plainReason.map { ": \($0)" } ?? ""), path: temporaryPath, underlying: error)
                }
                FaultInjection.point("save: closed blob")
                try FileSystem.fsync(path: temporaryPath)
                FaultInjection.point("save: fsynced blob")
                let finalPath = "\(directory)/\(relativePath)"
                try FileSystem.rename(temporaryPath, finalPath)
                FaultInjection.point("save: renamed blob")
                try FileSystem.fsyncDirectory(blobDirectory)
                FaultInjection.point("save: fsynced blob directory")
                let size = try FileSystem.fileSize(finalPath) ?? 0
                blob = BlobRecord(id: blobID, path: relativePath, byteLength: Int64(size), createdAt: Store.timestamp())
                summary.blobPath = relativePath
            }
            return WrittenBatch(resolutions: resolutions, digests: allDigests, newRecords: newRecords, blob: blob, summary: summary)
        } catch {
            digests.cancel()
            writer?.abandon()
            FileSystem.discard(temporaryPath)
            throw error
        }
    }

    /// Creates `blobs/` and `tmp/` when they are missing; refuses anything but real directories
    /// there (a link out of the store is never written through).
    func ensureDirectories() throws(StorageError) {
        for path in [blobDirectory, temporaryDirectory] where FileSystem.kind(path) != .directory {
            guard FileSystem.kind(path) == .missing, mkdir(path, 0o755) == 0 || FileSystem.kind(path) == .directory else {
                try Store.checkLayout(directory)
                throw FileSystem.errnoError("mkdir", path)
            }
        }
    }

    /// Refuses a save that cannot fit: `bytes` plus a margin must be free on the store's disk.
    func ensureFreeSpace(_ bytes: Int64) throws(StorageError) {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return }
        let free = Int64(info.f_bavail) * Int64(info.f_frsize)
        let needed = bytes + (64 << 20)
        if free < needed {
            throw StorageError(.io, "not enough free disk space: the save needs up to \(needed) bytes, \(free) are free", path: directory)
        }
    }

    /// Removes a blob written by ``writeBatch(_:)`` whose catalog transaction failed.
    func discard(_ batch: WrittenBatch) {
        if let blob = batch.blob { FileSystem.discard("\(directory)/\(blob.path)") }
    }

    /// The catalog's text form of a shape: a JSON array.
    static func shapeText(_ shape: Shape) -> String {
        "[" + shape.dimensions.map(String.init).joined(separator: ",") + "]"
    }

    /// Parses the catalog's text form of a shape.
    static func parseShape(_ text: String) throws(StorageError) -> Shape {
        do { return try Shape(try JSONDecoder().decode([Int].self, from: Data(text.utf8))) } catch {
            throw StorageError(.corruptCatalog, "malformed shape '\(text)' in the catalog: \(error)")
        }
    }
}
