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
