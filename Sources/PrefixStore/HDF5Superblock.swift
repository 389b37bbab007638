import Foundation

/// A pure-Swift look at an HDF5 file's superblock, done before the file is handed to libhdf5
/// (which has a history of crashing on malformed input): the signature must be at offset 0 and
/// the end-of-file address the superblock records must not lie past the file's real end.
enum HDF5Superblock {
    static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

    enum Problem: Equatable {
        case tooShort(size: Int)
        case badSignature
        case unsupportedVersion(UInt8)
        case truncated(expected: UInt64, actual: UInt64)
    }

    /// Checks the first bytes of a file of `fileSize` bytes; `header` holds at least its first
    /// 64 bytes, or the whole file when it is shorter.
    static func validate(header: [UInt8], fileSize: UInt64) -> Problem? {
        guard header.count >= 48 else { return .tooShort(size: header.count) }
        guard Array(header[0..<8]) == signature else { return .badSignature }
        let version = header[8]
        let offsetSize: Int
        let eofAt: Int
        switch version {
        case 0, 1:
            offsetSize = Int(header[13])
            // Fixed fields, then base address, free-space address, end-of-file address.
            eofAt = (version == 0 ? 24 : 28) + 2 * offsetSize
        case 2, 3:
            offsetSize = Int(header[9])
            // Fixed fields, then base address, superblock-extension address, end-of-file address.
            eofAt = 12 + 2 * offsetSize
        default:
            return .unsupportedVersion(version)
        }
        guard offsetSize == 8 || offsetSize == 4, eofAt + offsetSize <= header.count else { return .unsupportedVersion(version) }
        var eof: UInt64 = 0
        for i in (0..<offsetSize).reversed() { eof = eof << 8 | UInt64(header[eofAt + i]) }
        if eof > fileSize { return .truncated(expected: eof, actual: fileSize) }
        return nil
    }

    /// Reads the header of the file at `path` and validates it.
    static func validate(path: String) throws -> Problem? {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let header = [UInt8](try handle.read(upToCount: 64) ?? Data())
        let size = try handle.seekToEnd()
        return validate(header: header, fileSize: size)
    }
}
