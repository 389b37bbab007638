/// Text from a store or a file made safe to print on a terminal: control characters (C0, DEL,
/// C1: the escape sequences that retitle a window or clear a screen) and the Unicode bidi
/// controls (which reorder what a reader sees) are shown as `\u{...}` instead of acting.
///
/// This is the one escaper for terminal output; XML and HTML have their own (`Markup`).
public enum TerminalText {
    /// Whether `scalar` is shown escaped.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1f, 0x7f...0x9f: true
        // Bidi marks, embeddings, overrides and isolates; line and paragraph separators.
        case 0x061c, 0x200e, 0x200f, 0x202a...0x202e, 0x2066...0x2069, 0x2028, 0x2029: true
        default: false
        }
    }

    /// `text` with every control and bidi character escaped: one line, printed as it reads.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// `text` escaped line by line: newlines stay, everything else that acts on a terminal is
    /// escaped. For multi-line reports.
    public static func escapeLines(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0) && $0 != "\n" }) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { escape(String($0)) }.joined(separator: "\n")
    }

    /// JSON text with the bidi controls also written as JSON escapes (`\u202e`): still the same
    /// JSON value, but one that reads on a terminal as it parses. (JSON encoders already escape
    /// C0 controls; C1 and bidi characters they pass through.)
    public static func escapeJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: { needsEscape($0) && $0.value > 0x7e }) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if scalar.value > 0x7e, needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
