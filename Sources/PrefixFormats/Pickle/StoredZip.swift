import Foundation

/// The members of a zip archive and where each one's bytes lie in the file, read from the
/// central directory (zip64 included) and checked against each local header, for archives whose
/// members are stored uncompressed, as `torch.save` writes them. ZIPFoundation, which the `.npz`
/// reader uses, does not expose a member's data offset, and mapping a stored member in place
/// needs it.
///
/// Hostile archives are refused: members or directories past the end, overlapping members,
/// names that leave the archive or repeat, compressed or encrypted members.
struct StoredZip {
    struct Member {
        var name: String
        /// The member's bytes within the file.
        var range: Range<Int>
    }

    /// The members, in central-directory order.
    let members: [Member]

    /// The most members an archive may hold.
    static let maxMembers = 1 << 20

    init(_ file: UnsafeRawBufferPointer, path: String) throws(FormatError) {
        func fail(_ message: String) -> FormatError { FormatError(.malformedArchive, message, path: path) }
        func u16(_ at: Int) throws(FormatError) -> Int {
            guard at >= 0, at + 2 <= file.count else { throw fail("a zip record runs past the end of the file") }
            return Int(file[at]) | Int(file[at + 1]) << 8
        }
        func u32(_ at: Int) throws(FormatError) -> Int { try u16(at) | (try u16(at + 2)) << 16 }
        func u64(_ at: Int) throws(FormatError) -> UInt64 { UInt64(try u32(at)) | UInt64(try u32(at + 4)) << 32 }
        func checked(_ value: UInt64, _ what: String) throws(FormatError) -> Int {
            guard value <= UInt64(file.count) else { throw fail("\(what) (\(value)) lies past the end of the file (\(file.count) bytes)") }
            return Int(value)
        }
        // The end-of-central-directory record: within the last 64 KiB + 22 bytes.
        var eocd = -1
        var at = file.count - 22
        while at >= max(0, file.count - 22 - 65_535) {
            if try u32(at) == 0x0605_4B50 {
                eocd = at
                break
            }
            at -= 1
        }
        guard eocd >= 0 else { throw fail("no zip end-of-central-directory record") }
        var count = try u16(eocd + 10), size = try u32(eocd + 12), offset = try u32(eocd + 16)
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            // zip64: the locator just before points at the zip64 end record.
            guard eocd >= 20, try u32(eocd - 20) == 0x0706_4B50 else { throw fail("a zip64 archive without its locator") }
            let record = try checked(try u64(eocd - 12), "the zip64 end record")
            guard try u32(record) == 0x0606_4B50 else { throw fail("no zip64 end record where the locator points") }
            count = try checked(try u64(record + 32), "the member count")
            size = try checked(try u64(record + 40), "the central directory's size")
            offset = try checked(try u64(record + 48), "the central directory")
        }
        guard count <= Self.maxMembers else { throw fail("more than \(Self.maxMembers) members") }
        guard offset + size <= file.count else { throw fail("the central directory runs past the end of the file") }
        var members: [Member] = []
        var names = Set<String>()
        var cursor = offset
        for _ in 0..<count {
            guard try u32(cursor) == 0x0201_4B50 else { throw fail("a central directory entry without its signature") }
            let flags = try u16(cursor + 8), method = try u16(cursor + 10)
            var compressed = UInt64(try u32(cursor + 20)), uncompressed = UInt64(try u32(cursor + 24))
            let nameLength = try u16(cursor + 28), extraLength = try u16(cursor + 30), commentLength = try u16(cursor + 32)
            var local = UInt64(try u32(cursor + 42))
            let nameStart = cursor + 46
            guard nameStart + nameLength + extraLength + commentLength <= file.count else { throw fail("a member name runs past the end") }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: file[nameStart..<(nameStart + nameLength)]), as: UTF8.self)
            // zip64 sizes and offset, in the extra field's 0x0001 record, for the fields that overflowed.
            var extra = nameStart + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try u16(extra), length = try u16(extra + 2)
                if id == 0x0001 {
                    var field = extra + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try u64(field); field += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = try u64(field); field += 8 }
                    if local == 0xFFFF_FFFF { local = try u64(field) }
                }
                extra += 4 + length
            }
            cursor = extraEnd + commentLength
            guard
                !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.split(separator: "/").contains(".."),
                name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw FormatError(.unsafeName, "member name '\(name.prefix(200))' would leave the archive", path: path, member: name)
            }
            guard names.insert(name).inserted else {
                throw FormatError(.unsafeName, "member '\(name.prefix(200))' appears twice", path: path, member: name)
            }
            if name.hasSuffix("/") { continue }
            guard flags & 0x1 == 0 else { throw FormatError(.malformedArchive, "an encrypted member", path: path, member: name) }
            guard method == 0, compressed == uncompressed else {
                throw FormatError(
                    .malformedArchive, "a compressed member (method \(method)); torch.save stores members uncompressed", path: path,
                    member: name)
            }
            let header = try checked(local, "a member's local header")
            guard try u32(header) == 0x0403_4B50 else {
                throw FormatError(.malformedArchive, "no local header where the directory points", path: path, member: name)
            }
            let start = header + 30 + (try u16(header + 26)) + (try u16(header + 28))
            let end = try checked(UInt64(start) + compressed, "a member's end")
            guard start <= end, end <= offset || start >= offset + size else {
                throw FormatError(.malformedArchive, "a member overlaps the central directory", path: path, member: name)
            }
            members.append(Member(name: name, range: start..<end))
        }
        // Members may not share bytes.
        let sorted = members.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound && !a.range.isEmpty && !b.range.isEmpty
        {
            throw FormatError(.malformedArchive, "members '\(a.name)' and '\(b.name)' overlap", path: path, member: b.name)
        }
        self.members = members
    }
}
