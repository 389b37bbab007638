/// Path arithmetic on user-given paths without Foundation's `NSString` path methods, whose
/// `deletingLastPathComponent` traps on a one-character relative name (`"s"`) in
/// swift-corelibs-foundation.
public enum Paths {
    /// The directory part of `path`: `""` for a bare name, `"/"` for a name at the root, else
    /// everything before the last `/` (trailing slashes ignored), as `NSString` defines it.
    public static func parent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        var parent = trimmed[..<slash]
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        return String(parent)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Paths {
    /// Where `path` really leads: made absolute, every symbolic link in the part that exists
    /// resolved (`realpath`), and the part that does not exist yet (which can hold no link)
    /// appended with `.` and `..` applied. Two paths that reach the same file resolve alike,
    /// whether or not the file exists yet.
    public static func resolved(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd =
                getcwd(&buffer, buffer.count).map { _ in
                    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                } ?? "/"
            absolute = cwd + "/" + path
        }
        var existing = absolute
        var missing: [String] = []
        while true {
            if let real = realPath(existing) {
                return join(real, missing.reversed())
            }
            let parent = parent(existing)
            let name = String(existing.dropFirst(parent == "/" ? 1 : parent.count + 1))
            if !name.isEmpty { missing.append(name) }
            if parent.isEmpty || parent == existing { return join("/", missing.reversed()) }
            existing = parent
        }
    }

    /// Whether `path` resolves to `directory` or anything below it (both through
    /// ``resolved(_:)``).
    public static func isInside(_ path: String, _ directory: String) -> Bool {
        let target = resolved(path), root = resolved(directory)
        return target == root || target.hasPrefix(root == "/" ? "/" : root + "/")
    }

    private static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// `base` with `components` appended, `.` dropped and `..` taking one component off.
    private static func join(_ base: String, _ components: [String]) -> String {
        var parts = base.split(separator: "/").map(String.init)
        for component in components.flatMap({ $0.split(separator: "/").map(String.init) }) {
            switch component {
            case ".", "": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(component)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
