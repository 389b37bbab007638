/// Validation of the names users give to checkpoints, bases, tags and tensors.
///
/// Names end up in SQL rows, HDF5 dataset paths and messages, never in file paths, but they are
/// still checked so that nothing in a name can escape the store or break an HDF5 path.
public enum Names {
    /// The longest checkpoint, alias or tag name.
    public static let maxNameLength = 128
    /// The longest tensor name.
    public static let maxTensorNameLength = 256

    /// Checks a checkpoint name, base alias or tag: 1-128 characters from `A-Z a-z 0-9 . _ + -`,
    /// starting with a letter or digit (so `@`, `/`, `:` and `..` never appear).
    ///
    /// - Throws: ``CoreError`` `.invalidName`.
    public static func validate(name: String, kind: String = "name") throws(CoreError) {
        let scalars = Array(name.unicodeScalars)
        guard let first = scalars.first, scalars.count <= maxNameLength else {
            throw CoreError(.invalidName, "\(kind) must be 1 to \(maxNameLength) characters, found \(scalars.count)")
        }
        guard isAlphanumeric(first), scalars.allSatisfy({ isAlphanumeric($0) || "._+-".unicodeScalars.contains($0) }),
              !name.contains("..") else {
            throw CoreError(.invalidName, "\(kind) '\(printable(name))' may hold only letters, digits, '.', '_', '+', '-', must start with a letter or digit and must not contain '..'")
        }
    }

    /// Checks a tensor name (a dotted Hugging Face key such as `h.0.attn.c_attn.weight`):
    /// 1-256 printable ASCII characters, no `/`, `\`, space or quote, and not `.` or `..`.
    ///
    /// - Throws: ``CoreError`` `.invalidName`.
    public static func validate(tensorName name: String) throws(CoreError) {
        let scalars = Array(name.unicodeScalars)
        guard !scalars.isEmpty, scalars.count <= maxTensorNameLength, name != ".", name != ".." else {
            throw CoreError(.invalidName, "tensor name '\(printable(name))' must be 1 to \(maxTensorNameLength) characters and not '.' or '..'")
        }
        for s in scalars where s.value < 0x21 || s.value > 0x7e || "/\\\"'".unicodeScalars.contains(s) {
            throw CoreError(.invalidName, "tensor name '\(printable(name))' contains a forbidden character (U+\(String(s.value, radix: 16, uppercase: true)))")
        }
    }

    private static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }

    /// The name with control characters escaped, safe to print on one line.
    public static func printable(_ name: String) -> String {
        String(name.unicodeScalars.prefix(200).map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined())
    }
}
