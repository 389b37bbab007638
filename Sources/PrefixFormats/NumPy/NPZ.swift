import Foundation
internal import ZIPFoundation

/// Reading and writing NumPy `.npz` archives (zip files of `NAME.npy` members, stored or deflated).
///
/// Reading treats the archive as hostile: member names may not leave the archive (`/`, `\`,
/// `..`) or repeat, and no member is inflated beyond what its header promises.
public enum NPZ {
    /// The most members an archive may hold.
    public static let maxMembers = 100_000

    /// Reads every array of an `.npz`, in archive order, keyed by member name without `.npy`.
    ///
    /// - Throws: ``FormatError`` `.io`, `.malformedArchive`, `.unsafeName`, `.inflationBomb`,
    ///   `.sizeMismatch`, and the errors of ``NPY/decode(_:)`` naming the member.
    public static func read(path: String) throws(FormatError) -> [(name: String, value: NPYValue)] {
        try InputFile.requireRegular(path)
        guard FileManager.default.isReadableFile(atPath: path) else { throw FormatError(.io, "cannot read file", path: path) }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw FormatError(.malformedArchive, "not a valid .npz (zip) archive: \(error)", path: path)
        }
        var result: [(name: String, value: NPYValue)] = []
        var seen = Set<String>()
        var count = 0
        for entry in archive {
            count += 1
            guard count <= maxMembers else { throw FormatError(.malformedArchive, "more than \(maxMembers) members", path: path) }
            guard entry.type == .file else { continue }
            let member = entry.path
            let name = member.hasSuffix(".npy") ? String(member.dropLast(4)) : member
            guard !name.isEmpty, !member.contains("/"), !member.contains("\\"), !member.contains(".."), !member.hasPrefix("."),
                  member.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7f }) else {
                throw FormatError(.unsafeName, "member name '\(member.prefix(200))' is not a plain array name", path: path, member: member)
            }
            guard seen.insert(name).inserted else {
                throw FormatError(.unsafeName, "member '\(member)' appears twice", path: path, member: member)
            }
            let data = try extract(entry, from: archive, path: path)
            do {
                result.append((name, try NPY.decode(data)))
            } catch {
                var error = error
                error.path = path
                error.member = member
                throw error
            }
        }
        return result
    }

    /// Inflates one member, stopping as soon as it exceeds what it may hold.
    private static func extract(_ entry: Entry, from archive: Archive, path: String) throws(FormatError) -> Data {
        let declared = entry.uncompressedSize
        let compressed = entry.compressedSize
        // Deflate cannot expand by more than about 1032:1; a larger claim is not data but a bomb.
        let ceiling = min(declared, compressed > 0 ? compressed &* 1100 &+ 4096 : declared)
        guard declared <= ceiling || entry.checksum == 0 && declared == 0 else {
            throw FormatError(.inflationBomb, "member claims \(declared) bytes from \(compressed) compressed", path: path, member: entry.path)
        }
        var data = Data()
        var limit = Int(clamping: ceiling)
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                data.append(chunk)
                if data.count >= 128, limit == Int(clamping: ceiling),
                   let header = try? data.withUnsafeBytes({ try NPYHeader.parse($0) }),
                   let body = try? header.dataByteCount() {
                    // The npy header promises its size: never inflate past it.
                    limit = min(limit, header.dataOffset + body)
                }
                if data.count > limit { throw FormatError(.inflationBomb, "member inflates past the \(limit) bytes it promises", path: path, member: entry.path) }
            }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformedArchive, "cannot extract member: \(error)", path: path, member: entry.path)
        }
        guard data.count == Int(clamping: declared) else {
            throw FormatError(.sizeMismatch, "member inflated to \(data.count) bytes, the archive says \(declared)", path: path, member: entry.path)
        }
        return data
    }

    /// Writes an `.npz` with stored (uncompressed) members, atomically (temporary file, rename).
    ///
    /// - Throws: ``FormatError`` `.io`, `.unsupportedDType` (bf16, f8), `.unsafeName`.
    public static func write(_ entries: [(name: String, value: NPYValue)], to path: String) throws(FormatError) {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: temporary)
        do throws(FormatError) {
            let archive: Archive
            do { archive = try Archive(url: URL(fileURLWithPath: temporary), accessMode: .create) } catch {
                throw FormatError(.io, "cannot create archive: \(error)", path: path)
            }
            var seen = Set<String>()
            for (name, value) in entries {
                guard !name.isEmpty, !name.contains("/"), !name.contains("\\"), seen.insert(name).inserted else {
                    throw FormatError(.unsafeName, "array name '\(name)' is empty, repeated or contains a path separator", path: path, member: name)
                }
                let data = try NPY.encode(value)
                do {
                    try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(data.count),
                                         modificationDate: Date(timeIntervalSince1970: 315_532_800), compressionMethod: .none) { position, size in
                        data.subdata(in: Int(position)..<(Int(position) + size))
                    }
                } catch {
                    throw FormatError(.io, "cannot add member: \(error)", path: path, member: name)
                }
            }
            do {
                if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
                try FileManager.default.moveItem(atPath: temporary, toPath: path)
            } catch {
                throw FormatError(.io, "cannot move the archive into place: \(error.localizedDescription)", path: path)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}
