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
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var load: @Sendable () throws -> Tensor

        public init(name: String, dtype: DType, shape: [Int], load: @escaping @Sendable () throws -> Tensor) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.load = load
        }

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
            parts.append("\"__metadata__\":{" + pairs.map { SerdeJSON.quoted($0.key) + ":" + SerdeJSON.quoted($0.value) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for index in order {
            let item = items[index]
            let end = offset + item.byteCount
            parts.append(SerdeJSON.quoted(item.name) + ":{\"dtype\":\"\(item.dtype.safetensorsName)\",\"shape\":["
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
    ///   - progress: called after each tensor with the bytes written so far.
    /// - Returns: the number of bytes written.
    /// - Throws: ``FormatError`` `.io`, `.duplicateName`, or whatever a loader throws (wrapped).
    @discardableResult
    public static func write(_ items: [Item], metadata: [(key: String, value: String)]?, to path: String,
                             durable: Bool = true, progress: ((Int64) -> Void)? = nil) throws(FormatError) -> Int64 {
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
        try header.withUnsafeBytes { b in Result { () throws(FormatError) in try writeAll(b) } }.get()
        for index in order {
            let item = items[index]
            let tensor: Tensor
            do { tensor = try item.load() } catch {
                unlink(temporary)
                throw FormatError(.io, "cannot read tensor: \(error)", path: path, member: item.name)
            }
            guard tensor.dtype == item.dtype, tensor.shape.dimensions == item.shape else {
                unlink(temporary)
                throw FormatError(.inconsistent, "tensor is \(tensor.dtype) \(tensor.shape), announced as \(item.dtype) \(item.shape)", path: path, member: item.name)
            }
            try tensor.withUnsafeBytes { (b) throws(FormatError) in try writeAll(b) }
            written += Int64(tensor.byteCount)
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

    /// Writes in-memory tensors.
    @discardableResult
    public static func write(_ tensors: [NamedTensor], metadata: [(key: String, value: String)]?, to path: String,
                             durable: Bool = true) throws(FormatError) -> Int64 {
        try write(tensors.map(Item.init), metadata: metadata, to: path, durable: durable)
    }
}
