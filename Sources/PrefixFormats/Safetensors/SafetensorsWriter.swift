internal import CPosix
import Foundation
public import PrefixCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes safetensors files byte-identical to the reference writer (the `safetensors` Python
/// package 0.8.0): tensors ordered by dtype, widest first in the reference's `Dtype` order, then
/// by name (bytewise); offsets contiguous from 0; the header compact JSON as serde_json writes it,
/// `__metadata__` first, padded with spaces to a multiple of 8.
///
/// The reference keeps `__metadata__` in a hash map, so with two or more metadata entries its
/// own output order varies from run to run; PrefixKit then writes them sorted by key.
///
/// ```swift
/// try SafetensorsWriter.write([NamedTensor("w", w)], metadata: [("format", "pt")], to: "out.safetensors")
/// ```
public enum SafetensorsWriter {
    /// A tensor to write: its description, and how to get its bytes when its turn comes.
    public struct Item: Sendable {
        /// The tensor's name in the file.
        public var name: String
        /// Its dtype.
        public var dtype: DType
        /// Its shape.
        public var shape: [Int]
        /// Reads its bytes, when its turn comes.
        public var load: @Sendable () throws -> Tensor
        /// Where the exact bytes already sit in a file, if they do: copied inside the kernel
        /// (`copy_file_range`) instead of through memory.
        public var fileRange: (path: String, offset: Int)?
        /// A check of the bytes at `fileRange` (a digest), run on another thread while the
        /// writer copies earlier tensors; the write fails if it throws.
        public var verify: (@Sendable () throws -> Void)?

        /// An item described up front, loaded by `load` when it is written.
        public init(
            name: String, dtype: DType, shape: [Int], fileRange: (path: String, offset: Int)? = nil,
            verify: (@Sendable () throws -> Void)? = nil, load: @escaping @Sendable () throws -> Tensor
        ) {
            self.verify = verify
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.fileRange = fileRange
            self.load = load
        }

        /// An item for a tensor in memory.
        public init(_ tensor: NamedTensor) {
            let t = tensor.tensor
            self.init(name: tensor.name, dtype: t.dtype, shape: t.shape.dimensions) { t }
        }

        var byteCount: Int { shape.reduce(dtype.byteWidth, *) }
    }

    /// The reference's order of `items` (indices).
    public static func order(_ items: [Item]) -> [Int] {
        items.indices.sorted { a, b in
            let (x, y) = (items[a], items[b])
            if x.dtype.safetensorsRank != y.dtype.safetensorsRank { return x.dtype.safetensorsRank > y.dtype.safetensorsRank }
            return Array(x.name.utf8).lexicographicallyPrecedes(Array(y.name.utf8))
        }
    }

    /// The 8-byte length, the padded header, and the write order.
    public static func header(_ items: [Item], metadata: [(key: String, value: String)]?) -> (bytes: [UInt8], order: [Int]) {
        let order = self.order(items)
        var parts: [String] = []
        if let metadata {
            let pairs = metadata.count > 1 ? metadata.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) } : metadata
            parts.append(
                "\"__metadata__\":{" + pairs.map { SerdeJSON.quoted($0.key) + ":" + SerdeJSON.quoted($0.value) }.joined(separator: ",")
                    + "}")
        }
        var offset = 0
        for index in order {
            let item = items[index]
            let end = offset + item.byteCount
            parts.append(
                SerdeJSON.quoted(item.name) + ":{\"dtype\":\"\(item.dtype.safetensorsName)\",\"shape\":["
                    + item.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var json = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init)
        out += json
        return (out, order)
    }

    /// Writes `items` to `path` through a temporary file in the same directory, then fsync
    /// (optional) and rename. Tensors are loaded one at a time, in write order.
    ///
    /// - Parameters:
    ///   - items: the tensors, each loaded when its turn comes.
    ///   - metadata: the `__metadata__` string pairs, if any.
    ///   - path: the file to write.
    ///   - durable: fsync the file before the rename (and its directory after).
    ///   - progress: called after each tensor with the bytes written so far.
    /// - Returns: the number of bytes written.
    /// - Throws: ``FormatError`` `.io`, `.duplicateName`, or whatever a loader throws (wrapped).
    @discardableResult
    public static func write(
        _ items: [Item], metadata: [(key: String, value: String)]?, to path: String,
        durable: Bool = true, progress: ((Int64) -> Void)? = nil
    ) throws(FormatError) -> Int64 {
        var seen = Set<String>()
        for item in items where !seen.insert(item.name).inserted {
            throw FormatError(.duplicateName, "tensor name appears twice", path: path, member: item.name)
        }
        let (header, order) = header(items, metadata: metadata)
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FormatError(.io, "cannot create file: \(String(cString: strerror(errno)))", path: temporary) }
        var closed = false
        defer {
            if !closed { close(fd) }
        }
        func writeAll(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
            var offset = 0
            while offset < bytes.count {
                guard let base = bytes.baseAddress else { return }
                let n = Glibc.write(fd, base + offset, min(bytes.count - offset, 1 << 30))
                guard n > 0 else {
                    unlink(temporary)
                    throw FormatError(.io, "write failed: \(String(cString: strerror(errno)))", path: path)
                }
                offset += n
            }
        }
        var written = Int64(header.count)
        var sinceWriteback = 0
        try header.withUnsafeBytes { b in Result { () throws(FormatError) in try writeAll(b) } }.get()
        // Copied ranges are checked on another thread, ahead of the copy, in write order.
        let checks = BackgroundChecks(order.map { items[$0].fileRange == nil ? nil : items[$0].verify })
        defer { checks.cancel() }
        for (position, index) in order.enumerated() {
            let item = items[index]
            if let range = item.fileRange, copyRange(range, count: item.byteCount, to: fd) {
                if let failure = checks.wait(position) {
                    unlink(temporary)
                    throw FormatError(.io, "cannot read tensor: \(failure)", path: path, member: item.name, cause: failure)
                }
                written += Int64(item.byteCount)
                sinceWriteback += item.byteCount
                progress?(written)
                continue
            }
            let tensor: Tensor
            do { tensor = try item.load() } catch {
                unlink(temporary)
                throw FormatError(.io, "cannot read tensor: \(error)", path: path, member: item.name, cause: error)
            }
            guard tensor.dtype == item.dtype, tensor.shape.dimensions == item.shape else {
                unlink(temporary)
                throw FormatError(
                    .inconsistent, "tensor is \(tensor.dtype) \(tensor.shape), announced as \(item.dtype) \(item.shape)", path: path,
                    member: item.name)
            }
            try tensor.withUnsafeBytes { (b) throws(FormatError) in try writeAll(b) }
            // A tensor read in place from a mapped file: its pages are not needed any more.
            tensor.releaseFilePages()
            written += Int64(tensor.byteCount)
            sinceWriteback += tensor.byteCount
            if durable && sinceWriteback >= 64 << 20 {
                // Start writing dirty pages now, so the final fsync has little left to flush.
                _ = cposix_start_writeback(fd)
                sinceWriteback = 0
            }
            progress?(written)
        }
        if durable { guard fsync(fd) == 0 else { unlink(temporary); throw FormatError(.io, "fsync failed", path: path) } }
        close(fd)
        closed = true
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw FormatError(.io, "cannot rename into place: \(String(cString: strerror(errno)))", path: path)
        }
        return written
    }

    /// Copies `count` bytes of `range` to the current end of `out` in the kernel; false (nothing
    /// written) when the source cannot be opened or the call is unsupported on the first attempt.
    private static func copyRange(_ range: (path: String, offset: Int), count: Int, to out: Int32) -> Bool {
        // Never through a link, never a FIFO: the caller falls back to its checked load.
        let input = open(range.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard input >= 0 else { return false }
        guard let size = CPosixFile.regularFileSize(input), size >= range.offset + count else {
            close(input)
            return false
        }
        defer { close(input) }
        var done = 0
        while done < count {
            let n = cposix_copy_range(input, range.offset + done, out, UInt(count - done))
            if n <= 0 {
                // Nothing copied yet: let the caller fall back to reading the tensor.
                if done == 0 { return false }
                // Partially copied: finish through memory from where it stopped.
                var buffer = [UInt8](repeating: 0, count: min(count - done, 1 << 24))
                while done < count {
                    let want = min(buffer.count, count - done)
                    let got = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, off_t(range.offset + done)) }
                    guard got > 0 else { return false }
                    let put = buffer.withUnsafeBytes { Glibc.write(out, $0.baseAddress, got) }
                    guard put == got else { return false }
                    done += got
                }
                return true
            }
            done += n
        }
        return true
    }

    /// Writes in-memory tensors.
    @discardableResult
    public static func write(
        _ tensors: [NamedTensor], metadata: [(key: String, value: String)]?, to path: String,
        durable: Bool = true
    ) throws(FormatError) -> Int64 {
        try write(tensors.map(Item.init), metadata: metadata, to: path, durable: durable)
    }
}

/// Runs checks in order on one background thread, ahead of the caller, who waits for each
/// result in turn.
final class BackgroundChecks: @unchecked Sendable {
    // Safety: `results` and `cancelled` are guarded by `condition`.
    private let condition = NSCondition()
    private var results: [Int: any Error] = [:]
    private var done = -1
    private var cancelled = false
    private let count: Int

    init(_ checks: [(@Sendable () throws -> Void)?]) {
        count = checks.count
        guard checks.contains(where: { $0 != nil }) else {
            done = checks.count - 1
            return
        }
        Thread.detachNewThread { [self] in
            for (index, check) in checks.enumerated() {
                condition.lock()
                let stop = cancelled
                condition.unlock()
                if stop { return }
                var failure: (any Error)?
                do { try check?() } catch { failure = error }
                condition.lock()
                if let failure { results[index] = failure }
                done = index
                condition.broadcast()
                condition.unlock()
            }
        }
    }

    /// Waits for check `index` and returns its error, if it failed.
    func wait(_ index: Int) -> (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        while done < index && !cancelled { condition.wait() }
        return results[index]
    }

    /// Stops the remaining checks.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
