import CLibZ
import Foundation
import PrefixCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a ZIP archive of stored (uncompressed) members, the container `np.savez` writes:
/// each member's bytes go to the file straight from the caller's buffers, checksummed with
/// zlib's CRC-32 on the way, with ZIP64 records for a member, an offset or a directory beyond
/// what the classic fields hold. Reading stays with ZIPFoundation, which checks every CRC.
struct StoredZipWriter {
    /// Sizes and offsets from here on are written as ZIP64 (`0xFFFFFFFF` in the classic field);
    /// lowered by tests to exercise those records on small files.
    let zip64Limit: UInt64
    private let path: String
    private let fd: Int32
    private var offset: UInt64 = 0
    private var directory: [Member] = []

    private struct Member {
        var name: [UInt8]
        var crc: UInt32
        var size: UInt64
        var offset: UInt64
    }

    /// Creates the file (it must not exist).
    init(path: String, zip64Limit: UInt64 = 0xFFFF_FFFF) throws(FormatError) {
        self.path = path
        self.zip64Limit = zip64Limit
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FormatError(.io, "cannot create the archive: \(String(cString: strerror(errno)))", path: path) }
    }

    /// Closes the file (after ``finish()``, or to give up).
    func close() { _ = Glibc.close(fd) }

    /// Adds member `name` of `size` bytes, which `body` writes through the function it is given,
    /// in order, in as many pieces as it likes.
    mutating func add(
        _ name: String, size: UInt64, _ body: (_ write: (UnsafeRawBufferPointer) throws(FormatError) -> Void) throws(FormatError) -> Void
    ) throws(FormatError) {
        let nameBytes = Array(name.utf8)
        let start = offset
        let large = size >= zip64Limit
        var header = ZipBytes()
        header.u32(0x0403_4b50)
        header.u16(large ? 45 : 20)
        header.u16(nameBytes.allSatisfy { $0 < 0x80 } ? 0 : 0x0800)
        header.u16(0)  // stored
        header.u16(0)  // 00:00:00
        header.u16(0x21)  // 1980-01-01
        header.u32(0)  // CRC-32, written once the bytes are
        header.u32(large ? 0xFFFF_FFFF : UInt32(size))
        header.u32(large ? 0xFFFF_FFFF : UInt32(size))
        header.u16(UInt16(nameBytes.count))
        header.u16(large ? 20 : 0)
        header.bytes += nameBytes
        if large {
            header.u16(0x0001)
            header.u16(16)
            header.u64(size)
            header.u64(size)
        }
        try write(header.bytes)
        var crc = crc32(0, nil, 0)
        var written: UInt64 = 0
        try body { piece throws(FormatError) in
            var rest = piece
            while let base = rest.baseAddress, !rest.isEmpty {
                let count = min(rest.count, 1 << 30)
                crc = crc32(crc, base.assumingMemoryBound(to: UInt8.self), uInt(count))
                rest = UnsafeRawBufferPointer(rebasing: rest[count...])
            }
            try write(piece)
            written += UInt64(piece.count)
        }
        guard written == size else {
            throw FormatError(.io, "member \(name) was to hold \(size) bytes, \(written) were written", path: path, member: name)
        }
        var field = ZipBytes()
        field.u32(UInt32(crc))
        try patch(field.bytes, at: start + 14)
        directory.append(Member(name: nameBytes, crc: UInt32(crc), size: size, offset: start))
    }

    /// Writes the central directory and the end records.
    mutating func finish() throws(FormatError) {
        let start = offset
        var central = ZipBytes()
        for member in directory {
            let (largeSize, largeOffset) = (member.size >= zip64Limit, member.offset >= zip64Limit)
            var extra = ZipBytes()
            if largeSize {
                extra.u64(member.size)
                extra.u64(member.size)
            }
            if largeOffset { extra.u64(member.offset) }
            central.u32(0x0201_4b50)
            central.u16(3 << 8 | 45)  // made on Unix, by ZIP 4.5
            central.u16(largeSize || largeOffset ? 45 : 20)
            central.u16(member.name.allSatisfy { $0 < 0x80 } ? 0 : 0x0800)
            central.u16(0)
            central.u16(0)
            central.u16(0x21)
            central.u32(member.crc)
            central.u32(largeSize ? 0xFFFF_FFFF : UInt32(member.size))
            central.u32(largeSize ? 0xFFFF_FFFF : UInt32(member.size))
            central.u16(UInt16(member.name.count))
            central.u16(extra.bytes.isEmpty ? 0 : UInt16(4 + extra.bytes.count))
            central.u16(0)  // comment
            central.u16(0)  // disk
            central.u16(0)  // internal attributes
            central.u32(0o100644 << 16)  // a regular file, rw-r--r--
            central.u32(largeOffset ? 0xFFFF_FFFF : UInt32(member.offset))
            central.bytes += member.name
            if !extra.bytes.isEmpty {
                central.u16(0x0001)
                central.u16(UInt16(extra.bytes.count))
                central.bytes += extra.bytes
            }
        }
        let size = UInt64(central.bytes.count)
        var end = ZipBytes()
        let count = UInt64(directory.count)
        if count >= 0xFFFF || size >= zip64Limit || start >= zip64Limit {
            let record = start + size
            end.u32(0x0606_4b50)
            end.u64(44)
            end.u16(3 << 8 | 45)
            end.u16(45)
            end.u32(0)
            end.u32(0)
            end.u64(count)
            end.u64(count)
            end.u64(size)
            end.u64(start)
            end.u32(0x0706_4b50)
            end.u32(0)
            end.u64(record)
            end.u32(1)
        }
        end.u32(0x0605_4b50)
        end.u16(0)
        end.u16(0)
        end.u16(count >= 0xFFFF ? 0xFFFF : UInt16(count))
        end.u16(count >= 0xFFFF ? 0xFFFF : UInt16(count))
        end.u32(size >= zip64Limit ? 0xFFFF_FFFF : UInt32(size))
        end.u32(start >= zip64Limit ? 0xFFFF_FFFF : UInt32(start))
        end.u16(0)
        try write(central.bytes + end.bytes)
    }

    private mutating func write(_ bytes: [UInt8]) throws(FormatError) {
        var failure: FormatError?
        bytes.withUnsafeBytes { raw in
            do throws(FormatError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    private mutating func write(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
        var rest = bytes
        while let base = rest.baseAddress, !rest.isEmpty {
            let count = Glibc.write(fd, base, rest.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw FormatError(.io, "cannot write: \(String(cString: strerror(errno)))", path: path) }
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
            offset += UInt64(count)
        }
    }

    private func patch(_ bytes: [UInt8], at position: UInt64) throws(FormatError) {
        let count = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(position)) }
        guard count == bytes.count else { throw FormatError(.io, "cannot write: \(String(cString: strerror(errno)))", path: path) }
    }
}

/// Little-endian fields of ZIP records.
private struct ZipBytes {
    var bytes: [UInt8] = []
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
}
