import Foundation
import PrefixCore

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

    /// Whether `path` is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Removes a file, ignoring a file that is already gone.
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
