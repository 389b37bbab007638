import Foundation
public import PrefixCore

/// A PyTorch checkpoint written by `torch.save` (a zip archive: `<archive>/data.pkl`, the
/// storages `<archive>/data/<key>`, `byteorder`, `version`), read without executing anything:
/// `data.pkl` goes through ``RestrictedUnpickler``, and every tensor it describes is checked
/// against its storage (size, offset, strides) before any is formed. Stored storages are mapped
/// in place (zero-copy when aligned); permuted views are made contiguous.
///
/// Files from before PyTorch 1.6 (not zip archives) are refused by name.
public final class TorchCheckpoint: Sendable {
    /// One tensor of the state dict, named by its (dotted, for nested dictionaries) key.
    public struct Entry: Sendable {
        /// The state-dict key (dotted through nested dictionaries).
        public var name: String
        /// The element type.
        public var dtype: DType
        /// The shape.
        public var shape: [Int]
        let view: TorchTensorReference
        /// Whether the view is the storage's elements in row-major order (mapped, not copied).
        let contiguous: Bool
    }

    /// The file.
    public let path: String
    /// Every tensor, in the pickle's order.
    public let entries: [Entry]
    /// Keys that are not tensors (`epoch`, `optimizer` ...), left out.
    public let skipped: [String]
    /// The unpickled object, for readers of other layouts (Trainer state, Li & Liang's modules).
    public let object: PickleValue
    let mapping: FileMapping
    let storages: [String: Range<Int>]

    /// The largest `data.pkl` read (a state dict's pickle is kilobytes to a few megabytes).
    public static let maxPickleBytes = 256 << 20

    /// What a file's first bytes say it is.
    public enum Kind: Sendable {
        case zipArchive, legacy, other
    }

    /// Whether the file at `path` is a `torch.save` zip archive, a pre-1.6 PyTorch file, or neither.
    public static func kind(of path: String) -> Kind {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .other }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 4)) ?? Data())
        if head == [0x50, 0x4B, 0x03, 0x04] { return .zipArchive }
        if head.first == 0x80, head.count > 1, (2...5).contains(head[1]) { return .legacy }
        return .other
    }

    /// Opens the checkpoint at `path`.
    ///
    /// - Throws: ``FormatError``: `.pickleRefused` (a refused global or opcode, named),
    ///   `.unsupportedVersion` (pre-1.6 files, big-endian archives), `.missingKey` (no
    ///   `data.pkl`, a storage member missing), `.sizeMismatch` (a storage smaller than its
    ///   element count says), `.invalidShape` (a view beyond its storage, or one that overlaps
    ///   itself), `.malformedArchive`, `.unsafeName`.
    public init(path: String) throws(FormatError) {
        self.path = path
        try InputFile.requireRegular(path)
        let mapping = try FileMapping(path: path)
        self.mapping = mapping
        let file = mapping.bytes
        guard file.count >= 4, file[0] == 0x50, file[1] == 0x4B else {
            if file.count > 1, file[0] == 0x80 {
                throw FormatError(
                    .unsupportedVersion,
                    "a PyTorch file from before 1.6 (pickles, not a zip archive), which PrefixKit does not read: re-save it with a current torch (torch.save(torch.load(f, weights_only=True), new_file))",
                    path: path)
            }
            throw FormatError(.badMagic, "not a PyTorch checkpoint (a torch.save zip archive)", path: path)
        }
        let zip = try StoredZip(file, path: path)
        guard let first = zip.members.first, let slash = first.name.firstIndex(of: "/") else {
            throw FormatError(.missingKey, "an empty archive, or members outside an archive folder", path: path)
        }
        let prefix = String(first.name[...slash])
        var members: [String: Range<Int>] = [:]
        for member in zip.members {
            guard member.name.hasPrefix(prefix) else {
                throw FormatError(
                    .malformedArchive, "member '\(member.name.prefix(200))' is outside the archive folder '\(prefix)'", path: path,
                    member: member.name)
            }
            members[String(member.name.dropFirst(prefix.count))] = member.range
        }
        guard let pickle = members["data.pkl"] else {
            throw FormatError(.missingKey, "the archive holds no \(prefix)data.pkl: not a torch.save checkpoint", path: path)
        }
        if let order = members["byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: file[order]), as: UTF8.self)
            guard text == "little" else {
                throw FormatError(
                    .unsupportedVersion, "byteorder is '\(text.prefix(20))'; only little-endian archives are read", path: path)
            }
        }
        guard pickle.count <= Self.maxPickleBytes else {
            throw FormatError(.outOfRange, "data.pkl is \(pickle.count) bytes, more than \(Self.maxPickleBytes)", path: path)
        }
        let object: PickleValue
        do {
            object = try RestrictedUnpickler.load(Array(UnsafeRawBufferPointer(rebasing: file[pickle])), name: prefix + "data.pkl")
        } catch {
            var error = error
            error.path = path
            throw error
        }
        self.object = object
        var entries: [Entry] = [], skipped: [String] = []
        var storages: [String: Range<Int>] = [:]
        var seen: [String: TorchStorageReference] = [:]
        func visit(_ dict: PickleDict, prefix name: String) throws(FormatError) {
            for (key, value) in dict.entries {
                let label = name + (key.string ?? "\(key)")
                switch value {
                case .tensor(let view):
                    let storage = view.storage
                    if let known = seen[storage.key], known != storage {
                        throw FormatError(
                            .inconsistent, "storage \(storage.key) is named with two types or sizes", path: path, member: label)
                    }
                    seen[storage.key] = storage
                    guard let range = members["data/" + storage.key] else {
                        throw FormatError(
                            .missingKey, "the archive has no data/\(storage.key) for tensor \(label)", path: path, member: label)
                    }
                    let (needed, overflow) = storage.count.multipliedReportingOverflow(by: storage.dtype.byteWidth)
                    guard !overflow, range.count >= needed else {
                        throw FormatError(
                            .sizeMismatch,
                            "storage data/\(storage.key) holds \(range.count) bytes, but its id says \(storage.count) \(storage.dtype) elements",
                            path: path, member: label)
                    }
                    storages[storage.key] = range
                    entries.append(
                        Entry(
                            name: label, dtype: storage.dtype, shape: view.shape, view: view, contiguous: try Self.check(view, label, path))
                    )
                case .dict(let nested):
                    try visit(nested, prefix: label + ".")
                default:
                    skipped.append(label)
                }
            }
        }
        guard case .dict(let top) = object else {
            throw FormatError(.inconsistent, "data.pkl holds no dictionary of tensors (a state dict)", path: path)
        }
        try visit(top, prefix: "")
        self.entries = entries
        self.skipped = skipped
        self.storages = storages
    }

    /// Checks that `view` lies within its storage and does not overlap itself; returns whether
    /// it is row-major contiguous.
    static func check(_ view: TorchTensorReference, _ label: String, _ path: String) throws(FormatError) -> Bool {
        func refuse(_ why: String) -> FormatError {
            FormatError(
                .invalidShape,
                "tensor \(label) (size \(view.shape), stride \(view.strides), offset \(view.offset)) \(why) storage \(view.storage.key) (\(view.storage.count) elements)",
                path: path, member: label)
        }
        var elements = 1
        for size in view.shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw refuse("has more elements than can be counted in") }
            elements = product
        }
        if elements == 0 { return true }
        // The last element's index: offset + sum (size - 1) * stride.
        var last = view.offset
        for (size, stride) in zip(view.shape, view.strides) {
            let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw refuse("reaches past the end of") }
            last = sum
        }
        guard last < view.storage.count else { throw refuse("reaches past the end of") }
        // Non-overlapping: sorted by stride, each dimension steps over all the ones inside it.
        let dims = zip(view.shape, view.strides).filter { $0.0 > 1 }.sorted { $0.1 < $1.1 }
        var span = 1
        for (size, stride) in dims {
            guard stride >= span else { throw refuse("is an expanded view, its elements overlapping in") }
            span = stride * size
        }
        var expected = 1, contiguous = true
        for (size, stride) in zip(view.shape, view.strides).reversed() {
            if size != 1, stride != expected { contiguous = false }
            expected *= size
        }
        return contiguous
    }

    /// The tensor of `entry`: the storage's bytes in place when contiguous and aligned, else a
    /// contiguous copy.
    public func tensor(_ entry: Entry) throws(FormatError) -> Tensor {
        guard let range = storages[entry.view.storage.key] else {
            throw FormatError(.missingKey, "no storage", path: path, member: entry.name)
        }
        let width = entry.dtype.byteWidth
        let count = entry.shape.reduce(1, *)
        let start = range.lowerBound + entry.view.offset * width
        let shape: Shape
        do { shape = try Shape(entry.shape) } catch { throw FormatError(.invalidShape, "\(error)", path: path, member: entry.name) }
        let base = mapping.bytes.baseAddress.map { Int(bitPattern: $0) } ?? 0
        do {
            if entry.contiguous {
                let bytes = UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + count * width)])
                if (base + start) % max(1, width) == 0 {
                    return try Tensor(dtype: entry.dtype, shape: shape, storage: TensorStorage(borrowing: bytes, owner: mapping))
                }
                return try Tensor(dtype: entry.dtype, shape: shape, bytes: Array(bytes))
            }
            // A permuted view: gather the elements in row-major order.
            var out = [UInt8](repeating: 0, count: count * width)
            let dims = entry.shape, strides = entry.view.strides
            var index = [Int](repeating: 0, count: dims.count)
            guard let source = mapping.bytes.baseAddress else { throw FormatError(.io, "the file is not mapped", path: path) }
            out.withUnsafeMutableBytes { dst in
                guard let target = dst.baseAddress else { return }
                for i in 0..<count {
                    var element = 0
                    for d in 0..<dims.count { element += index[d] * strides[d] }
                    let from = start + element * width
                    target.advanced(by: i * width).copyMemory(from: source.advanced(by: from), byteCount: width)
                    var d = dims.count - 1
                    while d >= 0 {
                        index[d] += 1
                        if index[d] < dims[d] { break }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
            return try Tensor(dtype: entry.dtype, shape: shape, bytes: out)
        } catch {
            throw FormatError(.invalidShape, "\(error)", path: path, member: entry.name)
        }
    }

    /// Lets the kernel drop the pages of a tensor already consumed (streaming imports).
    public func release(_ entry: Entry) {
        guard entry.contiguous, let range = storages[entry.view.storage.key] else { return }
        mapping.release(range)
    }
}
