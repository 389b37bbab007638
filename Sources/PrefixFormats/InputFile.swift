public import Foundation
import PrefixCore

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

    /// The full path of file `name` inside `directory`, which PrefixKit reads as part of
    /// importing that directory (a model, an adapter, a Trainer run, a Hub cache snapshot).
    ///
    /// One rule for every file kind: a file may be a symbolic link only when it resolves inside
    /// `root` (the directory itself, or a Hub cache repository's folder, whose snapshots link
    /// into its `blobs/`); a link out of it is refused, as are names with separators or `..`.
    /// The directory the user named may itself be reached through links.
    ///
    /// - Throws: ``FormatError`` `.unsafePath` naming the file and where it leads.
    public static func contained(_ directory: String, _ name: String, root: String? = nil) throws(FormatError) -> String {
        guard !name.isEmpty, !name.contains("/"), !name.contains("\\"), name != ".", name != "..", !name.contains("\0") else {
            throw FormatError(.unsafePath, "file name '\(name.prefix(200))' would leave the directory", path: directory)
        }
        let full = directory + "/" + name
        let resolvedRoot = Paths.resolved(root ?? directory)
        let resolved = Paths.resolved(full)
        guard resolved.hasPrefix(resolvedRoot == "/" ? "/" : resolvedRoot + "/") else {
            throw FormatError(.unsafePath, "'\(name)' is a link out of the directory (to \(resolved)): refused", path: directory)
        }
        return full
    }
}
