import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The store's single-writer lock: an exclusive `flock` on `STORE/.lock`, held for a whole save,
/// delete or gc. Readers never take it (the catalog's WAL snapshots and immutable blobs keep
/// them consistent). The holder's pid is written into the file for the error message.
final class WriterLock {
    private let fd: Int32

    /// Waits up to `timeout` seconds for the lock.
    ///
    /// - Throws: ``StorageError`` `.storeLocked` naming the holder after the timeout.
    init(store: String, timeout: Double) throws(StorageError) {
        let path = store + "/.lock"
        // Never through a symbolic link: the lock file is truncated and rewritten.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw StorageError(.notAStore, "the store's .lock is a symbolic link; PrefixKit never writes through one", path: path)
            }
            throw FileSystem.errnoError("open", path)
        }
        let deadline = Date().addingTimeInterval(max(timeout, 0))
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let error = FileSystem.errnoError("flock", path)
                close(fd)
                throw error
            }
            if Date() >= deadline {
                var holder = [UInt8](repeating: 0, count: 32)
                let n = pread(fd, &holder, 31, 0)
                let pid = n > 0 ? String(decoding: holder.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
                close(fd)
                throw StorageError(
                    .storeLocked,
                    "another writer (pid \(pid)) holds the store; gave up after \(timeout) s (raise --lock-timeout or retry)",
                    path: store)
            }
            usleep(20_000)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
