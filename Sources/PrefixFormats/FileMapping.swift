import PrefixCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A whole file mapped read-only. Tensors read from it borrow their bytes (zero-copy) and keep
/// the mapping alive; ``release(_:)`` lets the kernel drop pages already consumed so that
/// streaming through a file larger than memory keeps a small footprint.
final class FileMapping: @unchecked Sendable, FilePages {
    // Safety: read-only mapping, never remapped after init.
    let bytes: UnsafeRawBufferPointer
    let path: String
    private let base: UnsafeMutableRawPointer?

    init(path: String) throws(FormatError) {
        self.path = path
        // Non-blocking, so that opening a FIFO returns at once; refused below.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw FormatError(.io, "cannot open file: \(String(cString: strerror(errno)))", path: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw FormatError(.io, "cannot stat file", path: path) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw FormatError(.notARegularFile, "not a regular file", path: path) }
        let size = Int(info.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw FormatError(.io, "cannot map file: \(String(cString: strerror(errno)))", path: path)
        }
        base = pointer
        bytes = UnsafeRawBufferPointer(start: pointer, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }

    /// Tells the kernel the pages of `range` are no longer needed by this process (they stay in
    /// the page cache; the mapping stays valid and re-reads them if touched again).
    func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let base, let start = bytes.baseAddress else { return }
        let offset = UnsafeRawPointer(base).distance(to: start)
        guard offset >= 0, offset + bytes.count <= self.bytes.count else { return }
        release(offset..<(offset + bytes.count))
    }

    func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(bytes.count, (range.upperBound + page - 1) / page * page)
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }
}

/// `fstat` of an open descriptor, in a file that imports no Foundation (whose overlay hides
/// Glibc's `stat` members from other files).
enum CPosixFile {
    /// The size of the regular file open at `fd`, or nil when it is not a regular file.
    static func regularFileSize(_ fd: Int32) -> Int? {
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(info.st_size)
    }
}
