import PrefixCore
import PrefixStoreRules

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A blob file opened for reading the only way a store someone else wrote may be read: its
/// path checked to be `blobs/<id>.h5`, the `blobs` directory and the file opened without
/// following a symbolic link (`O_NOFOLLOW`, `openat`), without blocking (a FIFO in its place
/// would hang a plain `open`), and `fstat` to be a regular file. Everything after reads this
/// descriptor: the mapping, the superblock check, and libhdf5 (through ``descriptorPath``), so
/// the file checked is the file read.
final class BlobFile {
    /// The blob's path as messages show it (inside the store).
    let path: String
    /// The open descriptor (closed on deinit).
    let descriptor: Int32
    /// The file's size from `fstat`.
    let size: UInt64

    /// Opens blob `relativePath` (`blobs/<id>.h5`, as the catalog records it) of the store at
    /// `directory`.
    ///
    /// - Throws: ``StorageError`` `.hostileStore` for a path that is not a blob's, a symbolic
    ///   link or a file that is not regular; `.corruptBlob` when the file is missing; `.io`.
    convenience init(store directory: String, relativePath: String) throws(StorageError) {
        let id: String
        do { id = try StoreRules.blobPath(relativePath) } catch {
            throw StorageError(hostile: error, path: "\(directory)/catalog.sqlite")
        }
        try self.init(directory: "\(directory)/blobs", name: "\(id).h5")
    }

    /// Opens `name` inside `directory` (a store's `blobs/`), following no link in either.
    init(directory: String, name: String) throws(StorageError) {
        path = "\(directory)/\(name)"
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else {
            if errno == ENOENT { throw StorageError(.corruptBlob, "blob file is missing (no blobs/ directory)", path: path) }
            if errno == ELOOP || errno == ENOTDIR {
                throw StorageError(
                    .hostileStore, "blobs/ is not a directory of the store (a symbolic link or a file): refused", path: directory,
                    finding: .pathOutsideStore)
            }
            throw FileSystem.errnoError("open", directory)
        }
        defer { _ = close(folder) }
        let fd = openat(folder, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            switch errno {
            case ENOENT: throw StorageError(.corruptBlob, "blob file is missing", path: path)
            case ELOOP:
                throw StorageError(
                    .hostileStore, "the blob is a symbolic link: PrefixKit never follows a link out of the store", path: path,
                    finding: .pathOutsideStore)
            default: throw FileSystem.errnoError("open", path)
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let error = FileSystem.errnoError("fstat", path)
            _ = close(fd)
            throw error
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            _ = close(fd)
            throw StorageError(
                .hostileStore, "the blob is not a regular file (\(FileSystem.describe(mode: info.st_mode))): refused", path: path,
                finding: .notRegularFile)
        }
        // Reads block from here on, as on any regular file.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        descriptor = fd
        size = UInt64(info.st_size)
    }

    deinit { _ = close(descriptor) }

    /// A path that opens this very file (not whatever `path` names by the time it is opened).
    var descriptorPath: String {
        #if os(Linux)
            "/proc/self/fd/\(descriptor)"
        #else
            "/dev/fd/\(descriptor)"
        #endif
    }

    /// Up to `count` bytes from the start of the file.
    func readHeader(_ count: Int) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, count, 0) }
        guard got >= 0 else { throw FileSystem.errnoError("pread", path) }
        return Array(bytes.prefix(got))
    }
}
