public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Checks on a file a user hands PrefixKit, before anything opens it: it must be a regular file
/// (a FIFO, a device or a socket would block or never end), and small files read whole must be
/// under a cap.
public enum InputFile {
    /// The size of the regular file at `path` (symbolic links are followed).
    ///
    /// - Throws: ``FormatError`` `.io` when it does not exist or cannot be examined,
    ///   `.notARegularFile` for a directory, FIFO, device or socket.
    @discardableResult
    public static func requireRegular(_ path: String, what: String = "file") throws(FormatError) -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw FormatError(.io, "cannot open \(what): \(String(cString: strerror(errno)))", path: path)
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            let name =
                kind == S_IFDIR ? "a directory" : kind == S_IFIFO ? "a FIFO" : kind == S_IFSOCK ? "a socket" : "a device or special file"
            throw FormatError(.notARegularFile, "\(what) is \(name), not a regular file", path: path)
        }
        return Int(info.st_size)
    }

    /// The whole contents of the regular file at `path`, refused past `limit` bytes.
    ///
    /// - Throws: the errors of ``requireRegular(_:what:)``, `.headerTooLarge` past the limit,
    ///   `.io` when it cannot be read.
    public static func read(_ path: String, limit: Int, what: String = "file") throws(FormatError) -> Data {
        let size = try requireRegular(path, what: what)
        guard size <= limit else {
            throw FormatError(.headerTooLarge, "\(what) has \(size) bytes, more than the \(limit) PrefixKit reads whole", path: path)
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw FormatError(.io, "cannot read \(what): \(error.localizedDescription)", path: path)
        }
    }
}
