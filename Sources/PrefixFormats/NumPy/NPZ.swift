import Foundation
import PrefixCore
internal import ZIPFoundation

/// Reading and writing NumPy `.npz` archives (zip files of `NAME.npy` members, stored or deflated).
///
/// Reading treats the archive as hostile: member names may not leave the archive (`/`, `\`,
/// `..`) or repeat, and no member is inflated beyond what its header promises.
public enum NPZ {
    /// Why the file at `path` is not an archive, in words (an `.npy` given for an `.npz` is the
    /// usual case).
    static func notAnArchive(_ path: String) -> String {
        // Six bytes, not the file: it may be huge.
        let handle = FileHandle(forReadingAtPath: path)
        defer { try? handle?.close() }
        let head = (try? handle?.read(upToCount: 6)) ?? Data()
        if Array(head) == [0x93] + Array("NUMPY".utf8) {
            return "an .npy file (one array), not an .npz archive of named arrays (np.savez)"
        }
        return "not an .npz (zip) archive: it has no zip end-of-central-directory record"
    }

    /// The most members an archive may hold.
    public static let maxMembers = 100_000

    /// What a reader accepts from an archive, decided from each member's `.npy` header before
    /// any of its data is inflated.
    public struct Limits: Sendable {
        /// The most bytes all members may inflate to together.
        public var maxTotalBytes: Int
        /// Called with each member's name (without `.npy`) and header before it is inflated;
        /// throws to refuse a shape the caller cannot use.
        public var accept: (@Sendable (_ name: String, _ header: NPYHeader) throws(FormatError) -> Void)?

        /// Which members to read at all (others are skipped without inflating); all when nil.
        public var include: (@Sendable (_ name: String) -> Bool)?

        /// Limits with a total cap (16 GiB by default), an optional shape check and selection.
        public init(
            maxTotalBytes: Int = 16 << 30, accept: (@Sendable (_ name: String, _ header: NPYHeader) throws(FormatError) -> Void)? = nil,
            include: (@Sendable (_ name: String) -> Bool)? = nil
        ) {
            self.maxTotalBytes = maxTotalBytes
            self.accept = accept
            self.include = include
        }
    }

    /// Reads every array of an `.npz`, in archive order, keyed by member name without `.npy`.
    ///
    /// Each member's `.npy` header is read first: its shape goes to `limits.accept`, its size
    /// must match the archive's and fit `limits.maxTotalBytes`, and only then is its data
    /// inflated, straight into the tensor's own buffer (one copy, never past the header's size).
    ///
    /// - Throws: ``FormatError`` `.io`, `.malformedArchive`, `.unsafeName`, `.inflationBomb`,
    ///   `.sizeMismatch`, `.outOfRange` (past the total cap), what `limits.accept` throws, and the
    ///   errors of ``NPYHeader/parse(_:)`` and ``NPY/decode(_:)-(Data)`` naming the member.
    public static func read(path: String, limits: Limits = Limits()) throws(FormatError) -> [(name: String, value: NPYValue)] {
        try InputFile.requireRegular(path)
        guard FileManager.default.isReadableFile(atPath: path) else { throw FormatError(.io, "cannot read file", path: path) }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw FormatError(.malformedArchive, NPZ.notAnArchive(path), path: path)
        }
        var result: [(name: String, value: NPYValue)] = []
        var seen = Set<String>()
        var count = 0
        var total = 0
        for entry in archive {
            count += 1
            guard count <= maxMembers else { throw FormatError(.malformedArchive, "more than \(maxMembers) members", path: path) }
            guard entry.type == .file else { continue }
            let member = entry.path
            let name = member.hasSuffix(".npy") ? String(member.dropLast(4)) : member
            guard !name.isEmpty, !member.contains("/"), !member.contains("\\"), !member.contains(".."), !member.hasPrefix("."),
                member.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f })
            else {
                throw FormatError(.unsafeName, "member name '\(member.prefix(200))' is not a plain array name", path: path, member: member)
            }
            guard seen.insert(name).inserted else {
                throw FormatError(.unsafeName, "member '\(member)' appears twice", path: path, member: member)
            }
            if let include = limits.include, !include(name) { continue }
            do {
                result.append((name, try extract(entry, name: name, from: archive, limits: limits, total: &total)))
            } catch {
                var error = error
                error.path = path
                if error.member == nil { error.member = member }
                throw error
            }
        }
        return result
    }

    /// Inflates one member: header first (checked), then the data into its final buffer.
    private static func extract(
        _ entry: Entry, name: String, from archive: Archive, limits: Limits,
        total: inout Int
    ) throws(FormatError) -> NPYValue {
        let declared = Int(clamping: entry.uncompressedSize)
        let compressed = entry.compressedSize
        // Deflate cannot expand by more than about 1032:1; a larger claim is not data but a bomb.
        let ceiling = Int(clamping: min(entry.uncompressedSize, compressed > 0 ? compressed &* 1100 &+ 4096 : entry.uncompressedSize))
        guard declared <= ceiling || entry.checksum == 0 && declared == 0 else {
            throw FormatError(.inflationBomb, "member claims \(declared) bytes from \(compressed) compressed", member: entry.path)
        }
        var prefix: [UInt8] = []
        var header: NPYHeader?
        var body: InflationBuffer?
        var received = 0
        do {
            let checksum = try archive.extract(entry, bufferSize: 1 << 20, skipCRC32: false) { chunk in
                received += chunk.count
                guard received <= declared else {
                    throw FormatError(.inflationBomb, "member inflates past the \(declared) bytes the archive promises", member: entry.path)
                }
                if let body {
                    try body.append(chunk, member: entry.path)
                    return
                }
                prefix.append(contentsOf: chunk)
                guard let parsed = try headerIfComplete(prefix) else { return }
                let size = try parsed.dataByteCount()
                let (needed, overflow) = parsed.dataOffset.addingReportingOverflow(size)
                guard !overflow, needed == declared else {
                    throw FormatError(
                        .sizeMismatch,
                        "the .npy header's shape \(parsed.shape) needs \(overflow ? "too many" : "\(needed)") bytes, the archive says \(declared)",
                        member: entry.path)
                }
                try limits.accept?(name, parsed)
                guard size <= limits.maxTotalBytes - total else {
                    throw FormatError(
                        .outOfRange, "the archive's arrays would take more than \(limits.maxTotalBytes) bytes", member: entry.path)
                }
                total += size
                header = parsed
                let buffer = InflationBuffer(count: size)
                try buffer.append(Data(prefix[parsed.dataOffset...]), member: entry.path)
                body = buffer
                prefix.removeAll()
            }
            // ZIPFoundation returns the CRC-32 of what it read; comparing it is the caller's job.
            guard checksum == entry.checksum else {
                throw FormatError(
                    .checksumMismatch,
                    String(format: "member's bytes have CRC-32 %08x, the archive records %08x", checksum, entry.checksum),
                    member: entry.path)
            }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformedArchive, "cannot extract member: \(error)", member: entry.path)
        }
        guard let header, let body else {
            // Shorter than its own header: let the decoder say what is wrong.
            return try NPY.decode(Data(prefix))
        }
        guard body.filled == body.count else {
            throw FormatError(
                .sizeMismatch, "member inflated to \(header.dataOffset + body.filled) bytes, the archive says \(declared)",
                member: entry.path)
        }
        if case .numeric(let dtype) = header.element, dtype != .bool, !(header.fortranOrder && header.shape.count > 1) {
            do {
                return .tensor(
                    try Tensor(dtype: dtype, shape: Shape(header.shape), storage: TensorStorage(borrowing: body.bytes, owner: body)))
            } catch {
                throw FormatError(.invalidShape, "\(error)", member: entry.path)
            }
        }
        // Fortran order, bool and strings are rewritten anyway: through the general decoder.
        return try NPY.decode(Data(header.encoded()) + Data(body.bytes))
    }

    /// Each member's name and `.npy` header, inflating only as far as the header (a few hundred
    /// bytes each), to size what a full read would take before doing it.
    ///
    /// - Throws: the errors of ``read(path:limits:)`` about the archive and its headers.
    public static func headers(path: String) throws(FormatError) -> [(name: String, header: NPYHeader)] {
        try InputFile.requireRegular(path)
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw FormatError(.malformedArchive, NPZ.notAnArchive(path), path: path)
        }
        struct Enough: Error {}
        var result: [(name: String, header: NPYHeader)] = []
        var count = 0
        for entry in archive where entry.type == .file {
            count += 1
            guard count <= maxMembers else { throw FormatError(.malformedArchive, "more than \(maxMembers) members", path: path) }
            var prefix: [UInt8] = []
            var found: NPYHeader?
            do {
                _ = try archive.extract(entry, bufferSize: 4096, skipCRC32: true) { chunk in
                    prefix.append(contentsOf: chunk)
                    if let header = try headerIfComplete(prefix) {
                        found = header
                        throw Enough()
                    }
                    if prefix.count > NPYHeader.maxHeaderLength + 16 { throw Enough() }
                }
            } catch is Enough {
            } catch let error as FormatError {
                var error = error
                error.path = path
                error.member = entry.path
                throw error
            } catch {
                throw FormatError(.malformedArchive, "cannot extract member: \(error)", path: path, member: entry.path)
            }
            if let found {
                result.append((entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path, found))
            }
        }
        return result
    }

    /// The header of a `.npy` whose first bytes are `prefix`, once all of it has arrived.
    private static func headerIfComplete(_ prefix: [UInt8]) throws(FormatError) -> NPYHeader? {
        guard prefix.count >= 12 || (prefix.count >= 10 && prefix[6] == 1) else { return nil }
        let major = prefix[6]
        let length =
            major == 1
            ? Int(prefix[8]) | Int(prefix[9]) << 8
            : Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24
        guard prefix.count >= (major == 1 ? 10 : 12) + min(length, NPYHeader.maxHeaderLength + 1) else { return nil }
        do {
            return try prefix.withUnsafeBytes { raw in try NPYHeader.parse(raw) }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformedHeader, "\(error)")
        }
    }

    /// Writes an `.npz` with stored (uncompressed) members, atomically (temporary file, rename).
    ///
    /// - Throws: ``FormatError`` `.io`, `.unsupportedDType` (bf16, f8), `.unsafeName`.
    public static func write(_ entries: [(name: String, value: NPYValue)], to path: String) throws(FormatError) {
        try write(entries, to: path, zip64Limit: 0xFFFF_FFFF)
    }

    /// ``write(_:to:)`` with ZIP64 records for every size and offset from `zip64Limit` on (tests
    /// lower it to exercise them on small files).
    static func write(_ entries: [(name: String, value: NPYValue)], to path: String, zip64Limit: UInt64) throws(FormatError) {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        Leftovers.discard(temporary)
        do throws(FormatError) {
            var archive = try StoredZipWriter(path: temporary, zip64Limit: zip64Limit)
            defer { archive.close() }
            var seen = Set<String>()
            for (name, value) in entries {
                guard !name.isEmpty, !name.contains("/"), !name.contains("\\"), seen.insert(name).inserted else {
                    throw FormatError(
                        .unsafeName, "array name '\(name)' is empty, repeated or contains a path separator", path: path, member: name)
                }
                // A tensor's member is its .npy header, then its bytes straight from the tensor (no
                // copy of the whole array); pages read from a mapped file are dropped once written.
                let header: Data
                var tensor: Tensor?
                if case .tensor(let value) = value {
                    guard NPYHeader.descr(for: value.dtype) != nil else {
                        throw FormatError(.unsupportedDType, "NumPy has no \(value.dtype) dtype", path: path, member: name)
                    }
                    header = Data(
                        NPYHeader(element: .numeric(value.dtype), fortranOrder: false, shape: value.shape.dimensions, dataOffset: 0)
                            .encoded())
                    tensor = value
                } else {
                    header = try NPY.encode(value)
                }
                try archive.add(name + ".npy", size: UInt64(header.count + (tensor?.byteCount ?? 0))) { write throws(FormatError) in
                    var failure: FormatError?
                    header.withUnsafeBytes { bytes in
                        do throws(FormatError) { try write(bytes) } catch { failure = error }
                    }
                    if let failure { throw failure }
                    try tensor?.withUnsafeBytes { bytes throws(FormatError) in try write(bytes) }
                }
                tensor?.releaseFilePages()
            }
            try archive.finish()
            do {
                if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                try FileManager.default.moveItem(atPath: temporary, toPath: path)
            } catch {
                throw FormatError(.io, "cannot move the archive into place: \(error.localizedDescription)", path: path)
            }
        } catch {
            Leftovers.discard(temporary)
            throw error
        }
    }
}
/// The buffer a member inflates into, which the tensor then borrows. A large member (at least
/// ``spillThreshold`` bytes) inflates into an unlinked temporary file mapped shared, whose
/// filled pages are handed back to the page cache as inflation goes: the array is file-backed
/// like a mapped safetensors tensor, so reading an archive larger than memory costs the pages
/// in use, not the whole archive (``FilePages``). Small members, or a temporary directory that
/// cannot take the file, use memory.
final class InflationBuffer: @unchecked Sendable, FilePages {
    // Safety: written only while the member is extracted, read-only afterwards.
    private let base: UnsafeMutableRawPointer?
    let count: Int
    private(set) var filled = 0
    /// Whether `base` is a shared mapping of a temporary file (else allocated memory).
    private let mapped: Bool
    private var released = 0

    /// Members from this size on inflate into a temporary file.
    static let spillThreshold = 16 << 20

    init(count: Int) {
        self.count = count
        if count >= Self.spillThreshold, let pointer = Self.mapTemporaryFile(count) {
            (base, mapped) = (pointer, true)
        } else {
            (base, mapped) = (count > 0 ? UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64) : nil, false)
        }
    }

    deinit {
        if mapped { if let base { munmap(base, count) } } else { base?.deallocate() }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func append(_ chunk: Data, member: String) throws(FormatError) {
        guard chunk.count <= count - filled else {
            throw FormatError(.inflationBomb, "member inflates past the \(count) data bytes its header promises", member: member)
        }
        guard let base, !chunk.isEmpty else { return }
        chunk.copyBytes(to: (base + filled).assumingMemoryBound(to: UInt8.self), count: chunk.count)
        filled += chunk.count
        // Written pages go to the page cache (the file keeps them), not this process's memory.
        if mapped, filled - released >= 64 << 20 || filled == count {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let end = filled == count ? count : filled / page * page
            if end > released {
                _ = madvise(base + released, end - released, MADV_DONTNEED)
                released = end
            }
        }
    }

    func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard mapped, let base, let start = bytes.baseAddress else { return }
        let offset = UnsafeRawPointer(base).distance(to: start)
        guard offset >= 0, offset + bytes.count <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = offset / page * page
        _ = madvise(base + from, min(count, offset + bytes.count) - from, MADV_DONTNEED)
    }

    /// `count` bytes of a new, already unlinked file in the temporary directory, mapped shared
    /// and writable; nil when it cannot be made (no space, no directory).
    private static func mapTemporaryFile(_ count: Int) -> UnsafeMutableRawPointer? {
        var template = Array((FileManager.default.temporaryDirectory.path + "/prefixkit-npz-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard fd >= 0 else { return nil }
        template.withUnsafeBufferPointer { buffer in _ = buffer.baseAddress.map { unlink($0) } }
        defer { close(fd) }
        guard ftruncate(fd, off_t(count)) == 0,
            let pointer = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), pointer != MAP_FAILED
        else { return nil }
        return pointer
    }
}
