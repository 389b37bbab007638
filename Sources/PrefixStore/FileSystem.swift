import Foundation
import PrefixCore
import PrefixStoreRules

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The POSIX calls behind durability, each checked and turned into a ``StorageError``.
enum FileSystem {
    static func errnoError(_ call: String, _ path: String) -> StorageError {
        let code = errno
        return StorageError(.io, "\(call) failed: \(String(cString: strerror(code)))", path: path)
    }

    /// Flushes a file's data and metadata to stable storage. The corresponding call is `fsync`.
    static func fsync(path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw errnoError("open", path) }
        defer { _ = Glibc.close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw errnoError("fsync", path) }
    }

    /// Flushes a directory's entries (a rename inside it) to stable storage.
    static func fsyncDirectory(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw errnoError("open", path) }
        defer { _ = Glibc.close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw errnoError("fsync", path) }
    }

    /// Renames `source` to `destination` atomically (same directory or file system).
    static func rename(_ source: String, _ destination: String) throws(StorageError) {
        guard Glibc.rename(source, destination) == 0 else { throw errnoError("rename", source) }
    }

    /// Creates a directory (and its parents) if missing.
    static func makeDirectory(_ path: String) throws(StorageError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StorageError(.io, "cannot create directory", path: path, underlying: error)
        }
    }

    /// The size of a regular file, or `nil` if it does not exist.
    static func fileSize(_ path: String) throws(StorageError) -> UInt64? {
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw errnoError("stat", path)
        }
        return UInt64(info.st_size)
    }

    /// What a path is, without following a symbolic link at the end of it.
    enum Kind: Equatable {
        case missing, regular, directory, symlink, other
    }

    /// The kind of `path` (`lstat`).
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        default: return .other
        }
    }

    /// A file mode's type, in words.
    static func describe(mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a special file"
        }
    }

    /// The bytes of a regular file the store holds (a manifest, say), read without following a
    /// symbolic link at its end, without blocking on a FIFO and without reading more than
    /// `limit` bytes: a file that is not regular or is larger is refused before a byte is read.
    ///
    /// - Throws: ``StorageError`` `.hostileStore` (a link, a special file, over `limit`), `.io`.
    static func readStoreFile(_ path: String, limit: Int) throws(StorageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw StorageError(
                    .hostileStore, "a symbolic link: PrefixKit never follows a link out of the store", path: path,
                    finding: .pathOutsideStore)
            }
            throw errnoError("open", path)
        }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw errnoError("fstat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw StorageError(.hostileStore, "not a regular file (\(describe(mode: info.st_mode)))", path: path, finding: .notRegularFile)
        }
        guard info.st_size <= limit else {
            throw StorageError(
                .hostileStore, "\(info.st_size) bytes, more than the \(limit) such a file may have", path: path, finding: .sizeBeyondBlob)
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let got = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return pread(fd, base + done, buffer.count - done, off_t(done))
            }
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw errnoError("pread", path) }
            if got == 0 { break }
            done += got
        }
        return Array(bytes.prefix(done))
    }

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Removes a file, ignoring a file that is already gone.
    /// Removes a leftover of the store's own making (a temporary, a stale lock, a file `gc` or
    /// `recover` reclaims): a removal that fails leaves it where the next `gc` or `recover`
    /// reclaims it, so its error changes nothing an operation reports.
    static func discard(_ path: String) {
        do { try remove(path) } catch {
            // Nothing to do: see above.
        }
    }

    static func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 && errno != ENOENT { throw errnoError("unlink", path) }
    }

    /// The names in a directory (empty when it does not exist).
    static func contents(of directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    /// Writes `data` to `path` durably: a temporary file beside it, fsync, rename, directory fsync.
    static func writeAtomically(_ data: Data, to path: String) throws(StorageError) {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else {
            throw StorageError(.io, "cannot write file", path: temporary)
        }
        try fsync(path: temporary)
        try rename(temporary, path)
        try fsyncDirectory(Paths.parent(path).isEmpty ? "." : Paths.parent(path))
    }
}
